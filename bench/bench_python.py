#!/usr/bin/python3
"""The Python module's overhead over the native call, in the same process: wall time of
inpaint.run() against the total the C++ pipeline measured inside that same call.
Usage: PYTHONPATH=build/python bench_python.py PHOTO.jpg MASK.png [runs=7]   prints JSON (ms)."""
import json
import statistics
import sys
import time

import inpaint

photo = open(sys.argv[1], "rb").read()
mask = open(sys.argv[2], "rb").read()
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 7
model = inpaint.Model("telea")
walls, natives = [], []
for i in range(runs + 1):
    start = time.perf_counter()
    result = inpaint.run(model, photo, mask, format="jpeg", quality=90, preview_long_side=1024, feather_px=10)
    wall = (time.perf_counter() - start) * 1000
    if i:  # the first run warms caches
        walls.append(wall)
        natives.append(result.timings["total"])
overheads = [w - n for w, n in zip(walls, natives)]
print(json.dumps({
    "runs": runs,
    "python_wall": round(statistics.median(walls), 1),
    "native_total": round(statistics.median(natives), 1),
    "overhead_ms": round(statistics.median(overheads), 2),
    "overhead_pct": round(100 * statistics.median(o / n for o, n in zip(overheads, natives)), 2),
}))
