#!/usr/bin/python3
"""Times one 1024x1024 ISNet forward on the CPU: onnxruntime-node against the TorchScript conversion.

Variants, all with 2 threads (torch.set_num_threads / intraOpNumThreads), median of --runs forwards
after one warm-up forward:
  onnxruntime-node   the fp16 ONNX file through tools/isnet_reference.js --repeat
  torchscript plain  tools/onnx2torchscript.py's traced module, not frozen (converted here)
  torchscript frozen torch.jit.freeze of it (what scripts/get-test-models.sh saves)
  optimize_for_inference  torch.jit.optimize_for_inference of the frozen module
Needs the models of scripts/get-test-models.sh. Prints a Markdown table, then one JSON line.

Usage: /usr/bin/python3 bench/bench_isnet_forward.py [--runs 5] [--threads 2]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests" / "python"))
import onnx2torchscript  # noqa: E402
import model_cache  # noqa: E402


def time_torch(module, x, runs):
    with torch.inference_mode():
        module(x)  # warm-up (also the profiling run of the TorchScript executor)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            module(x)
            times.append((time.perf_counter() - t0) * 1e3)
    return times


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    onnx_path = model_cache.cache_dir() / "isnet" / "isnet-medium.onnx"
    if not onnx_path.exists():
        sys.exit(f"bench_isnet_forward: {onnx_path} missing (run scripts/get-test-models.sh)")
    torch.set_num_threads(args.threads)
    x = ((torch.rand(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(0)) * 255).round() - 128) / 256

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.f32", Path(tmp) / "out.f32"
        x.numpy().astype("<f4").tofile(src)
        out = subprocess.run(["node", str(ROOT / "tools" / "isnet_reference.js"), "forward", str(onnx_path), str(src),
                              str(dst), "--threads", str(args.threads), "--repeat", str(args.runs),
                              "--node-modules", str(model_cache.node_modules())],
                             check=True, capture_output=True, text=True).stdout
        results["onnxruntime-node 1.17.0 (fp16 ONNX)"] = json.loads(out)["runs_ms"]

    _, plain = onnx2torchscript.convert(onnx_path, [1, 3, 1024, 1024])
    results["torchscript plain"] = time_torch(plain, x, args.runs)
    frozen = torch.jit.freeze(plain)
    results["torchscript frozen"] = time_torch(frozen, x, args.runs)
    optimized = torch.jit.optimize_for_inference(torch.jit.freeze(plain))
    results["torchscript optimize_for_inference"] = time_torch(optimized, x, args.runs)

    print(f"ISNet 1024x1024 forward, CPU, {args.threads} threads, torch {torch.__version__}, "
          f"{os.cpu_count()} cores, median of {args.runs} after warm-up\n")
    print("| variant | median ms | runs ms |")
    print("|---|---:|---|")
    for name, runs in results.items():
        print(f"| {name} | {statistics.median(runs):.0f} | {', '.join(f'{t:.0f}' for t in runs)} |")
    print(json.dumps({"threads": args.threads, "torch": torch.__version__,
                      "median_ms": {k: statistics.median(v) for k, v in results.items()}, "runs_ms": results}))


if __name__ == "__main__":
    main()
