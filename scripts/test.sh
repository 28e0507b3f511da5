#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test.
# The Kafka tests need the nisshi broker; it is installed first when missing (once, about
# 15 minutes on 2 cores; later runs reuse ~/.cargo/bin/nisshi).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== the test broker"
scripts/broker.sh install

echo "== Python's jsonschema, the reference validator of tests/cli_inspect.rs"
python3 -c 'import jsonschema, rfc3339_validator' 2>/dev/null ||
  python3 -m pip install --user --quiet jsonschema rfc3339-validator

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

echo "== cargo test (examples and benches are built above and hold no tests)"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
cargo test --lib --bins --tests --locked 2>&1 | tee "$results"

echo "== the README quick start: replay the bundled sample"
cargo run --quiet --locked -- replay --input samples/crm-events.jsonl \
  --as-of 2026-01-01T00:00:00Z --output /dev/null

# One closing line for the whole suite.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "suite: %d passed, %d failed\n", p, f }' "$results"
