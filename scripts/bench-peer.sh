#!/usr/bin/env bash
# Peer benchmark: the lifecycle rules as a Quix Streams application (bench/peer/) on the
# local nisshi broker, over a generated input; prints
#   peer quixstreams: N events in S s = R events/s
#
# Usage: scripts/bench-peer.sh [--port PORT] [--customers C] [--seed S] [--commit-interval SECS]
#   --port PORT     use the broker already listening on 127.0.0.1:PORT (topics get a run-unique
#                   suffix); default: start a fresh nisshi (memory storage) on a free port and
#                   stop it at the end
#   --customers C   input size (default 19000: ~200k events with seed 1)
#   --seed S        generator seed (default 1)
#   --commit-interval SECS  Quix checkpoint interval (default 5.0, Quix's own default)
# Environment: NISSHI (the broker binary), PEER_WORK (scratch dir, default $TMPDIR/lifecycle-peer).
# Needs python3 (3.9+) with venv, the nisshi binary, and cargo when target/release/lifecycle
# is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
peer=$root/bench/peer

port=""
customers=19000
seed=1
commit_interval=5.0
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift 2 ;;
    --customers) customers=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --commit-interval) commit_interval=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; sed -n '2,17p' "$0" >&2; exit 2 ;;
  esac
done

work=${PEER_WORK:-${TMPDIR:-/tmp}/lifecycle-peer}
mkdir -p "$work"
export PYTHONWARNINGS=ignore

# 1. The Python environment.
py=$peer/.venv/bin/python
stamp=$peer/.venv/.requirements
if [ ! -x "$py" ] || ! cmp -s "$peer/requirements.txt" "$stamp"; then
  echo "installing bench/peer/requirements.txt into bench/peer/.venv ..." >&2
  python3 -m venv "$peer/.venv"
  "$py" -m pip install --quiet --disable-pip-version-check -r "$peer/requirements.txt"
  cp "$peer/requirements.txt" "$stamp"
fi

# 2. The input.
bin=$root/target/release/lifecycle
if [ ! -x "$bin" ]; then
  echo "building target/release/lifecycle ..." >&2
  cargo build --release --quiet
fi
input=$work/events-$customers-$seed.jsonl
[ -s "$input" ] || "$bin" generate --customers "$customers" --seed "$seed" --output "$input" >&2

# 3. The broker.
nisshi=${NISSHI:-}
if [ -z "$nisshi" ]; then
  nisshi=$(command -v nisshi || true)
  [ -n "$nisshi" ] || nisshi=$HOME/.cargo/bin/nisshi
fi
[ -x "$nisshi" ] || { echo "nisshi not found: scripts/broker.sh install" >&2; exit 1; }
run_id=$$-$(date +%s)
broker_pid=""
state_dir=$work/state-$run_id
log=$work/broker-$run_id.log
cleanup() {
  if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; fi
  rm -rf "$state_dir" "$log"
}
trap cleanup EXIT
if [ -z "$port" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  "$nisshi" broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://nisshi/ > "$log" 2>&1 &
  broker_pid=$!
  for _ in $(seq 1 300); do
    grep -q "ready in" "$log" 2>/dev/null && break
    kill -0 "$broker_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  grep -q "ready in" "$log" || { echo "nisshi did not become ready:" >&2; cat "$log" >&2; exit 1; }
  suffix=""
else
  suffix=".peer-$run_id"   # fresh topics on a shared broker
fi
broker=127.0.0.1:$port
group=lifecycle-quix$suffix

# 4. Fresh topics, 4 partitions. Quix reads the input topic's retention.ms (DescribeConfigs) to
# derive its changelog topic's config, and nisshi reports only configs set at creation, so
# every topic is created here with explicit retention settings, the changelog too (compacted,
# under the name Quix gives it), and the app runs with auto_create_topics=False.
topic() {
  "$nisshi" topic create --broker "tcp://$broker" --partitions 4 --silent "$@"
}
for t in crm.events lifecycle.transitions lifecycle.actions.care lifecycle.actions.retention \
         lifecycle.actions.marketing crm.events.dlq; do
  topic --config retention.ms=-1 --config retention.bytes=-1 "$t$suffix"
done
topic --config cleanup.policy=compact --config retention.ms=-1 --config retention.bytes=-1 \
  "changelog__$group--crm.events$suffix--default"

# 5. Produce the input, keyed by customer_id.
n=$("$py" "$peer/produce_input.py" --broker "$broker" --topic "crm.events$suffix" "$input")

# 6. Run the Quix app until it has processed all N messages.
result=$(cd "$peer" && "$py" lifecycle_quix.py --broker "$broker" --group "$group" \
  --topic-suffix "$suffix" --expect "$n" --idle-exit 30 --state-dir "$state_dir" \
  --commit-interval "$commit_interval" --no-auto-create-topics)
"$py" "$peer/topic_counts.py" --broker "$broker" \
  "lifecycle.transitions$suffix" "lifecycle.actions.care$suffix" \
  "lifecycle.actions.retention$suffix" "lifecycle.actions.marketing$suffix" \
  "crm.events.dlq$suffix" "changelog__$group--crm.events$suffix--default" >&2

secs=$(sed -n 's/.*elapsed_s=\([0-9.]*\).*/\1/p' <<< "$result")
rate=$(sed -n 's/.*events_per_s=\([0-9]*\).*/\1/p' <<< "$result")
echo "peer quixstreams: $n events in $secs s = $rate events/s"
