#!/usr/bin/env python3
"""Validates every output record and dead-letter header set the tests kept (SPEC 11).

    scripts/validate-records.py DIR

DIR holds the files tests/produced/mod.rs writes: *.records.jsonl (transition and action
records, by their "type") and *.dlq-headers.jsonl (one header map per dead letter). Each is
checked against docs/schemas/ with Python's jsonschema (Draft 2020-12, formats checked).
Prints the counts; exits 1 at the first ten failures, 2 when DIR has nothing to check."""
import glob
import json
import os
import sys

import jsonschema

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def validator(name):
    with open(os.path.join(ROOT, "docs/schemas", name)) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def main():
    directory = sys.argv[1]
    by_type = {"transition": validator("transition.schema.json"),
               "action": validator("action.schema.json")}
    headers = validator("dead-letter-headers.schema.json")
    counts = {"transition": 0, "action": 0, "dead letter": 0}
    seen = set()
    failures = []

    def check(v, value, where):
        for e in v.iter_errors(value):
            failures.append(f"{where}: {e.message} at {list(e.absolute_path)}")
            break

    for path in sorted(glob.glob(os.path.join(directory, "*.records.jsonl"))):
        with open(path, "rb") as f:
            for n, line in enumerate(f, 1):
                if line in seen:  # the same record from another test: checked once
                    counts[json.loads(line).get("type", "?")] += 1
                    continue
                seen.add(line)
                record = json.loads(line)
                kind = record.get("type")
                if kind not in by_type:
                    failures.append(f"{path}:{n}: not a transition or an action")
                    continue
                counts[kind] += 1
                check(by_type[kind], record, f"{os.path.basename(path)}:{n}")
        if len(failures) >= 10:
            break
    for path in sorted(glob.glob(os.path.join(directory, "*.dlq-headers.jsonl"))):
        with open(path) as f:
            for n, line in enumerate(f, 1):
                counts["dead letter"] += 1
                check(headers, json.loads(line), f"{os.path.basename(path)}:{n}")
    total = sum(counts.values())
    print(f"schema check: {counts['transition']} transitions, {counts['action']} actions, "
          f"{counts['dead letter']} dead letters ({len(seen)} distinct records) against docs/schemas/")
    if failures:
        print("\n".join(failures[:10]), file=sys.stderr)
        sys.exit(1)
    if total == 0:
        print(f"nothing to check in {directory}: did the tests run?", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
