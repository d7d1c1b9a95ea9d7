#!/usr/bin/env bash
# The segmentation benchmark in one run (after scripts/setup.sh): starts a redis-server on a free
# loopback port (no persistence) so the store table has a Redis row, runs bench_segment.py, stops it.
# Usage: bench/run_segment_bench.sh [reps=15]. Prints Markdown tables.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-15}
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning --dir /tmp >/dev/null &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null || true; wait $redis_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
/usr/bin/python3 bench/bench_segment.py --reps "$reps" --redis-port "$port"
