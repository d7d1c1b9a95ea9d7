#!/usr/bin/env bash
# The main job in one command: build what is missing, then remove a dog-sized blob from a lawn
# photo (scikit-image's grass sample, from Debian's python3-skimage) with the default model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh inpaint_cli   # the demo's model is built in: no tests, benchmarks or torch backend
mkdir -p out
photo=/usr/lib/python3/dist-packages/skimage/data/grass.png
/usr/bin/python3 scripts/make_sample_mask.py "$photo" out/sample_mask.png
build/bin/inpaint run --image "$photo" --mask out/sample_mask.png --surface grass \
  --out out/sample_result.jpg --preview out/sample_preview.jpg --preview-size 256 --json
echo "demo: wrote out/sample_result.jpg and out/sample_preview.jpg (mask: out/sample_mask.png)"
