"""The `inpaint` command-line tool, driven as a user would: files in, files out, exit codes."""
import json
import os
import struct
import signal
import subprocess
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from signals import wait_for_handler

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(os.environ.get("INPAINT_CLI", ROOT / "build" / "bin" / "inpaint"))

pytestmark = pytest.mark.skipif(not CLI.exists(), reason=f"{CLI} is not built")


def run(*args):
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=120)


def photo(h=240, w=320):
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 3 + y) % 256, (y * 5 + 40) % 256, ((x ^ y) * 7) % 256], axis=-1)
    return img.astype(np.uint8)


def disc(h=240, w=320, cx=160, cy=120, r=30, value=255):
    m = np.zeros((h, w), np.uint8)
    cv2.circle(m, (cx, cy), r, int(value), -1)
    return m


def write_rgb(path, rgb):
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


def write_mask(path, mask):
    assert cv2.imwrite(str(path), mask)
    return path


def png_header(width, height):
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


@pytest.fixture
def files(tmp_path):
    image = write_rgb(tmp_path / "photo.png", photo())
    mask = write_mask(tmp_path / "mask.png", disc())
    return tmp_path, image, mask


def assert_clean_failure(result, out_dir, needle):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("inpaint: error: ")
    assert needle in lines[0], lines[0]
    leftovers = [p.name for p in out_dir.iterdir() if p.name.startswith(("out", ".tmp-"))]
    assert leftovers == [], leftovers


def test_version_and_models():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("inpaint ")
    r = run("models")
    names = [line.split("\t")[0] for line in r.stdout.splitlines()]
    assert {"patchmatch", "telea", "ns"} <= set(names)


