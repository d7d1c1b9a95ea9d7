"""A real trained network through the library: ISNet (imgly's fp16 build, AGPL, fetched at test
time by scripts/get-test-models.sh into a cache outside the repository) as the `salient` matter,
checked against onnxruntime-node running the original ONNX file.

1. The forward alone: the same preprocessed 1024x1024 tensor into both; the library's map against
   onnxruntime's output.
2. End to end: the library's alpha for a photo file (its own decode, resize, normalisation and
   upsampling) against tools/isnet_reference.js doing imgly's preprocessing around onnxruntime.

Skipped when the files are missing, unless INPAINT_REQUIRE_TEST_MODELS=1 (CI)."""
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

import inpaint
from model_cache import cache_dir, node_modules, require

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("INPAINT_DATA_DIR", ROOT.parent / "shared" / "data")) / "inpaint-dev"
PHOTOS = ["astronaut", "chelsea", "coffee", "rocket"]

@pytest.fixture(scope="module")
def isnet():
    onnx, pt = cache_dir() / "isnet" / "isnet-medium.onnx", cache_dir() / "isnet" / "isnet-medium.pt"
    require(onnx, pt, node_modules() / "onnxruntime-node")
    matter = inpaint.load_matter(f"salient:path={pt},preset=isnet-imgly,device=cpu,threads=2")
    return onnx, matter


def node(*args):
    env = {**os.environ, "INPAINT_NODE_MODULES": str(node_modules())}
    subprocess.run(["node", str(ROOT / "tools" / "isnet_reference.js"), *map(str, args)], check=True, env=env,
                   capture_output=True, text=True)


def photo(name):
    bgr = cv2.imread(str(DATA_DIR / f"{name}.png"), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def iou(a, b):
    both, either = np.logical_and(a, b).sum(), np.logical_or(a, b).sum()
    return both / either if either else 1.0


def test_forward_matches_onnxruntime(isnet, tmp_path):
    onnx, matter = isnet
    pairs, squares = [], []
    for name in PHOTOS:
        square = np.ascontiguousarray(cv2.resize(photo(name), (1024, 1024), interpolation=cv2.INTER_AREA))
        squares.append(square)
        tensor = ((square.astype(np.float32) - 128) / 256).transpose(2, 0, 1)[None]
        src, dst = tmp_path / f"{name}.f32", tmp_path / f"{name}.out.f32"
        np.ascontiguousarray(tensor, dtype="<f4").tofile(src)
        pairs += [src, dst]
    node("forward", onnx, *pairs)
    for name, square in zip(PHOTOS, squares):
        ours = matter.predict(square)  # a 1024x1024 photo is not resized: the same tensor goes in
        assert ours.shape == (1024, 1024) and ours.dtype == np.float32
        theirs = np.clip(np.fromfile(tmp_path / f"{name}.out.f32", dtype="<f4").reshape(1024, 1024), 0, 1)
        diff = np.abs(ours - theirs)
        overlap = iou(ours > 0.5, theirs > 0.5)
        print(f"{name}: max {diff.max():.2e} mean {diff.mean():.2e} IoU {overlap:.5f} object {np.mean(theirs > 0.5):.3f}")
        assert diff.max() <= 2e-3, name
        assert diff.mean() <= 1e-4, name
        assert overlap >= 0.999, name


def test_photo_file_end_to_end_matches_imgly(isnet, tmp_path):
    onnx, matter = isnet
    for name in PHOTOS:
        path = DATA_DIR / f"{name}.png"
        rgb = photo(name)
        h, w = rgb.shape[:2]
        raw, out = tmp_path / f"{name}.rgb", tmp_path / f"{name}.u8"
        rgb.tofile(raw)
        node("alpha", onnx, raw, w, h, out)
        theirs = np.fromfile(out, dtype=np.uint8).reshape(h, w)
        result = inpaint.remove_background(matter, path.read_bytes(), effects=[])
        ours = result.alpha
        assert ours.shape == (h, w)
        mad = np.abs(ours.astype(np.int16) - theirs.astype(np.int16)).mean()
        overlap = iou(ours > 127, theirs > 127)
        print(f"{name}: IoU {overlap:.4f} mean |diff| {mad:.3f}/255 model {result.timings['model']:.0f} ms")
        assert overlap >= 0.98, name
        assert mad <= 2.0, name
