#!/usr/bin/python3
"""Fill quality and speed on ../shared/data/inpaint-dev, every model in the same run.

Our models run through the CLI (`inpaint run --no-clean`: the dev masks are exact holes, so the
seed worker's clean-up and dilation stay off for every model alike); OpenCV xphoto ShiftMap runs
through OpenCV-python. Each result is scored with ../shared/tools/eval_inpaint.py.
Usage: bench_quality.py [MODEL_SPEC ...]   (default: patchmatch telea ns shiftmap)
Prints a markdown table of means, per-surface detail for grass/gravel/brick, and seconds per case
(wall time of the model stage for the CLI, of the call for ShiftMap)."""
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "data", "inpaint-dev")
EVAL = os.path.join(ROOT, "..", "shared", "tools", "eval_inpaint.py")
CLI = os.path.join(ROOT, "build", "bin", "inpaint")


def cases():
    for mask in sorted(glob.glob(os.path.join(DATA, "*_mask_*.png"))):
        name = os.path.basename(mask)
        yield name, os.path.join(DATA, name.split("_mask_")[0] + ".png"), mask


def run_cli(spec, out_dir):
    seconds = []
    for name, image, mask in cases():
        r = subprocess.run([CLI, "run", "--image", image, "--mask", mask, "--out", os.path.join(out_dir, name),
                            "--model", spec, "--no-clean", "--strategy", "original", "--json"],
                           capture_output=True, text=True, check=True)
        seconds.append(json.loads(r.stdout)["timings_ms"]["model"] / 1000)
    return seconds


def run_shiftmap(out_dir):
    seconds = []
    for name, image, mask in cases():
        img = cv2.imread(image, cv2.IMREAD_COLOR)
        known = (cv2.imread(mask, cv2.IMREAD_GRAYSCALE) <= 127).astype(np.uint8) * 255  # xphoto: non-zero = known
        out = img.copy()
        start = time.perf_counter()
        cv2.xphoto.inpaint(img, known, out, cv2.xphoto.INPAINT_SHIFTMAP)
        seconds.append(time.perf_counter() - start)
        cv2.imwrite(os.path.join(out_dir, name), out)
    return seconds


def main():
    specs = sys.argv[1:] or ["patchmatch", "telea", "ns", "shiftmap"]
    print("| model | psnr | ssim | detail | seam | detail grass / gravel / brick (min..max) | s per case (median) | total s |")
    print("|---|---|---|---|---|---|---|---|")
    for spec in specs:
        with tempfile.TemporaryDirectory() as out_dir:
            seconds = run_shiftmap(out_dir) if spec == "shiftmap" else run_cli(spec, out_dir)
            scored = subprocess.run([sys.executable, EVAL, DATA, out_dir, "--json"], capture_output=True, text=True,
                                    check=True).stdout
            rows = json.loads(scored[: scored.rindex("]") + 1])  # a MEAN line follows the JSON
        mean = {k: statistics.mean(r[k] for r in rows) for k in ("psnr", "ssim", "detail", "seam")}
        surfaces = []
        for surface in ("grass", "gravel", "brick"):
            d = [r["detail"] for r in rows if r["case"].startswith(surface + "_")]
            surfaces.append(f"{min(d):.2f}..{max(d):.2f}")
        print(f"| {spec} | {mean['psnr']:.2f} | {mean['ssim']:.3f} | {mean['detail']:.2f} | {mean['seam']:.2f} | "
              f"{' / '.join(surfaces)} | {statistics.median(seconds):.3f} | {sum(seconds):.1f} |", flush=True)
        if os.environ.get("BENCH_VERBOSE"):
            for r in rows:
                print(f"    {r['case']:36s} psnr {r['psnr']:6.2f} ssim {r['ssim']:.3f} detail {r['detail']:.2f} seam {r['seam']:.2f}")


if __name__ == "__main__":
    main()
