#!/usr/bin/env bash
# The whole test suite once more under AddressSanitizer + UndefinedBehaviorSanitizer (and
# LeakSanitizer), then a short pass of every libFuzzer target. Builds build-sanitize/ with
# clang-14 (cmake -DINPAINT_SANITIZE=ON -DINPAINT_BUILD_FUZZ=ON), installing what is missing.
#   scripts/sanitize.sh               build, tests, fuzz 60 s per target
#   INPAINT_FUZZ_SECONDS=0 ...        skip the fuzz pass
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${INPAINT_JOBS:-2}
fuzz_seconds=${INPAINT_FUZZ_SECONDS:-60}
phase_start=$SECONDS
phase() { echo "sanitize: $1 took $((SECONDS - phase_start))s"; phase_start=$SECONDS; }

scripts/install-deps.sh scripts/deps.txt scripts/deps-sanitize.txt
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
CC=clang-14 CXX=clang++-14 cmake -S . -B build-sanitize -G Ninja -DPython3_EXECUTABLE=/usr/bin/python3 \
  -DINPAINT_SANITIZE=ON -DINPAINT_BUILD_FUZZ=ON -DINPAINT_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
nice -n 10 cmake --build build-sanitize -j"$jobs"
phase build

asan_runtime=$(clang-14 -print-file-name=libclang_rt.asan-x86_64.so)
export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
# C++ and C test programs and the CLI: leaks are findings. scripts/lsan.supp lists the few
# allocations of LibTorch/OpenCV that live until exit on purpose, each with its reason.
# intercept_tls_get_addr=0: clang-14's LeakSanitizer misreads the dynamic TLS blocks of a library
# loaded with dlopen (the torch backend's LibTorch) under Debian 12's glibc and crashes in its
# exit scan ("Tracer caught signal 11", DTLS at a bogus address); without the interception it
# scans static TLS, stacks and the heap as before, and only dlopen'ed TLS goes unscanned.
native_asan="detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:intercept_tls_get_addr=0"
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0

# GoogleTest in one process: CTest starts one process per test (gtest_discover_tests), and
# under ASan each start (LibTorch's static initialisers) and each exit (a LeakSanitizer scan of
# LibTorch's heap) costs 5-8 s: 147 processes took over 10 minutes, one takes 80 s. Then CTest
# for the rest (the C99 test and the install-tree consumer): every test whose name is not a
# discovered Suite.Test.
# pytest, a CTest test too, runs below with the settings an uninstrumented interpreter needs.
for tests in inpaint_tests inpaint_torch_tests; do
  ASAN_OPTIONS=$native_asan build-sanitize/bin/$tests --gtest_brief=1 || status=1
done
ASAN_OPTIONS=$native_asan bash -c 'cd build-sanitize && ctest --output-on-failure -j"$1" -LE python -E "^[A-Za-z0-9_]+[.]"' _ "$jobs" || status=1
phase "GoogleTest, C99 test, install-tree consumer"

# Python: python3 itself is not instrumented, so the ASan runtime is preloaded into it.
# detect_leaks=0 for the interpreter only: CPython frees neither its interned objects nor its
# arenas at exit, and numpy/torch keep their caches, so LeakSanitizer would report thousands of
# allocations that are not ours. The CLI started by the tests gets its own settings back
# (leaks on, no preload) through the wrapper below.
cli_wrapper=build-sanitize/inpaint-lsan
cat > "$cli_wrapper" <<WRAPPER
#!/bin/sh
# The sanitized CLI with LeakSanitizer on, whatever the calling Python set.
exec env -u LD_PRELOAD ASAN_OPTIONS="$native_asan" "$root/build-sanitize/bin/inpaint" "\$@"
WRAPPER
chmod +x "$cli_wrapper"
# test_packaging builds an unsanitized wheel with pip (a packaging check, not a memory check,
# and a second full build): skipped here, it runs in scripts/test.sh.
# The real-network tests (ISNet against onnxruntime-node) run in scripts/test.sh: here node would
# inherit the preloaded ASan runtime, and their minutes of forward passes test LibTorch, not us.
LD_PRELOAD=$asan_runtime ASAN_OPTIONS="detect_leaks=0" INPAINT_SKIP_PIP_TEST=1 INPAINT_SKIP_REAL_MODELS=1 \
  PYTHONPATH="$root/build-sanitize/python" INPAINT_CLI="$root/$cli_wrapper" \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/python || status=1
phase "pytest (Python module and CLI)"

if [ "$fuzz_seconds" -gt 0 ]; then
  fuzz/run.sh "$fuzz_seconds" || status=1
  phase "fuzz pass"
fi
exit $status
