#!/usr/bin/env bash
# The foundation benchmarks, all in one run so the ratios share the machine's state:
#   1. the pipeline on a 12 MP JPEG with an 8% animal-shaped hole, stage by stage (C++), and the
#      codec floor (libjpeg-turbo decode + encode of the photo) in the same process;
#   2. the seed worker's Python path (PIL + numpy + OpenCV-python) on the same files;
#   3. the Python module's overhead over the native call;
#   4. mask clean-up at 12 MP against the same OpenCV-python calls;
#   5. stb against libjpeg-turbo on the same photo.
# Usage: bench/run_bench.sh [runs=7]   (after scripts/setup.sh). Prints JSON lines.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
data=build/bench-data
[ -f $data/photo12mp.jpg ] || /usr/bin/python3 bench/make_photo.py $data 0.08
photo=$data/photo12mp.jpg
mask=$data/photo12mp_mask.png
echo "cpp_pipeline $(build/bin/bench_pipeline $photo $mask "$runs")"
echo "py_baseline $(/usr/bin/python3 ../shared/tools/py_worker_baseline.py $photo $mask "$runs")"
echo "py_module $(PYTHONPATH=build/python /usr/bin/python3 bench/bench_python.py $photo $mask "$runs")"
echo "mask_clean $(PYTHONPATH=build/python /usr/bin/python3 bench/bench_mask.py $mask "$runs")"
echo "codecs $(build/bin/bench_codecs $photo "$runs")"
