// Validates an AsyncAPI document with the reference parser, @asyncapi/parser (pinned in
// package.json; scripts/test.sh installs it with `npm ci`), and checks every payload or
// header schema labelled JSON Schema 2020-12 against the 2020-12 meta-schema with Ajv (the
// parser itself knows only draft-07 and would not check them).
//
//   node tools/asyncapi/validate.mjs docs/asyncapi.yaml
//
// Prints each diagnostic; exits 1 on any error, 2 when the file cannot be read.
import { Parser, fromFile, DiagnosticSeverity } from '@asyncapi/parser';
import Ajv2020 from 'ajv/dist/2020.js';
import path from 'node:path';

const FORMATS = [
  'application/schema+json;version=draft-2020-12',
  'application/schema+yaml;version=draft-2020-12',
];

function check(schema, where) {
  // A fresh instance per schema: the same document may be referenced by several messages.
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  if (!ajv.validateSchema(schema)) {
    return ajv.errors.map((e) => `${[...where, e.instancePath].join('/')} ${e.message}`);
  }
  try {
    ajv.compile(schema); // also finds a $ref that does not resolve
    return [];
  } catch (e) {
    return [`${where.join('.')}: ${e.message}`];
  }
}

const jsonSchema2020 = {
  getMimeTypes: () => FORMATS,
  async validate(input) {
    return check(input.data, input.path).map((message) => ({ message, path: input.path }));
  },
  async parse(input) {
    const problems = check(input.data, input.path);
    if (problems.length) {
      throw new Error(`invalid JSON Schema 2020-12: ${problems.join('; ')}`);
    }
    return input.data;
  },
};

const file = process.argv[2];
if (!file) {
  console.error('usage: node tools/asyncapi/validate.mjs <asyncapi.yaml>');
  process.exit(2);
}
const parser = new Parser({ schemaParsers: [jsonSchema2020] });
let result;
try {
  result = await fromFile(parser, path.resolve(file)).parse();
} catch (e) {
  console.error(`cannot read ${file}: ${e.message}`);
  process.exit(2);
}
const { document, diagnostics } = result;
const names = ['error', 'warning', 'info', 'hint'];
for (const d of diagnostics) {
  const where = (d.path || []).join('.') || '(root)';
  console.log(`${names[d.severity]}\t${d.code}\t${where}\t${d.message.split('\n')[0]}`);
}
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
if (!document || errors.length) {
  console.error(`${file}: INVALID, ${errors.length} error(s)`);
  process.exit(1);
}
console.log(
  `${file}: valid AsyncAPI ${document.version()}, ${document.channels().length} channels, ` +
    `${document.operations().length} operations, ${document.messages().length} messages`,
);
