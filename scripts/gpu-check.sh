#!/usr/bin/env bash
# Builds libinpaint and its torch code against the torch that python3 has (a pip torch with CUDA
# on a GPU machine) and the Debian packages carried in .gpu-deps/ (scripts/fetch-gpu-deps.sh),
# then runs the torch tests and bench_devices on cuda and on cpu and prints a short table last.
# Without CUDA (no GPU, or a torch without CUDA) it does the same on cpu only, so the same steps
# run on the development machine. Needs no network and none of the Debian -dev packages.
#   scripts/gpu-check.sh
# Environment: GPU_CHECK_DEPS (.gpu-deps), GPU_CHECK_BUILD (build-gpu), GPU_CHECK_JOBS (nproc),
#   GPU_CHECK_REPS (10), PYTHON (a python3 with torch; else the first of python3,
#   /opt/torch/.venv/bin/python3, /usr/bin/python3 that imports torch), OUT (logs; else
#   $GPU_CHECK_BUILD/gpu-check). Logs: env.log configure.log build.log tests.log tests.json
#   bench.json cli.log summary.txt (8 files: the device tool brings back at most 8).
set -euo pipefail
cd "$(dirname "$0")/.."
deps=${GPU_CHECK_DEPS:-.gpu-deps}
build=${GPU_CHECK_BUILD:-build-gpu}
jobs=${GPU_CHECK_JOBS:-$(nproc)}
reps=${GPU_CHECK_REPS:-10}
logs=${OUT:-$build/gpu-check}
arch=x86_64-linux-gnu
start=$(date +%s)
say() { echo "gpu-check [$(($(date +%s) - start)) s]: $*"; }
die() { echo "gpu-check: $*" >&2; exit 1; }

# The torch tests: all of inpaint_torch_tests (the tests CTest labels `torch`: TorchScript, Sam,
# SamMask, TorchBridge) and, from the core tests, the tensor mask path and the backend loader,
# which loads libinpaint_torch.so built against this torch. Each runs as one process, so LibTorch
# and CUDA start once per binary rather than once per test as under CTest.
test_runs=("inpaint_torch_tests:*" "inpaint_tests:Mask.*:Backend.*")
targets=(inpaint inpaint_torch inpaint_cli bench_devices inpaint_tests inpaint_torch_tests)

# --- what this machine has --------------------------------------------------------------------
[ -d "$deps/usr/lib/$arch" ] ||
  die "no $deps/ here: make it with scripts/fetch-gpu-deps.sh on the Debian machine and name $deps in the device tool's carry"
deps=$(cd "$deps" && pwd)
command -v cmake >/dev/null || die "no cmake on the PATH"
py=""
for candidate in ${PYTHON:-} python3 /opt/torch/.venv/bin/python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import torch' 2>/dev/null; then
    py=$(command -v "$candidate")
    break
  fi
