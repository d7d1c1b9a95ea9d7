#!/usr/bin/env bash
# Runs the libFuzzer targets, two at a time, each for SECONDS (default 60) on a copy of its
# committed corpus (fuzz/corpus/<target>), with the options in fuzz/options/<target>.options.
# (libFuzzer flags one per line, # comments.) Prints per target: executions, corpus size, coverage (cov: edges of libFuzzer's final stats
# line) and crashes; exits non-zero when any target crashed, leaked, hung or ran out of memory.
#
#   fuzz/run.sh [--merge] [SECONDS] [TARGET...]
#     --merge  minimise the new inputs back into fuzz/corpus/<target> (then commit them)
#   env: INPAINT_FUZZ_BIN  folder of the fuzz executables (build-sanitize/fuzz)
#        INPAINT_FUZZ_OUT  work folder: corpora copies, logs, crash inputs (out/fuzz)
#        INPAINT_FUZZ_JOBS targets at once (2)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
merge=0
if [ "${1:-}" = "--merge" ]; then merge=1; shift; fi
seconds=${1:-60}
[ $# -gt 0 ] && shift
bin=${INPAINT_FUZZ_BIN:-$root/build-sanitize/fuzz}
out=${INPAINT_FUZZ_OUT:-$root/out/fuzz}
jobs=${INPAINT_FUZZ_JOBS:-2}
if [ $# -gt 0 ]; then targets=("$@"); else
  mapfile -t targets < <(cd fuzz/options && ls *.options | sed 's/\.options$//')
fi
for t in "${targets[@]}"; do
  [ -x "$bin/$t" ] || { echo "fuzz: $bin/$t is not built (scripts/sanitize.sh builds build-sanitize/)" >&2; exit 2; }
done

# -timeout: one input running this long is a hang; -rss_limit_mb: a decompression bomb or an
# unbounded allocation is an out-of-memory finding, not a slow machine. Leaks are findings too;
# scripts/lsan.supp lists the dependencies' own (each with its reason).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/scripts/lsan.supp:print_suppressions=0}
# Two fuzzers share two cores: no extra OpenCV/LibTorch worker threads.
export OPENCV_FOR_THREADS_NUM=1 OMP_NUM_THREADS=1

run_one() {
  local t=$1 dir="$out/$1"
  rm -rf "$dir" && mkdir -p "$dir/corpus" "$dir/artifacts"
  cp fuzz/corpus/"$t"/* "$dir/corpus/" 2>/dev/null || true
  local opts=()
  while read -r line; do
    case $line in ''|'#'*) continue ;; esac  # blank lines and comments
    case $line in -dict=*) line="-dict=$root/fuzz/${line#-dict=}" ;; esac
    opts+=("$line")
  done < fuzz/options/"$t".options
  local start=$SECONDS rc=0
  "$bin/$t" "${opts[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/" "$dir/corpus" > "$dir/log.txt" 2>&1 || rc=$?
  echo "$rc $((SECONDS - start))" > "$dir/status"
  if [ "$merge" = 1 ] && [ "$rc" = 0 ]; then
    "$bin/$t" "${opts[@]}" -merge=1 fuzz/corpus/"$t" "$dir/corpus" >> "$dir/merge.txt" 2>&1 || true
  fi
}
export -f run_one
export bin out seconds merge root

echo "fuzz: ${#targets[@]} target(s), ${seconds}s each, $jobs at a time; logs in $out/<target>/log.txt"
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'

status=0
printf '%-22s %12s %10s %8s %8s %8s\n' target executions exec/s corpus cov crashes
for t in "${targets[@]}"; do
  dir="$out/$t"
  read -r rc wall < "$dir/status"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log.txt" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log.txt" | tail -1)
  # The last status line ("#N DONE cov: E ft: F corp: C/Sb ...") has the final figures.
  last=$(grep -E '^#[0-9]+.*cov: ' "$dir/log.txt" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<< "$last")
  crashes=$(find "$dir/artifacts" -type f | wc -l)
  printf '%-22s %12s %10s %8s %8s %8s\n' "$t" "${execs:-?}" "${rate:-?}" "${corp:-?}" "${cov:-?}" "$crashes"
  if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then
    status=1
    echo "  $t: exit $rc after ${wall}s; inputs in $dir/artifacts; log $dir/log.txt:" >&2
    # (|| true: head closing the pipe early must not end the report under pipefail)
    { grep -E 'ERROR|SUMMARY|fuzz property|runtime error|==[0-9]+==|#[0-9]+ 0x' "$dir/log.txt" | head -12 | sed 's/^/    /' >&2; } || true
  fi
done
exit $status
