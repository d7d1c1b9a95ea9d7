#!/usr/bin/env bash
# Fill quality and speed (issue 3): every dev-set case through the CLI for patchmatch, telea and
# ns, and OpenCV's ShiftMap through OpenCV-python, scored by eval_inpaint.py in the same run; then
# the 12 MP photo with an 8% hole end to end through the CLI (3 runs: wall seconds, peak RSS).
# Usage: bench/run_fill_bench.sh   (after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
/usr/bin/python3 bench/bench_quality.py patchmatch telea ns shiftmap
data=build/bench-data
[ -f $data/photo12mp.jpg ] || /usr/bin/python3 bench/make_photo.py $data 0.08
out=$(mktemp -d)
for i in 1 2 3; do
  /usr/bin/time -f "12mp_cli wall_s %e peak_rss_mb %M" build/bin/inpaint run --image $data/photo12mp.jpg \
    --mask $data/photo12mp_mask.png --out "$out/result.jpg" --preview "$out/preview.jpg" 2>&1 >/dev/null |
    awk '{ $5 = int($5 / 1024); print }'
done
rm -rf "$out"
