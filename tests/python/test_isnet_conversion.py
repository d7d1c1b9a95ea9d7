"""The TorchScript conversion of ISNet (tools/onnx2torchscript.py) against onnxruntime on real photos.

Needs python3-torch, cv2, node and the models of scripts/get-test-models.sh, not the C++ module.
Both runtimes get the same preprocessed tensor: the photo resized to 1024x1024, (x - 128) / 256.
"""
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import model_cache

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT.parent / "shared" / "data" / "inpaint-dev"
PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.png")
SIZE = 1024


def preprocess(path):
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, f"cannot read {path}"
    rgb = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    return ((rgb.astype(np.float32) - 128.0) / 256.0).transpose(2, 0, 1)[None].copy()


def test_torchscript_matches_onnxruntime(tmp_path):
    cache = model_cache.cache_dir() / "isnet"
    onnx_path, pt_path = cache / "isnet-medium.onnx", cache / "isnet-medium.pt"
    model_cache.require(onnx_path, pt_path, model_cache.node_modules() / "onnxruntime-node")
    if shutil.which("node") is None:
        pytest.fail("node is not installed")
    inputs = [preprocess(DATA_DIR / name) for name in PHOTOS]

    # One node process for all photos: the session is built once.
    pairs = []
    for i, x in enumerate(inputs):
        x.astype("<f4").tofile(tmp_path / f"in{i}.f32")
        pairs += [str(tmp_path / f"in{i}.f32"), str(tmp_path / f"out{i}.f32")]
    subprocess.run(["node", str(ROOT / "tools" / "isnet_reference.js"), "forward", str(onnx_path), *pairs,
                    "--threads", "2", "--node-modules", str(model_cache.node_modules())], check=True, timeout=600)

    torch.set_num_threads(2)
    model = torch.jit.load(str(pt_path)).eval()
    failures = []
    for i, (name, x) in enumerate(zip(PHOTOS, inputs)):
        with torch.inference_mode():
            ours = model(torch.from_numpy(x)).numpy().reshape(SIZE, SIZE)
        ref = np.fromfile(tmp_path / f"out{i}.f32", dtype="<f4").reshape(SIZE, SIZE)
        diff = np.abs(ours - ref)
        a, b = ours >= 0.5, ref >= 0.5
        union = np.logical_or(a, b).sum()
        iou = np.logical_and(a, b).sum() / union if union else 1.0
        print(f"{name}: max abs diff {diff.max():.3g}, mean {diff.mean():.3g}, IoU@0.5 {iou:.6f}, "
              f"foreground {b.mean():.3f}")
        if not (diff.max() <= 2e-3 and diff.mean() <= 1e-4 and iou >= 0.999):
            failures.append(name)
    assert not failures, f"TorchScript and onnxruntime disagree on {failures}"
