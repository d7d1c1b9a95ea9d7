#!/usr/bin/python3
"""libinpaint's video sessions against the same steps in Python, in one run.

Writes a clip of K discs in lanes (tests/python/video_models.py) and propagates them from clicks on
frame 0 through it twice, alternating, `--repeats` times each:
- library: inpaint.VideoSource + VideoSegmenter("sam2video:...") + session.propagate(), the tiny
  modules of video_models.py at S x S. Its own per-frame cost is FrameMasks.timings
  total - model (decode, scaling and normalising, the encoding cache, the memory bank's bookkeeping,
  logits -> full-resolution masks), the model calls excluded;
- Python: bench/video_baseline.py's loop (cv2.VideoCapture, cvtColor, resize, torch normalise, the
  bank's torch.cat, F.interpolate twice, threshold, numpy), the model calls excluded likewise.
Reports medians per frame, the ratio library / Python, and the library's frames per second for a
whole propagation (the model included, as a user sees it).

--rss-frames N: then, in a fresh process, propagates one object through an N-frame clip (at
--rss-width x --rss-height) with frame and encoding caches of --rss-cache-mib each (the defaults:
256), samples the process's resident memory every 50 frames, and at the end calls glibc's
malloc_trim(0) to tell memory the allocator kept from memory still in use.

Usage: /usr/bin/python3 bench/video_overhead.py [--frames 120] [--width 1920 --height 1080]
  [--size 1024] [--objects 2] [--repeats 3] [--device cpu] [--rss-frames 2000] [--json OUT]
Needs the built module: PYTHONPATH=build/python.
"""
import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
sys.path.insert(0, str(ROOT / "bench"))
import inpaint  # noqa: E402
import video_baseline  # noqa: E402
import video_models as vm  # noqa: E402


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def library_run(video, spec, objects, width, height, frames):
    segmenter = inpaint.VideoSegmenter(spec)
    source = inpaint.VideoSource(str(video))
    session = segmenter.open_session(source)
    for k, lane in enumerate(vm.lane_objects(objects, width, height, source.info.frame_count)):
        session.add_prompt(0, k, points=[(lane["start"][0], lane["start"][1])])
    own, stages, present = [], {}, 0
    start = time.perf_counter()
    with session.propagate(max_frames=frames) as run:
        for f in run:
            t = f.timings
            if f.frame > 0:  # frame 0 is the clicked one: its result is kept, nothing runs
                own.append(t["total"] - t["model"])
                for name in ("read", "encode", "decode", "memory", "postprocess", "model", "total"):
                    stages.setdefault(name, []).append(t[name])
            present += sum(o.present for o in f.objects)
    wall = time.perf_counter() - start
    count = run.summary.frames
    return {
        "own_ms": statistics.median(own),
        "stages_ms": {k: round(statistics.median(v), 3) for k, v in stages.items()},
        "fps": count / wall,
        "frames": count,
        "present_share": present / (count * objects),
    }


def rss_run(spec, frames, width, height, cache_mib, tmp):
    video = Path(tmp) / f"long_{width}x{height}.mp4"
    vm.make_clip(video, frames, width, height, 25.0, vm.lane_objects(1, width, height, frames), keep=False)
    segmenter = inpaint.VideoSegmenter(spec)
    source = inpaint.VideoSource(str(video), cache_bytes=cache_mib << 20)
    session = segmenter.open_session(source, encoding_cache_bytes=cache_mib << 20)
    lane = vm.lane_objects(1, width, height, frames)[0]
    session.add_prompt(0, 0, points=[(lane["start"][0], lane["start"][1])])
    samples, bank = [], []
    start = time.perf_counter()
    for f in session.propagate():
        if f.frame % 50 == 0:
            samples.append((f.frame, round(rss_mib(), 1)))
            bank.append(session.memory())
    wall = time.perf_counter() - start
    memory = session.memory()
    before_trim = rss_mib()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return {
        "frames": frames,
        "cache_mib_each": cache_mib,
        "rss_before_trim_mib": round(before_trim, 1),
        "rss_after_trim_mib": round(rss_mib(), 1),
        "size": f"{width}x{height}",
        "fps": frames / wall,
        "rss_mib": samples,
        "rss_first_mib": samples[0][1],
        "rss_last_mib": samples[-1][1],
        "rss_max_mib": max(s[1] for s in samples),
        "rss_growth_after_200_mib": round(samples[-1][1] - samples[min(4, len(samples) - 1)][1], 1),
        "memory_bank_max": max(m["memory_bank"] for m in bank),
        "session_memory_end": memory,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--objects", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rss-frames", type=int, default=0)
    parser.add_argument("--rss-width", type=int, default=640)
    parser.add_argument("--rss-height", type=int, default=360)
    parser.add_argument("--rss-cache-mib", type=int, default=256)
    parser.add_argument("--rss-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.rss_only:
        with tempfile.TemporaryDirectory() as tmp:
            spec = vm.spec(vm.save(Path(tmp) / "models", args.size), args.size, device=args.device)
            print(json.dumps(rss_run(spec, args.rss_frames, args.rss_width, args.rss_height, args.rss_cache_mib, tmp)))
        return
    result = {"command": " ".join(sys.argv), "torch_threads": None}
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "clip.mp4"
        vm.make_clip(video, args.frames, args.width, args.height, 25.0,
                     vm.lane_objects(args.objects, args.width, args.height, args.frames), keep=False)
        spec = vm.spec(vm.save(Path(tmp) / "models", args.size), args.size, device=args.device)
        library, python = [], []
        for _ in range(args.repeats):
            library.append(library_run(video, spec, args.objects, args.width, args.height, args.frames))
            python.append(video_baseline.run(video, args.frames, args.size, args.objects, 7, False))
        result["torch_threads"] = python[0]["torch_threads"]
        own = statistics.median(r["own_ms"] for r in library)
        base = statistics.median(r["per_frame_ms"]["total"] for r in python)
        result.update({
            "clip": f"{args.width}x{args.height}, {args.frames} frames, {args.objects} objects, S={args.size}",
            "library_own_ms": round(own, 2),
            "python_own_ms": round(base, 2),
            "ratio": round(own / base, 3),
            "library_stages_ms": library[len(library) // 2]["stages_ms"],
            "python_stages_ms": python[len(python) // 2]["per_frame_ms"],
            "python_models_ms": statistics.median(r["models_ms"] for r in python),
            "library_fps": round(statistics.median(r["fps"] for r in library), 2),
            "library_present_share": library[0]["present_share"],
            "runs": {"library_own_ms": [round(r["own_ms"], 2) for r in library],
                     "python_own_ms": [r["per_frame_ms"]["total"] for r in python]},
        })
    if args.rss_frames:
        # A process of its own: nothing left over from the runs above.
        out = subprocess.run([sys.executable, __file__, "--rss-only", "--rss-frames", str(args.rss_frames),
                              "--rss-width", str(args.rss_width), "--rss-height", str(args.rss_height),
                              "--rss-cache-mib", str(args.rss_cache_mib), "--size", str(args.size),
                              "--device", args.device], check=True, capture_output=True, text=True).stdout
        result["rss"] = json.loads(out)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
