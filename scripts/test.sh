#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test.
# The Kafka tests need the nisshi broker; it is installed first when missing (once, about
# 15 minutes on 2 cores; later runs reuse ~/.cargo/bin/nisshi).
set -euo pipefail
cd "$(dirname "$0")/.."

# A build that runs out of disk fails late, at a linker's write, with a message that does not
# say so: warn first. A clean build of every target and test takes ~5 GB of target/.
mkdir -p target
free_kib=$(df -Pk target | awk 'NR == 2 { print $4 }')
if [ "${free_kib:-0}" -lt $((6 * 1024 * 1024)) ]; then
  echo "warning: $((free_kib / 1024)) MiB free for target/; a clean build needs ~5 GB (cargo clean frees it)" >&2
fi

echo "== the test broker"
scripts/broker.sh install

echo "== Python's jsonschema, the reference validator of tests/cli_inspect.rs"
python3 -c 'import jsonschema, rfc3339_validator' 2>/dev/null ||
  python3 -m pip install --user --quiet jsonschema rfc3339-validator

echo "== @asyncapi/parser, the reference validator of docs/asyncapi.yaml (tools/asyncapi)"
[ -d tools/asyncapi/node_modules/@asyncapi/parser ] ||
  (cd tools/asyncapi && npm ci --no-audit --no-fund --loglevel=error)

echo "== Chromium and playwright-core, the browser of tests/report_browser.rs (tools/report-check)"
if ! [ -x /usr/bin/chromium ] && [ -z "${CHROMIUM:-}" ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  install_chromium() { $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium > /dev/null; }
  # A fresh machine may have no package lists yet: read them, then try again.
  install_chromium || { $sudo apt-get update -q > /dev/null && install_chromium; } ||
    { echo "cannot install Chromium: apt-get install chromium (Debian's package), or set CHROMIUM" >&2; exit 1; }
fi
[ -d tools/report-check/node_modules/playwright-core ] ||
  (cd tools/report-check && npm ci --no-audit --no-fund --loglevel=error)

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

echo "== no import cycles between the files of src/"
python3 scripts/import-cycles.py src

echo "== build"
cargo build --all-targets --locked

echo "== deployment files and alert rules (installs promtool when missing)"
LIFECYCLE_BIN=target/debug/lifecycle scripts/check-deploy.sh

echo "== the AsyncAPI document and the JSON Schemas (SPEC 11)"
node tools/asyncapi/validate.mjs docs/asyncapi.yaml
# The validator can fail: a document whose payload reference does not resolve is refused.
broken=docs/.asyncapi-self-check.yaml
sed 's#./schemas/action.schema.json#./schemas/no-such.schema.json#' docs/asyncapi.yaml > "$broken"
if node tools/asyncapi/validate.mjs "$broken" > /dev/null 2>&1; then
  rm -f "$broken"; echo "the AsyncAPI validator accepted a broken document" >&2; exit 1
fi
rm -f "$broken"

echo "== cargo test (examples and benches are built above and hold no tests)"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
rm -rf target/tmp/produced-records
cargo test --lib --bins --tests --locked 2>&1 | tee "$results"

echo "== every record the tests produced against docs/schemas (Python's jsonschema)"
python3 scripts/validate-records.py target/tmp/produced-records
# The check can fail: a record without its schema_version is refused.
bad=$(mktemp -d)
printf '%s\n' '{"type":"transition","customer_id":"c","from":null,"to":"prospect","reason":"first_seen","at":"2025-01-01T00:00:00Z","event_id":"e","seq":1,"explain":"x","facts":{}}' \
  > "$bad/self-check.records.jsonl"
if python3 scripts/validate-records.py "$bad" > /dev/null 2>&1; then
  rm -rf "$bad"; echo "the record check accepted a record without schema_version" >&2; exit 1
fi
rm -rf "$bad"

echo "== the README quick start: replay the bundled sample"
cargo run --quiet --locked -- replay --input samples/crm-events.jsonl \
  --as-of 2026-01-01T00:00:00Z --output /dev/null

# One closing line for the whole suite.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "suite: %d passed, %d failed\n", p, f }' "$results"