def test_run_writes_output_preview_and_json(files):
    d, image, mask = files
    labels = d / "labels.json"
    labels.write_text(json.dumps({"surface": "grass", "detail": "patchy grass", "confidence": 0.9}))
    r = run("run", "--image", image, "--mask", mask, "--out", d / "out.png", "--labels", labels,
            "--preview", d / "out_preview.jpg", "--preview-size", 160, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["model"].startswith("patchmatch:")
    assert report["prompt"].startswith("patchy grass, ")
    assert report["prompt_source"] == "labels"
    assert set(report["timings_ms"]) == {"decode", "orient", "mask", "clean", "model", "composite", "encode", "preview", "total"}
    out = cv2.imread(str(d / "out.png"))[:, :, ::-1]
    preview = cv2.imread(str(d / "out_preview.jpg"))
    assert out.shape == (240, 320, 3) and preview.shape == (120, 160, 3)
    # Byte for byte outside the hole grown by dilation (15) and feather (8).
    far = disc(r=30 + 15 + 8 + 2) == 0
    assert np.array_equal(out[far], photo()[far])
    assert not np.array_equal(out[120, 160], photo()[120, 160])


def test_surface_strategy_model_and_fallback_prompt(files):
    d, image, mask = files
    r = run("run", "--image", image, "--mask", mask, "--out", d / "out.jpg", "--surface", "lava",
            "--model", "ns:radius=3", "--strategy", "crop", "--quality", 70, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["prompt_source"] == "fallback" and "lava" in report["prompt_reason"]
    assert report["model"] == "ns:radius=3" and report["strategy"] == "crop"
    assert (d / "out.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_all_zero_mask_returns_input_unchanged(files):
    d, image, _ = files
    empty = write_mask(d / "empty.png", np.zeros((240, 320), np.uint8))
    r = run("run", "--image", image, "--mask", empty, "--out", d / "out.png", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["mask_empty"] is True
    assert (d / "out.png").read_bytes() == image.read_bytes()


def test_all_255_and_non_binary_masks(files):
    d, image, _ = files
    full = write_mask(d / "full.png", np.full((240, 320), 255, np.uint8))
    assert run("run", "--image", image, "--mask", full, "--out", d / "telea_full.png", "--model", "telea").returncode == 0
    # The exemplar default has nothing to copy from: a clear error, no output.
    assert_clean_failure(run("run", "--image", image, "--mask", full, "--out", d / "out_full2.png"), d,
                         "nothing to copy from")
    faint = write_mask(d / "faint.png", disc(value=100))  # below the threshold: nothing to fill
    r = run("run", "--image", image, "--mask", faint, "--out", d / "out_faint.png", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["mask_empty"] is True


@pytest.mark.parametrize("case", ["empty", "truncated_jpeg", "truncated_png", "not_image", "zero_size", "huge_header"])
def test_bad_images(files, case):
    d, image, mask = files
    jpeg = cv2.imencode(".jpg", photo())[1].tobytes()
    png = image.read_bytes()
    data, needle = {
        "empty": (b"", "empty"),
        "truncated_jpeg": (jpeg[: len(jpeg) // 2], "JPEG"),
        "truncated_png": (png[: len(png) // 2], "PNG"),
        "not_image": (b"this is a text file, not a photo\n" * 10, "not a PNG or JPEG"),
        "zero_size": (png_header(0, 240), "zero width or height"),
        "huge_header": (png_header(100000, 100000), "above the limit"),
    }[case]
    bad = d / "bad.img"
    bad.write_bytes(data)
    assert_clean_failure(run("run", "--image", bad, "--mask", mask, "--out", d / "out.png"), d, needle)


def test_mask_of_another_size(files):
    d, image, _ = files
    small = write_mask(d / "small.png", disc(120, 160, 80, 60, 15))
    assert_clean_failure(run("run", "--image", image, "--mask", small, "--out", d / "out.png"), d, "160x120")
    r = run("run", "--image", image, "--mask", small, "--out", d / "out.png", "--resize-mask")
    assert r.returncode == 0, r.stderr


def test_unknown_model_unwritable_path_and_bad_labels(files):
    d, image, mask = files
    assert_clean_failure(run("run", "--image", image, "--mask", mask, "--out", d / "out.png", "--model", "nope"),
                         d, "registered: ")
    assert_clean_failure(run("run", "--image", image, "--mask", mask, "--out", d / "missing" / "out.png"), d,
                         "cannot write")
    labels = d / "labels.json"
    labels.write_text('{"surface": "grass", ')
    assert_clean_failure(run("run", "--image", image, "--mask", mask, "--out", d / "out.png", "--labels", labels),
                         d, "labels")
    assert_clean_failure(run("run", "--image", image, "--mask", mask, "--out", d / "out.gif"), d, ".gif")
    assert_clean_failure(run("run", "--image", d / "nope.png", "--mask", mask, "--out", d / "out.png"), d, "nope.png")
    assert_clean_failure(run("run", "--image", image), d, "--mask")


def test_unwritable_preview_leaves_no_output(files):
    d, image, mask = files
    r = run("run", "--image", image, "--mask", mask, "--out", d / "out.png", "--preview", d / "no" / "p.jpg")
    assert_clean_failure(r, d, "cannot write")


def test_ctrl_c_cancels_and_leaves_no_output(tmp_path):
    # A slow fill (large hole, many iterations) interrupted as a terminal's Ctrl-C would.
    image = write_rgb(tmp_path / "photo.png", photo(600, 800))
    mask = write_mask(tmp_path / "mask.png", disc(600, 800, 400, 300, 200))
    args = ["run", "--image", image, "--mask", mask, "--out", tmp_path / "out.png",
            "--preview", tmp_path / "out_preview.jpg", "--model", "patchmatch:iterations=50", "--strategy", "original"]
    process = subprocess.Popen([str(CLI), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_handler(process.pid, signal.SIGINT)
    assert process.poll() is None, "the run ended before the interrupt"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    result = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
    assert_clean_failure(result, tmp_path, "cancelled")


def test_timeout_gives_up_without_output(files):
    tmp_path, image, mask = files
    result = run("run", "--image", image, "--mask", mask, "--out", tmp_path / "out.png",
                 "--model", "patchmatch:iterations=50", "--timeout", "0.001")
    assert result.returncode == 1
    assert_clean_failure(result, tmp_path, "deadline")


def test_model_variants_file(files, monkeypatch):
    tmp_path, image, mask = files
    variants = tmp_path / "variants.json"
    variants.write_text(json.dumps({"quick": "telea:radius=3", "lama_fp32": "torchscript:path=/nonexistent.pt"}))
    result = run("run", "--image", image, "--mask", mask, "--out", tmp_path / "out.png",
                 "--variants", variants, "--variant", "quick", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["model"] == "telea:radius=3"
    # $MODEL_VARIANT when --variant is not given.
    monkeypatch.setenv("MODEL_VARIANT", "quick")
    result = run("run", "--image", image, "--mask", mask, "--out", tmp_path / "out2.png", "--variants", variants)
    assert result.returncode == 0, result.stderr
    # Unknown names list the known ones.
    (tmp_path / "out.png").unlink()
    (tmp_path / "out2.png").unlink()
    result = run("run", "--image", image, "--mask", mask, "--out", tmp_path / "out.png",
                 "--variants", variants, "--variant", "flux_fill_q8")
    assert result.returncode == 2
    assert_clean_failure(result, tmp_path, "known: lama_fp32, quick")
    result = run("run", "--image", image, "--mask", mask, "--out", tmp_path / "out.png",
                 "--variants", variants, "--model", "telea")
    assert result.returncode == 2
