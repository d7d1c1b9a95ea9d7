#!/usr/bin/python3
"""Python's per-frame cost of the non-model steps of a sam2video propagation, as a Python service
would write it (the baseline for libinpaint's video sessions).

Propagates K objects (clicked on frame 0) forward through a video with the tiny modules of
tests/python/video_models.py, using that file's reference loop pieces, and times per frame with
time.perf_counter:
- read: cv2.VideoCapture.read (decoding a BGR frame);
- preprocess: cv2.cvtColor BGR -> RGB, cv2.resize to S x S (INTER_AREA), numpy -> torch, / 255,
  normalise ([1,3,S,S] float32);
- memory: per object, the bank's bookkeeping: gathering the prompted entry and the last N
  propagated ones (nearest first) and torch.cat of each tensor along dim 0, the offset and
  prompted-flag tensors, and appending the new entry to the deque;
- postprocess: per object, logits [1,1,256,256] -> bilinear (F.interpolate, align_corners=False)
  to S x S -> bilinear to the frame's size -> > 0 -> uint8 0/255 -> .numpy();
- total: the sum of the four.
The model calls (encoder, decoder, memory encoder) run, on the real outputs, but are timed apart
("models_ms", not in total). The tiny memory encoder's entry is {"state": [1,8]}; with
--sam2-sized-memory each entry also carries SAM2-sized tensors (maskmem_features and maskmem_pos_enc
[1,64,S/16,S/16], obj_ptr [1,256], made outside the timing), so the torch.cat costs what it would
with the real model.

Without --video it writes a 1920x1080 mp4 (mp4v) of K discs in lanes (video_models.make_clip) to a
temporary directory first.

Usage: /usr/bin/python3 bench/video_baseline.py [--video PATH] [--frames 120] [--size 1024]
  [--objects 1] [--memory-frames 7] [--threads T] [--sam2-sized-memory] [--json OUT]
"""
import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
import video_models as vm  # noqa: E402

STEPS = ("read", "preprocess", "memory", "postprocess")


def sam2_sized(entry, size):
    g = size // 16
    entry = dict(entry)
    entry["maskmem_features"] = torch.randn(1, 64, g, g)
    entry["maskmem_pos_enc"] = torch.randn(1, 64, g, g)
    entry["obj_ptr"] = torch.randn(1, 256)
    return entry


def run(video, frames, size, objects, memory_frames, sam2_sized_memory):
    modules = vm.scripted(size)
    capture = cv2.VideoCapture(str(video))
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    available = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    frames = min(frames, available) if frames > 0 else available
    # the clicks: the lanes' discs on frame 0 (what make_clip draws for this size)
    clicks = [o["start"] for o in vm.lane_objects(objects, width, height, available)]
    banks = [vm.MemoryBank(memory_frames) for _ in range(objects)]
    no_mask, no_mask_flag = torch.zeros(1, 1, 256, 256), torch.zeros(1)
    times = {name: [] for name in STEPS}
    models, present = [], 0
    with torch.inference_mode():
        for frame in range(frames):
            t = {name: 0.0 for name in STEPS}
            model = 0.0
            t0 = time.perf_counter()
            ok, bgr = capture.read()
            t["read"] = time.perf_counter() - t0
            if not ok:
                raise RuntimeError(f"{video}: frame {frame} cannot be read")

            t0 = time.perf_counter()
            image = vm.preprocess(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size)
            t["preprocess"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            features = modules["encoder"](image)
            model += time.perf_counter() - t0

            for k, bank in enumerate(banks):
                prompted = frame == 0
                t0 = time.perf_counter()
                if prompted:
                    coords, labels = vm.prompt_tensors(width, height, size, [(clicks[k][0], clicks[k][1], 1)])
                    memory, offsets, flags = {}, torch.zeros(0), torch.zeros(0)
                else:
                    coords, labels = vm.prompt_tensors(width, height, size)
                    memory, offsets, flags = bank.gather(frame)
                t["memory"] += time.perf_counter() - t0

                t0 = time.perf_counter()
                logits, score, object_score = modules["decoder"](features, memory, offsets, flags, coords, labels,
                                                                no_mask, no_mask_flag)
                entry = modules["memory_encoder"](features, logits, object_score)
                model += time.perf_counter() - t0
                if sam2_sized_memory:
                    entry = sam2_sized(entry, size)

                t0 = time.perf_counter()
                bank.add(frame, entry, prompted)
                t["memory"] += time.perf_counter() - t0

                t0 = time.perf_counter()
                mask = vm.logits_to_mask(logits, size, height, width)
                if float(object_score[0]) <= 0:
                    mask[:] = 0
                t["postprocess"] += time.perf_counter() - t0
                present += int(float(object_score[0]) > 0)
            for name in STEPS:
                times[name].append(t[name] * 1000)
            models.append(model * 1000)
    capture.release()
    totals = [sum(times[name][i] for name in STEPS) for i in range(frames)]
    per_frame = {name: statistics.median(times[name]) for name in STEPS}
    per_frame["total"] = statistics.median(totals)
    return {
        "per_frame_ms": {k: round(v, 3) for k, v in per_frame.items()},
        "mean_ms": {k: round(statistics.fmean(v), 3) for k, v in list(times.items()) + [("total", totals)]},
        "models_ms": round(statistics.median(models), 3),
        "frames": frames,
        "torch_threads": torch.get_num_threads(),
        "video": str(video),
        "width": width,
        "height": height,
        "size": size,
        "objects": objects,
        "memory_frames": memory_frames,
        "sam2_sized_memory": sam2_sized_memory,
        "present_share": round(present / (frames * objects), 3),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", help="an existing video file (default: write a 1920x1080 mp4 first)")
    parser.add_argument("--frames", type=int, default=120, help="frames to propagate (and to write)")
    parser.add_argument("--width", type=int, default=1920, help="the written clip's size")
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--size", type=int, default=1024, help="S, the model input's side")
    parser.add_argument("--objects", type=int, default=1, help="K objects (1..4)")
    parser.add_argument("--memory-frames", type=int, default=7, help="N recent entries per object")
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    parser.add_argument("--sam2-sized-memory", action="store_true", help="memory entries of SAM2's sizes")
    parser.add_argument("--json", help="write the result there")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video
        if video is None:
            video = Path(tmp) / f"clip_{args.width}x{args.height}.mp4"
            t0 = time.perf_counter()
            vm.make_clip(video, args.frames, args.width, args.height, 25.0,
                         vm.lane_objects(args.objects, args.width, args.height, args.frames), keep=False)
            print(f"wrote {video} ({args.frames} frames) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        result = run(video, args.frames, args.size, args.objects, args.memory_frames, args.sam2_sized_memory)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