done
[ -n "$py" ] || die "no python3 with torch (tried \$PYTHON, python3, /opt/torch/.venv/bin/python3, /usr/bin/python3)"
# prefix, version, CUDA version ('' without), whether a GPU is usable, its compute capability
mapfile -t torch_info < <("$py" -c '
import torch
cuda = torch.cuda.is_available()
print(torch.utils.cmake_prefix_path); print(torch.__version__); print(torch.version.cuda or "")
print(int(cuda)); print("%d.%d" % torch.cuda.get_device_capability() if cuda else "")
print(torch.cuda.get_device_name() if cuda else "")')
torch_prefix=${torch_info[0]} torch_version=${torch_info[1]} torch_cuda=${torch_info[2]}
gpu=${torch_info[3]} capability=${torch_info[4]} gpu_name=${torch_info[5]}
nvcc=$(command -v nvcc || true)
[ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc
if [ -n "$torch_cuda" ] && [ -z "$nvcc" ]; then
  die "torch $torch_version is built with CUDA $torch_cuda, and its CMake config needs the CUDA toolkit: no nvcc on the PATH or in /usr/local/cuda/bin"
fi
devices=(cpu)
variant=cpu
if [ "$gpu" = 1 ]; then
  devices=(cuda cpu)
  variant=cuda
else
  why="torch $torch_version has no CUDA"
  [ -n "$torch_cuda" ] && why="torch $torch_version sees no GPU"
  say "$why: the CPU variant (same build, tests and benchmarks on cpu only)"
fi

mkdir -p "$logs" "$build"
logs=$(cd "$logs" && pwd)
{
  echo "variant: $variant"
  echo "python: $py; torch $torch_version, CUDA '${torch_cuda}', GPU '${gpu_name}' (capability '${capability}')"
  echo "torch cmake prefix: $torch_prefix"
  echo "nvcc: ${nvcc:-none}"; [ -n "$nvcc" ] && "$nvcc" --version | tail -2
  echo "cmake: $(cmake --version | head -1); compiler: $(c++ --version | head -1); cores: $(nproc)"
  command -v nvidia-smi >/dev/null && nvidia-smi -L
  echo "carried: $deps ($(du -sh --apparent-size "$deps" | cut -f1))"
} >"$logs/env.log" 2>&1
say "$variant variant; torch $torch_version from $py; logs in $logs"

# The carried folder first: its libraries at run time, its .pc files only, its pkgconf.
orig_ld=${LD_LIBRARY_PATH:-}
export LD_LIBRARY_PATH="$deps/usr/lib/$arch${orig_ld:+:$orig_ld}"
export PKG_CONFIG_LIBDIR="$deps/usr/lib/$arch/pkgconfig:$deps/usr/share/pkgconfig"
unset PKG_CONFIG_PATH
pyrun() { LD_LIBRARY_PATH="$orig_ld" "$py" "$@"; }

# --- configure and build ----------------------------------------------------------------------
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
[ -f "$build/CMakeCache.txt" ] && ! grep -q "CMAKE_GENERATOR:INTERNAL=${generator[1]:-Unix Makefiles}\$" "$build/CMakeCache.txt" &&
  die "$build/ was configured with another generator: remove it"
# Debian's python3-torch has no share/cmake: CMake then finds libtorch-dev's config by itself.
torch_args=()
if [ -d "$torch_prefix/Torch" ]; then
  torch_args=(-DTorch_DIR="$torch_prefix/Torch")
else
  say "torch's cmake_prefix_path ($torch_prefix) holds no Torch config: CMake looks for one elsewhere"
fi
cuda_args=()
if [ -n "$torch_cuda" ]; then
  export CUDACXX="$nvcc"
  [ -n "$capability" ] && export TORCH_CUDA_ARCH_LIST="$capability" &&
    cuda_args=(-DCMAKE_CUDA_ARCHITECTURES="${capability/./}")
fi
say "configure ($build/)"
cmake "${generator[@]}" -S . -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$deps/usr;$torch_prefix" \
  -DOpenCV_DIR="$deps/usr/lib/$arch/cmake/opencv4" \
  -DGTest_DIR="$deps/usr/lib/$arch/cmake/GTest" \
  -Dnlohmann_json_DIR="$deps/usr/share/cmake/nlohmann_json" \
  -DCLI11_DIR="$deps/usr/share/cmake/CLI11" \
  -DOPENSSL_ROOT_DIR="$deps/usr" \
  -DPKG_CONFIG_EXECUTABLE="$deps/usr/bin/pkgconf" \
  -DINPAINT_BUILD_PYTHON=OFF -DINPAINT_BUILD_CLI=ON -DINPAINT_BUILD_TESTS=ON -DINPAINT_BUILD_BENCH=ON \
  "${torch_args[@]}" "${cuda_args[@]}" >"$logs/configure.log" 2>&1 || { tail -30 "$logs/configure.log"; die "configure failed (configure.log)"; }

# Where each dependency was found: all but torch must come from the carried folder.
outside=""
{
  echo; echo "dependency -> where CMake found it"
  for key in Torch_DIR OpenCV_DIR GTest_DIR nlohmann_json_DIR CLI11_DIR pkgcfg_lib_TURBOJPEG_turbojpeg \
    pkgcfg_lib_HIREDIS_hiredis OPENSSL_CRYPTO_LIBRARY OPENSSL_INCLUDE_DIR STB_INCLUDE_DIR PNG_LIBRARY_RELEASE \
    ZLIB_LIBRARY_RELEASE PKG_CONFIG_EXECUTABLE; do
    value=$(sed -n "s/^$key:[A-Z]*=//p" "$build/CMakeCache.txt")
    [ -n "$value" ] || continue
    case "$key:$value" in
      *:"$deps"/*) where=carried ;;
      Torch_DIR:*) where=torch ;;
      *) where=ELSEWHERE ;;
    esac
    [ "$where" = ELSEWHERE ] && outside+=" $key"
    printf '  %-32s %-10s %s\n' "$key" "$where" "$value"
  done
} >>"$logs/env.log"
if [ -n "$outside" ]; then
  tail -16 "$logs/env.log"
  # Here that proves the carried folder short of something; there it is only worth knowing.
  [ "$variant" = cpu ] && die "found outside $deps/ and torch:$outside"
  say "WARNING: found outside $deps/ and torch:$outside"
fi

available=$(cmake --build "$build" --target help 2>/dev/null || true)
for target in "${targets[@]}"; do
  grep -qw "$target" <<<"$available" || die "this tree has no target $target (is INPAINT_WITH_TORCH on?)"
done
say "build ${targets[*]} with $jobs jobs"
cmake --build "$build" -j "$jobs" --target "${targets[@]}" >"$logs/build.log" 2>&1 ||
  { grep -m 20 -B2 -A8 'error' "$logs/build.log" || tail -40 "$logs/build.log"; die "build failed (build.log)"; }
{
  echo; echo "libinpaint_torch.so's libraries as resolved at run time:"
  ldd "$build/lib/inpaint/libinpaint_torch.so" | grep -v '^\s*/'
} >>"$logs/env.log"
build_s=$(($(date +%s) - start))

# --- tests ------------------------------------------------------------------------------------
tests_ok=1
: >"$logs/tests.log"
rm -f "$build"/gpu-check-tests-*.json
for run in "${test_runs[@]}"; do
  binary=${run%%:*} filter=${run#*:}
  say "tests: $binary --gtest_filter=$filter"
  timeout 240 "$build/bin/$binary" --gtest_filter="$filter" --gtest_output="json:$build/gpu-check-tests-$binary.json" \
    >>"$logs/tests.log" 2>&1 || tests_ok=0
done
grep -E '^\[  (FAILED|PASSED|SKIPPED) ' "$logs/tests.log" | sort -u | head -20 || true
# One file for both runs ($OUT brings back at most 8 files).
pyrun -c 'import json, sys; json.dump({f: json.load(open(f)) for f in sys.argv[2:]}, open(sys.argv[1], "w"), indent=1)' \
  "$logs/tests.json" "$build"/gpu-check-tests-*.json || tests_ok=0

# --- benchmarks -------------------------------------------------------------------------------
models="$build/gpu-check-models"
pyrun bench/make_device_models.py "$models"
bench_ok=1
echo "{" >"$logs/bench.json"
for dev in "${devices[@]}"; do
  say "bench_devices $dev ($reps reps)"
  json=$(timeout 180 "$build/bin/bench_devices" "$dev" "$models" "$reps" "$models") || bench_ok=0
  [ "$dev" = "${devices[0]}" ] || echo "," >>"$logs/bench.json"
  printf '"%s": %s\n' "$dev" "${json:-null}" >>"$logs/bench.json"
done
echo "}" >>"$logs/bench.json"

# The CLI end to end (decode, fill on the device, encode) with the tiny fill model.
: >"$logs/cli.log"
for dev in "${devices[@]}"; do
  t0=$(date +%s%N)
  if "$build/bin/inpaint" run --image "$models/image.png" --mask "$models/mask.png" --out "$models/out-$dev.png" \
    --model "torchscript:device=$dev,path=$models/fill_tiny.pt" --json >>"$logs/cli.log" 2>&1; then
    echo "cli $dev wall_ms $(( ($(date +%s%N) - t0) / 1000000 ))" >>"$logs/cli.log"
  else
    echo "cli $dev FAILED" >>"$logs/cli.log"
    bench_ok=0
  fi
done

# --- the table --------------------------------------------------------------------------------
pyrun - "$logs" "$variant" "$torch_version" "${gpu_name:-no GPU}" "$build_s" "$tests_ok" "$bench_ok" \
  <<'PY' | tee "$logs/summary.txt"
import json, re, sys
from collections import Counter
logs, variant, torch_version, gpu, build_s, tests_ok, bench_ok = sys.argv[1:]
status = 0
print(f"\ngpu-check: {variant} variant, torch {torch_version}, {gpu}; configured and built in {build_s} s")
try:
    runs = json.load(open(f"{logs}/tests.json"))
    per = Counter()
    for suite in (s for t in runs.values() for s in t["testsuites"]):
        for case in suite["testsuite"]:
            r = "failed" if case.get("failures") else ("skipped" if case.get("result") == "SKIPPED" else "passed")
            per[(suite["name"], r)] += 1
    suites = sorted({s for s, _ in per})
    total = Counter()
    for (_, r), n in per.items():
        total[r] += n
    print(f"tests: {sum(total.values())} run, {total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped"
          + "  (" + ", ".join(f"{s} {per[(s, 'passed')]}/{sum(per[(s, r)] for r in ('passed', 'failed', 'skipped'))}" for s in suites) + ")")
    if total["failed"] or tests_ok != "1":
        status = 1
except (OSError, ValueError, KeyError) as e:
    print(f"tests: no result ({e}); see tests.log")
    status = 1
try:
    bench = json.load(open(f"{logs}/bench.json"))
except (OSError, ValueError) as e:
    bench = {}
    print(f"benchmarks: no result ({e})")
cpu = (bench.get("cpu") or {}).get("cases", {})
cuda = (bench.get("cuda") or {}).get("cases", {})
for dev in ("cuda", "cpu"):
    if bench.get(dev) and bench[dev].get("error"):
        print(f"bench_devices {dev}: {bench[dev]['error']}")
        status = 1
reps = (bench.get("cpu") or {}).get("reps", "?")
tolerance = {"fill_conv_512": 2}  # TF32 convolutions on the GPU may round differently
cli = dict(re.findall(r"^cli (\w+) wall_ms (\d+)", open(f"{logs}/cli.log").read(), re.M))
print(f"\n{'benchmark (median of ' + str(reps) + ')':<36}{'cpu ms':>10}{'cuda ms':>10}{'cuda 1st':>10}  check")
for name in sorted(set(cpu) | set(cuda)):
    c, g = cpu.get(name, {}), cuda.get(name, {})
    fmt = lambda case, key: f"{case[key]:10.2f}" if key in case else f"{'-':>10}"
    check = ""
    for source in (g, c):
        for key in ("max_diff_vs_cpu", "max_diff_vs_opencv"):
            if key in source and not check:
                ok = source[key] <= tolerance.get(name, 0)
                check = f"{'ok' if ok else 'DIFFERS'} (max byte diff {source[key]} {key[9:].replace('_', ' ')})"
                status |= not ok
    print(f"{name:<36}{fmt(c, 'median_ms')}{fmt(g, 'median_ms')}{fmt(g, 'first_ms')}  {check}")
print(f"{'cli run, fill_tiny 1024x768, wall':<36}{cli.get('cpu', '-'):>10}{cli.get('cuda', '-'):>10}")
if bench_ok != "1":
    status = 1
print("\ngpu-check: " + ("PASSED" if status == 0 else "FAILED") + f"  (logs: {logs})")
sys.exit(status)
PY
