#!/usr/bin/python3
"""Mask clean-up at full resolution: inpaint.clean_mask against the same operations written
with OpenCV-python and numpy as the seed worker does them (threshold, open, close, drop islands
under 64 px, fill enclosed holes under 64 px, dilate 15 px), on the same decoded mask, in the
same process. Usage: PYTHONPATH=build/python bench_mask.py MASK.png [runs=7]   prints JSON (ms)."""
import json
import statistics
import sys
import time

import cv2
import numpy as np

import inpaint


def opencv_python(m):
    m = (m > 127).astype(np.uint8) * 255
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    m = cv2.morphologyEx(cv2.morphologyEx(m, cv2.MORPH_OPEN, k), cv2.MORPH_CLOSE, k)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    small = np.where(stats[:, cv2.CC_STAT_AREA] < 64)[0]
    small = small[small > 0]
    if len(small):
        m[np.isin(lab, small)] = 0
    inv = 255 - m
    n, lab, stats, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    h, w = m.shape
    x, y, bw, bh, area = (stats[:, i] for i in range(5))
    inner = (area < 64) & (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h)
    inner[0] = False
    holes = np.where(inner)[0]
    if len(holes):
        m[np.isin(lab, holes)] = 255
    return cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (31, 31)))


def median_ms(f, runs):
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        out = f()
        if i:
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), out


mask = cv2.imread(sys.argv[1], cv2.IMREAD_GRAYSCALE)
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
py_ms, py_out = median_ms(lambda: opencv_python(mask), runs)
lib_ms, lib_out = median_ms(lambda: inpaint.clean_mask(mask), runs)
print(json.dumps({
    "size": f"{mask.shape[1]}x{mask.shape[0]}",
    "opencv_python": round(py_ms, 1),
    "inpaint_clean_mask": round(lib_ms, 1),
    "speedup": round(py_ms / lib_ms, 2),
    "differing_pixels": int((py_out != lib_out).sum()),
}))
