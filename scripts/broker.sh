#!/usr/bin/env bash
# The local Kafka-compatible broker (nisshi, pinned) for development and tests.
#
#   scripts/broker.sh install              install nisshi 0.8.1 unless it is on PATH or in ~/.cargo/bin
#   scripts/broker.sh start [DIR]          start it on a free loopback port (memory storage);
#                                          prints the port; DIR (default .broker) keeps pid, port, log
#   scripts/broker.sh topics [DIR] [N]     create the service's topics with N partitions (default 4)
#   scripts/broker.sh stop [DIR]           stop it
#
# Set NISSHI_STORAGE=sqlite://FILE to keep data across restarts.
set -euo pipefail
VERSION=0.8.1
cmd=${1:-}
dir=${2:-.broker}

nisshi_bin() {
  if [ -n "${NISSHI:-}" ] && [ -x "$NISSHI" ]; then echo "$NISSHI"; return; fi
  if command -v nisshi >/dev/null 2>&1; then command -v nisshi; return; fi
  if [ -x "$HOME/.cargo/bin/nisshi" ]; then echo "$HOME/.cargo/bin/nisshi"; return; fi
  return 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

case "$cmd" in
  install)
    if bin=$(nisshi_bin); then
      echo "nisshi present: $bin"
    else
      echo "installing nisshi $VERSION (about 15 minutes on 2 cores)..."
      cargo install "nisshi@$VERSION" --locked --ignore-rust-version
    fi
    ;;
  start)
    bin=$(nisshi_bin) || { echo "nisshi is not installed: run scripts/broker.sh install" >&2; exit 1; }
    mkdir -p "$dir"
    port=$(free_port)
    storage=${NISSHI_STORAGE:-memory://nisshi/}
    nohup "$bin" broker --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine "$storage" > "$dir/log" 2>&1 &
    echo $! > "$dir/pid"
    echo "$port" > "$dir/port"
    for _ in $(seq 1 300); do
      if grep -q "ready in" "$dir/log" 2>/dev/null; then echo "$port"; exit 0; fi
      if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then cat "$dir/log" >&2; exit 1; fi
      sleep 0.1
    done
    echo "nisshi did not become ready; see $dir/log" >&2; exit 1
    ;;
  topics)
    bin=$(nisshi_bin) || { echo "nisshi is not installed: run scripts/broker.sh install" >&2; exit 1; }
    port=$(cat "$dir/port")
    n=${3:-4}
    for t in crm.events lifecycle.transitions lifecycle.actions.care lifecycle.actions.retention \
             lifecycle.actions.marketing lifecycle.actions.holdout; do
      "$bin" topic create --broker "tcp://127.0.0.1:$port" --partitions "$n" "$t"
    done
    # A dead letter may be as large as the largest event (1 MiB) plus its headers.
    "$bin" topic create --broker "tcp://127.0.0.1:$port" --partitions "$n" \
      --config max.message.bytes=1114112 crm.events.dlq
    "$bin" topic create --broker "tcp://127.0.0.1:$port" --partitions "$n" \
      --config cleanup.policy=compact lifecycle.state
    # Which instance owns each input partition (customer query routing): one partition.
    "$bin" topic create --broker "tcp://127.0.0.1:$port" --partitions 1 \
      --config cleanup.policy=compact lifecycle.members
    ;;
  stop)
    if [ -f "$dir/pid" ]; then kill "$(cat "$dir/pid")" 2>/dev/null || true; rm -f "$dir/pid"; fi
    ;;
  *)
    sed -n '2,12p' "$0"; exit 2 ;;
esac
