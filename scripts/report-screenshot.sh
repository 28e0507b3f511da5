#!/usr/bin/env bash
# The README's picture of the report: `lifecycle report` of the bundled sample, its first
# screen taken by headless Chromium, written to docs/report.png.
set -euo pipefail
cd "$(dirname "$0")/.."
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "Chromium is missing: apt-get install chromium, or set CHROMIUM" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo run --quiet -- report --input samples/crm-events.jsonl --as-of 2026-01-01T00:00:00Z \
  --output "$work/report.html"
"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/profile" --hide-scrollbars --window-size=960,1500 \
  --screenshot="$work/report.png" "file://$work/report.html" > /dev/null 2>&1
cp "$work/report.png" docs/report.png
echo "wrote docs/report.png ($(wc -c < docs/report.png) bytes)"
