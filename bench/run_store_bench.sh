#!/usr/bin/env bash
# The encoding-store benchmarks in one run (after scripts/setup.sh): starts a redis-server on a
# free loopback port (no persistence), runs bench_store (C++) and bench_store_torch.py, stops it.
# Usage: bench/run_store_bench.sh [runs=15]. Prints JSON lines.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-15}
dir=build/bench-data/store
mkdir -p $dir
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning --dir /tmp >/dev/null &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null || true; wait $redis_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
build/bin/bench_store $dir "$port" "$runs" | sed 's/^/cpp_store /'
PYTHONPATH=build/python /usr/bin/python3 bench/bench_store_torch.py $dir "$runs" | sed 's/^/py_torch /'
