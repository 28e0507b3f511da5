#!/usr/bin/env bash
# Measures `lifecycle replay` over a generated stream: events/s and peak RSS.
# Usage: scripts/measure-replay.sh [CUSTOMERS] [SEED]   (95000 customers ~ 1M events)
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${1:-95000}
seed=${2:-1}
work=${TMPDIR:-/tmp}/lifecycle-measure
mkdir -p "$work"
cargo build --release --quiet
bin=target/release/lifecycle
input="$work/events-$customers-$seed.jsonl"
[ -s "$input" ] || "$bin" generate --customers "$customers" --seed "$seed" --output "$input"
lines=$(wc -l < "$input")
timefmt() { /usr/bin/time -v "$@" 2> "$work/time.txt" || { cat "$work/time.txt"; exit 1; }; }
timefmt "$bin" replay --input "$input" --output /dev/null --as-of 2026-01-01T00:00:00Z
wall=$(grep 'Elapsed (wall clock)' "$work/time.txt" | awk '{print $NF}')
rss=$(grep 'Maximum resident set size' "$work/time.txt" | awk '{print $NF}')
secs=$(python3 -c "p='$wall'.split(':'); print(sum(float(x)*60**i for i,x in enumerate(reversed(p))))")
python3 - <<PY
lines=$lines; secs=$secs; rss_kb=$rss
print(f"input: {lines} lines, {$customers} customers (seed $seed)")
print(f"replay: {secs:.2f} s wall, {lines/secs:,.0f} events/s, peak RSS {rss_kb/1024:.1f} MiB")
PY
