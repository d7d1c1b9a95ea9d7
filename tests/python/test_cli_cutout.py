"""`inpaint cutout` and `inpaint matters`, driven as a user would, on a real photo."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import inpaint

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(os.environ.get("INPAINT_CLI", ROOT / "build" / "bin" / "inpaint"))
DATA_DIR = Path(os.environ.get("INPAINT_DATA_DIR", ROOT.parent / "shared" / "data"))
EFFECTS = ["color", "bw", "popart", "dither"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.skipif(not CLI.exists(), reason=f"{CLI} is not built")


def run(*args):
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.fixture
def photo(tmp_path):
    for folder in (DATA_DIR, DATA_DIR / "inpaint-dev"):
        if (folder / "chelsea.png").exists():
            return Path(shutil.copy(folder / "chelsea.png", tmp_path / "chelsea.png"))
    pytest.skip(f"chelsea.png not found under INPAINT_DATA_DIR={DATA_DIR}")


def test_matters_are_listed():
    r = run("matters")
    assert r.returncode == 0, r.stderr
    names = [line.split("\t")[0] for line in r.stdout.splitlines() if not line.startswith(" ")]
    assert names == sorted(names) and "saliency" in names and "salient" in names
    listed = {m["name"]: m for m in json.loads(run("matters", "--json").stdout)}
    assert "max_side" in [k["name"] for k in listed["saliency"]["keys"]]


def test_cutout_writes_a_transparent_png(tmp_path, photo):
    out = tmp_path / "cut.png"
    r = run("cutout", "--image", photo, "--out", out)
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    decoded = inpaint.decode(data)
    assert decoded.alpha is not None and decoded.rgb.shape == inpaint.decode(photo.read_bytes()).rgb.shape


def test_cutout_all_effects_and_json(tmp_path, photo):
    out_dir = tmp_path / "effects"
    out_dir.mkdir()
    first = tmp_path / "first.png"
    r = run("cutout", "--image", photo, "--effects", ",".join(EFFECTS), "--out-dir", out_dir, "--out", first,
            "--refine", 8, "--foreground", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    for effect in EFFECTS:
        assert (out_dir / f"{effect}.png").read_bytes().startswith(PNG_SIGNATURE)
    assert first.read_bytes() == (out_dir / "color.png").read_bytes()
    assert report["model"].startswith("saliency") and report["model_id"]
    assert report["load_info"]["device"] == "cpu"
    assert [f["effect"] for f in report["files"]] == ["color"] + EFFECTS
    assert report["files"][0]["file"] == str(first)
    assert all(f["bytes"] > 0 for f in report["files"])
    assert set(report["timings_ms"]) == {"key", "decode", "orient", "store", "preprocess", "model", "postprocess",
                                         "refine", "effects", "encode", "total"}
    assert report["timings_ms"]["model"] > 0 and report["timings_ms"]["refine"] > 0
    assert report["matte_from_store"] is False and report["store_error"] == ""
    assert report["effects_device"] == "cpu" and len(report["input_sha256"]) == 64
    assert report["width"] > 0 and report["height"] > 0


def test_cutout_jpeg_with_a_background(tmp_path, photo):
    out = tmp_path / "white.jpg"
    r = run("cutout", "--image", photo, "--out", out, "--background", "white", "--quality", 80)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:2] == b"\xff\xd8"
    r = run("cutout", "--image", photo, "--out", tmp_path / "clear.jpg")
    assert r.returncode == 2 and "JPEG" in r.stderr
    assert not (tmp_path / "clear.jpg").exists()


def test_unknown_effect(tmp_path, photo):
    out_dir = tmp_path / "fx"
    out_dir.mkdir()
    r = run("cutout", "--image", photo, "--effects", "bw,sepia", "--out-dir", out_dir)
    assert r.returncode == 2
    assert "sepia" in r.stderr and all(name in r.stderr for name in EFFECTS)
    assert list(out_dir.iterdir()) == []


def test_bad_background_and_params(tmp_path, photo):
    out = tmp_path / "cut.png"
    r = run("cutout", "--image", photo, "--out", out, "--background", "chartreuse-ish")
    assert r.returncode == 2 and "--background" in r.stderr and "chartreuse-ish" in r.stderr
    r = run("cutout", "--image", photo, "--out", out, "--param", "no_such_param=1")
    assert r.returncode == 2 and "no_such_param" in r.stderr
    r = run("cutout", "--image", photo, "--out", out, "--param", "oops")
    assert r.returncode == 2 and "KEY=VALUE" in r.stderr
    r = run("cutout", "--image", photo)
    assert r.returncode == 2 and "--out" in r.stderr
    r = run("cutout", "--image", photo, "--out", out, "--model", "no-such-matter")
    assert r.returncode == 2 and "no-such-matter" in r.stderr
    assert not out.exists()


def test_output_may_not_be_the_input(tmp_path, photo):
    before = photo.read_bytes()
    r = run("cutout", "--image", photo, "--out", photo)
    assert r.returncode == 2 and "--image" in r.stderr
    assert photo.read_bytes() == before
    r = run("cutout", "--image", photo, "--out-dir", photo.parent, "--effects", "color")
    # DIR/color.png is not the input (chelsea.png): allowed.
    assert r.returncode == 0, r.stderr
    r = run("cutout", "--image", photo, "--out-dir", tmp_path / "absent")
    assert r.returncode == 1 and "not a directory" in r.stderr


def test_store_is_reused(tmp_path, photo):
    store = f"dir:path={tmp_path / 'mattes'}"
    first = run("cutout", "--image", photo, "--out", tmp_path / "a.png", "--store", store, "--json")
    assert first.returncode == 0, first.stderr
    first_report = json.loads(first.stdout)
    assert first_report["matte_stored"] and not first_report["matte_from_store"]
    second = run("cutout", "--image", photo, "--out", tmp_path / "b.png", "--store", store, "--json")
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["matte_from_store"] and not report["matte_stored"]
    assert report["timings_ms"]["model"] == 0 and report["model_ms_saved"] > 0
    assert report["matte_id"] == first_report["matte_id"]
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_store_that_is_down(tmp_path, photo):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run("cutout", "--image", photo, "--out", tmp_path / "cut.png", "--store",
            f"redis://127.0.0.1:{port}/0?timeout_ms=200", "--json")
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr
    assert json.loads(r.stdout)["store_error"]
    assert (tmp_path / "cut.png").exists()
