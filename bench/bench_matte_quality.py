#!/usr/bin/python3
"""How good the built-in `saliency` matter is, measured against a trained network.

There is no hand-made ground truth here, so the reference is ISNet (imgly's build through the
`salient` matter, scripts/get-test-models.sh): for every photo in ../shared/data/inpaint-dev the
built-in's matte is compared with ISNet's: IoU of the masks at 50%, mean absolute difference of
the alphas, and each matter's time. ISNet itself is not perfect, so read the figures as agreement
with a good model, not as accuracy.

Usage: /usr/bin/python3 bench/bench_matte_quality.py [--spec saliency]   (prints a Markdown table)
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build" / "python"))
sys.path.insert(0, str(ROOT / "tests" / "python"))
import inpaint  # noqa: E402
from model_cache import cache_dir  # noqa: E402

DATA = Path(os.environ.get("INPAINT_DATA_DIR", ROOT.parent / "shared" / "data")) / "inpaint-dev"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", default="saliency")
    args = ap.parse_args()
    pt = cache_dir() / "isnet" / "isnet-medium.pt"
    if not pt.exists():
        sys.exit("run scripts/get-test-models.sh first")
    reference = inpaint.load_matter(f"salient:path={pt},preset=isnet-imgly,device=cpu,threads=2")
    candidate = inpaint.load_matter(args.spec)
    photos = sorted(p for p in DATA.glob("*.png") if "_mask_" not in p.name)
    print(f"| photo | size | IoU at 50% | mean abs diff (/255) | ISNet object share | {args.spec} ms | ISNet ms |")
    print("|---|---|---|---|---|---|---|")
    ious, mads, subject_ious = [], [], []
    for path in photos:
        rgb = np.ascontiguousarray(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))
        t = time.perf_counter()
        ref = reference.matte(rgb)
        ref_ms = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        got = candidate.matte(rgb)
        got_ms = (time.perf_counter() - t) * 1000
        a, b = ref > 127, got > 127
        union = np.logical_or(a, b).sum()
        iou = np.logical_and(a, b).sum() / union if union else 1.0
        mad = np.abs(ref.astype(np.int16) - got.astype(np.int16)).mean()
        ious.append(iou)
        if a.mean() >= 0.05:  # a photo with a subject by ISNet's account
            subject_ious.append(iou)
        mads.append(mad)
        print(f"| {path.stem} | {rgb.shape[1]}x{rgb.shape[0]} | {iou:.3f} | {mad:.1f} | {a.mean():.2f} | "
              f"{got_ms:.0f} | {ref_ms:.0f} |")
    print(f"| **median** | | **{statistics.median(ious):.3f}** | **{statistics.median(mads):.1f}** | | | |")
    print(f"| **median, photos with a subject** ({len(subject_ious)}) | | **{statistics.median(subject_ious):.3f}** | | | | |")


if __name__ == "__main__":
    main()
