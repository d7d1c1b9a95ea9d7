#!/usr/bin/python3
"""The torchscript model's overhead against the Python worker's way of calling the same module.

Builds a tiny LaMa-contract module with python3-torch, times the library around it
(build/bin/bench_torchscript, LibTorch in C++) and the same module called from Python as the
worker does (numpy in, symmetric pad, forward, crop, round to uint8, paste the hole), in the same
run, and prints a Markdown table.

Usage: /usr/bin/python3 bench/bench_torchscript.py [--reps N] [--calls N] [--bench build/bin/bench_torchscript]
"""
import argparse
import json
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


class Tiny(torch.nn.Module):
    """Cheap on purpose: what is measured is everything around the forward call."""

    def forward(self, image, mask):
        return image * (1.0 - mask) + mask * 0.5


def worker_fill(module, image, mask):
    """The Python worker's path: numpy -> tensor, pad to 8, forward, crop, uint8, paste."""
    h, w = mask.shape
    ph, pw = -h % 8, -w % 8
    img = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="symmetric")
    msk = np.pad(mask, ((0, ph), (0, pw)), mode="symmetric")
    with torch.inference_mode():
        x = torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0).float() / 255.0
        m = torch.from_numpy((msk > 127).astype(np.float32)).unsqueeze(0).unsqueeze(0)
        y = module(x, m)[:, :, :h, :w]
        out = (y.clamp(0, 1) * 255).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
    hole = mask > 127
    result = image.copy()
    result[hole] = out[hole]
    return result


def make_input(w, h):
    y, x = np.mgrid[0:h, 0:w]
    image = np.stack([(x * 7 + y) % 256, (y * 3) % 256, (x ^ y) % 256], axis=-1).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4 + 1:h // 2, w // 4 + 1:w // 2] = 255
    return image, mask


def timed(f, *args):
    t = time.perf_counter()
    f(*args)
    return (time.perf_counter() - t) * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--calls", type=int, default=3000, help="calls of varying sizes for the memory trace")
    parser.add_argument("--bench", default=str(ROOT / "build" / "bin" / "bench_torchscript"))
    args = parser.parse_args()
    # One intra-op thread on both sides: the machine's cores are shared, and equal settings keep
    # the comparison about the code around the module.
    torch.set_num_threads(1)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # The same executor settings as the library (and the seed workers) use.
    torch._C._jit_set_profiling_mode(False)
    torch._C._jit_set_profiling_executor(False)
    torch._C._jit_override_can_fuse_on_cpu(False)
    torch._C._jit_set_texpr_fuser_enabled(False)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "tiny.pt")
        torch.jit.script(Tiny()).save(path)
        lib = json.loads(subprocess.run([args.bench, path, str(args.reps), str(args.calls)], check=True, capture_output=True,
                                        text=True, env=env).stdout)
        module = torch.jit.load(path).eval()
        py, py_faults = {}, {}
        for side in (512, 2048):
            image, mask = make_input(side, side)
            worker_fill(module, image, mask)
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            py[side] = float(np.median([timed(worker_fill, module, image, mask) for _ in range(args.reps)]))
            py_faults[side] = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / args.reps
        image, mask = make_input(1001, 703)
        py_first = timed(worker_fill, module, image, mask)
        py_second = timed(worker_fill, module, image, mask)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.reps} calls\n")
    print("| | libinpaint (C++) | Python worker path | library / Python |")
    print("|---|---|---|---|")
    for side in (512, 2048):
        ours = lib[f"call_{side}_ms"]
        print(f"| call at {side}² | {ours:.1f} ms | {py[side]:.1f} ms | {ours / py[side]:.2f} |")
    for side in (512, 2048):
        print(f"| minor page faults per call at {side}² | {lib[f'faults_{side}']:.0f} | {py_faults[side]:.0f} | |")
    first, second = lib["new_size_first_ms"], lib["new_size_second_ms"]
    print(f"| 1001×703, first call at the new size | {first:.1f} ms | {py_first:.1f} ms | |")
    print(f"| 1001×703, second call | {second:.1f} ms | {py_second:.1f} ms | |")
    print(f"| first / second at the new size | {first / second:.2f} | {py_first / py_second:.2f} | |")
    rss, calls = lib["rss_mb"], lib["rss_calls"]
    points = " → ".join(f"{v:.1f}" for v in rss)
    print(f"| resident memory at 0, 10%, ..., 100% of {calls} calls of varying sizes | {points} MB | | |")
    # Point k was taken after k * (calls // 10) calls; the slope runs from the middle point to the last.
    step, last = max(1, calls // 10), len(rss) - 1
    slope_kb = (rss[last] - rss[last // 2]) * 1024 / ((last - last // 2) * step)
    print(f"| resident memory slope over the last half | {slope_kb:.2f} KB per call | | |")
    rss = lib["rss_threads_mb"]
    points = " → ".join(f"{v:.1f}" for v in rss)
    print(f"| the same {calls} calls from {lib['rss_threads']} threads sharing the model | {points} MB | | |")
    slope_kb = (rss[last] - rss[last // 2]) * 1024 / ((last - last // 2) * step)
    print(f"| slope over the last half, {lib['rss_threads']} threads | {slope_kb:.2f} KB per call | | |")
    print(f"\nload: {lib['load_ms']:.1f} ms")


if __name__ == "__main__":
    main()
