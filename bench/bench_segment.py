#!/usr/bin/python3
"""The segmenter's own cost around a SAM-contract model, against the same steps in Python.

Saves a tiny SAM1-style encoder (16x average pooling: its forward is nearly free) and decoder
(a disc of logits around the first point, 3 candidates), then times, in the same run:
- build/bin/bench_segment: libinpaint's `sam` segmenter on a 12 MP photo (preprocessing +
  encoder; coordinate transforms + decoder + logits to a 12 MP mask + box), and the store path
  (encode-and-decode against decode-from-cache, per store tier);
- the same module called from Python the way SAM's reference predictor does it (PIL resize of
  the long side to 1024, torch normalise and pad; coordinates scaled; decoder; postprocess_masks:
  bilinear 256 -> 1024, crop, bilinear to the photo's size, > 0; numpy box), plus an
  OpenCV-python variant of the postprocessing (cv2.resize twice) in case it is faster.

Usage: /usr/bin/python3 bench/bench_segment.py [--reps N] [--redis-port P]
  [--bench build/bin/bench_segment]   (prints a Markdown table)
"""
import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SIZE = 1024
MEAN = torch.tensor([123.675, 116.28, 103.53]).view(-1, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(-1, 1, 1)


class TinyEncoder(torch.nn.Module):
    def forward(self, image: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"image_embeddings": F.avg_pool2d(image, 16)}


class TinyDecoder(torch.nn.Module):
    """Logits r/4 - distance (in the 256 grid) around the first point, for three radii; negated
    for a negative click, so that the mask is everything but the disc (the dense case)."""

    def forward(self, features: Dict[str, torch.Tensor], point_coords: torch.Tensor, point_labels: torch.Tensor,
                mask_input: torch.Tensor, has_mask_input: torch.Tensor):
        grid = torch.arange(256, dtype=torch.float32) + 0.5
        cx = point_coords[0, 0, 0] / 4.0
        cy = point_coords[0, 0, 1] / 4.0
        d = torch.sqrt((grid.view(1, 256) - cx) ** 2 + (grid.view(256, 1) - cy) ** 2)
        radii = torch.tensor([40.0, 80.0, 160.0]).view(3, 1, 1)
        logits = (radii / 4.0 - d.unsqueeze(0)).unsqueeze(0)
        if bool(point_labels[0, 0] == 0):
            logits = -logits
        scores = torch.tensor([[0.7, 0.9, 0.8]])
        return logits, scores


def make_photo(w, h):
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x // 7) % 256, (y // 5) % 256, ((x + y) // 9) % 256], axis=-1)
    return np.clip(base + rng.integers(-8, 9, base.shape), 0, 255).astype(np.uint8)


def py_encode(encoder, image):
    """SAM1 predictor.set_image: ResizeLongestSide (PIL), normalise, pad, encoder."""
    h, w = image.shape[:2]
    scale = SIZE / max(h, w)
    nh, nw = int(h * scale + 0.5), int(w * scale + 0.5)
    resized = np.array(Image.fromarray(image).resize((nw, nh), Image.BILINEAR))
    with torch.inference_mode():
        x = torch.as_tensor(resized).permute(2, 0, 1).contiguous().float()
        x = (x - MEAN) / STD
        x = F.pad(x, (0, SIZE - nw, 0, SIZE - nh)).unsqueeze(0)
        return encoder(x), (nh, nw)


def py_postprocess_torch(logits, input_size, original_size):
    masks = F.interpolate(logits, (SIZE, SIZE), mode="bilinear", align_corners=False)
    masks = masks[..., : input_size[0], : input_size[1]]
    masks = F.interpolate(masks, original_size, mode="bilinear", align_corners=False)
    return (masks > 0)[0].numpy()


def py_postprocess_cv2(logits, input_size, original_size):
    out = []
    for m in logits[0].numpy():
        up = cv2.resize(m, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)[: input_size[0], : input_size[1]]
        out.append(cv2.resize(up, (original_size[1], original_size[0]), interpolation=cv2.INTER_LINEAR) > 0)
    return np.stack(out)


def box_of(mask):
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    return (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1) if len(xs) else (0, 0, 0, 0)


def py_segment(decoder, features, input_size, original_size, point, postprocess, positive=True):
    h, w = original_size
    coords = torch.tensor([[[point[0] * input_size[1] / w, point[1] * input_size[0] / h], [0.0, 0.0]]])
    labels = torch.tensor([[1.0 if positive else 0.0, -1.0]])
    with torch.inference_mode():
        logits, scores = decoder(features, coords, labels, torch.zeros(1, 1, 256, 256), torch.zeros(1))
    best = int(scores[0].argmax())
    masks = postprocess(logits[:, best:best + 1], input_size, original_size)
    return masks[0], box_of(masks[0]), float(scores[0, best])


def median_ms(reps, f):
    f()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--redis-port", type=int, default=0)
    parser.add_argument("--bench", default=str(ROOT / "build" / "bin" / "bench_segment"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    torch._C._jit_set_profiling_mode(False)
    torch._C._jit_set_profiling_executor(False)
    w, h = 4032, 3024
    point = (1234.0, 987.0)
    with tempfile.TemporaryDirectory() as tmp:
        enc_path, dec_path, photo_path = (str(Path(tmp) / n) for n in ("enc.pt", "dec.pt", "photo.png"))
        torch.jit.script(TinyEncoder()).save(enc_path)
        torch.jit.script(TinyDecoder()).save(dec_path)
        photo = make_photo(w, h)
        cv2.imwrite(photo_path, cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        cmd = [args.bench, enc_path, dec_path, photo_path, str(args.reps), str(point[0]), str(point[1]),
               str(args.redis_port), str(Path(tmp) / "store")]
        lib = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)

        encoder = torch.jit.load(enc_path).eval()
        decoder = torch.jit.load(dec_path).eval()
        features, input_size = py_encode(encoder, photo)
        py = {
            "encode": median_ms(args.reps, lambda: py_encode(encoder, photo)),
            "segment_torch": median_ms(args.reps, lambda: py_segment(decoder, features, input_size, (h, w), point,
                                                                     py_postprocess_torch)),
            "segment_cv2": median_ms(args.reps, lambda: py_segment(decoder, features, input_size, (h, w), point,
                                                                   py_postprocess_cv2)),
            "dense_torch": median_ms(args.reps, lambda: py_segment(decoder, features, input_size, (h, w), point,
                                                                   py_postprocess_torch, False)),
            "dense_cv2": median_ms(args.reps, lambda: py_segment(decoder, features, input_size, (h, w), point,
                                                                 py_postprocess_cv2, False)),
        }
        # The same mask on both sides, or the comparison means nothing.
        ours = cv2.imread(lib["mask_path"], cv2.IMREAD_GRAYSCALE) > 127
        theirs, _, _ = py_segment(decoder, features, input_size, (h, w), point, py_postprocess_torch)
        differing = int(np.count_nonzero(ours != theirs))
        ours = cv2.imread(lib["dense_mask_path"], cv2.IMREAD_GRAYSCALE) > 127
        theirs, _, _ = py_segment(decoder, features, input_size, (h, w), point, py_postprocess_torch, False)
        differing_dense = int(np.count_nonzero(ours != theirs))
        dense_share = float(theirs.mean())

    py_segment_best = min(py["segment_torch"], py["segment_cv2"])
    py_dense_best = min(py["dense_torch"], py["dense_cv2"])
    print(f"torch {torch.__version__}, 1 intra-op thread, 4032x3024 photo, median of {args.reps} calls\n")
    print("| step | libinpaint (C++) | Python (SAM reference way) | library / Python |")
    print("|---|---|---|---|")
    print(f"| encode: resize to 1024, normalise, pad, tiny encoder | {lib['encode_ms']:.1f} ms | "
          f"{py['encode']:.1f} ms | {lib['encode_ms'] / py['encode']:.2f} |")
    print(f"| segment: transform point, tiny decoder, 256² logits → 12 MP mask, box | {lib['segment_ms']:.1f} ms | "
          f"{py_segment_best:.1f} ms (torch {py['segment_torch']:.1f}, cv2 {py['segment_cv2']:.1f}) | "
          f"{lib['segment_ms'] / py_segment_best:.2f} |")
    print(f"| the same, dense mask (a negative click: {dense_share:.0%} of the photo) | {lib['segment_dense_ms']:.1f} ms | "
          f"{py_dense_best:.1f} ms (torch {py['dense_torch']:.1f}, cv2 {py['dense_cv2']:.1f}) | "
          f"{lib['segment_dense_ms'] / py_dense_best:.2f} |")
    print(f"\nlibrary segment split: decoder {lib['decode_ms']:.2f} ms, postprocess {lib['postprocess_ms']:.1f} ms; "
          f"pixels differing from SAM's postprocess_masks: {differing} (dense: {differing_dense}) of {w * h}")
    print("\n| store | encode + decode (miss) | decode from the store (hit) | hit / miss |")
    print("|---|---|---|---|")
    for row in lib["stores"]:
        print(f"| {row['store']} | {row['miss_ms']:.1f} ms | {row['hit_ms']:.1f} ms | "
              f"{row['hit_ms'] / row['miss_ms']:.2f} |")


if __name__ == "__main__":
    main()
