"""The torch backend is loaded on first use: a process that never asks for a torch model never
maps LibTorch, the library files do not link it, and a missing or wrong backend file is a clear
UnavailableError (or CLI error) rather than a crash. Processes of their own, since a loaded
backend stays loaded."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import inpaint

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(os.environ.get("INPAINT_CLI", ROOT / "build" / "bin" / "inpaint"))
TORCH_BUILT = inpaint.backends()[0]["built"]
TORCH_FILES = ("libtorch", "libc10", "libinpaint_torch")


def python(code, backend_path=None):
    env = dict(os.environ)
    env.pop("INPAINT_BACKEND_PATH", None)
    if backend_path is not None:
        env["INPAINT_BACKEND_PATH"] = str(backend_path)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


MAPPED = """
def torch_mapped():
    with open("/proc/self/maps") as maps:
        return sorted({line.split()[-1] for line in maps if any(n in line for n in %r)})
""" % (TORCH_FILES,)

NON_TORCH_WORK = """
import numpy as np, inpaint
image = (np.arange(64 * 96 * 3) % 251).astype(np.uint8).reshape(64, 96, 3)
mask = np.zeros((64, 96), np.uint8); mask[20:40, 30:50] = 255
for spec in ("telea", "ns", "patchmatch:iterations=2"):
    result = inpaint.fill(inpaint.Model(spec), image, mask)
inpaint.decode(inpaint.encode(result.image, format="png"))
inpaint.clean_mask(mask)
segmenter = inpaint.Segmenter("grabcut")
segmenter.segment(segmenter.encode(image), box=(20, 10, 60, 50))
inpaint.models(); inpaint.segmenters(); inpaint.backends()
"""


def test_non_torch_work_never_maps_libtorch():
    r = python(MAPPED + NON_TORCH_WORK + "print(torch_mapped())")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", r.stdout


@pytest.mark.skipif(not TORCH_BUILT, reason="built without the torch backend")
def test_asking_for_a_torch_model_maps_libtorch():
    # The positive control of the test above: the same check sees LibTorch once a torch model is
    # asked for (its file is missing, but the backend loads first).
    code = MAPPED + NON_TORCH_WORK + """
try:
    inpaint.Model("torchscript:path=/nonexistent/model.pt")
except inpaint.FileError:
    pass
print(torch_mapped()); print(inpaint.backends()[0]["loaded"])
"""
    r = python(code)
    assert r.returncode == 0, r.stderr
    assert "libinpaint_torch" in r.stdout and "libtorch" in r.stdout and r.stdout.strip().endswith("True"), r.stdout


def test_backend_listing_and_unknown_name():
    status = inpaint.backends()
    assert [b["name"] for b in status] == ["torch"]
    assert set(status[0]) == {"name", "built", "loaded", "path", "error", "torch_version", "load_ms"}
    assert "torchscript" in [name for name, _ in inpaint.models()]
    assert "sam" in [name for name, _ in inpaint.segmenters()]
    with pytest.raises(inpaint.InvalidArgumentError, match="unknown backend"):
        inpaint.load_backend("tensorrt")


@pytest.mark.skipif(not TORCH_BUILT, reason="built without the torch backend")
def test_load_backend_reports_version_and_cost():
    r = python("import inpaint, json; print(json.dumps(inpaint.load_backend('torch')))")
    assert r.returncode == 0, r.stderr
    import json

    status = json.loads(r.stdout)
    assert status["loaded"] and status["torch_version"] and status["load_ms"] > 0 and not status["error"]


@pytest.mark.parametrize("kind", ["missing", "directory", "not_a_library"])
def test_a_bad_backend_path_is_unavailable(tmp_path, kind):
    path = {"missing": tmp_path / "nope.so", "directory": tmp_path, "not_a_library": tmp_path / "text.so"}[kind]
    if kind == "not_a_library":
        path.write_text("not an ELF file\n")
    code = """
import inpaint
for make in (lambda: inpaint.Model("torchscript:path=/x.pt"),
             lambda: inpaint.Segmenter("sam:encoder=/e.pt,decoder=/d.pt"),
             lambda: inpaint.load_backend("torch")):
    try:
        make()
    except inpaint.UnavailableError as e:
        print("unavailable:", e)
print(inpaint.backends()[0]["loaded"])
"""
    r = python(code, backend_path=path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 4 and lines[-1] == "False", r.stdout
    for line in lines[:3]:
        assert line.startswith("unavailable:") and str(path) in line, line


def test_cli_with_a_missing_backend_fails_cleanly(tmp_path):
    if not CLI.exists():
        pytest.skip(f"{CLI} is not built")
    image = (np.arange(32 * 32 * 3) % 251).astype(np.uint8).reshape(32, 32, 3)
    mask = np.zeros((32, 32), np.uint8)
    mask[8:16, 8:16] = 255
    (tmp_path / "in.png").write_bytes(inpaint.encode(image, format="png"))
    (tmp_path / "mask.png").write_bytes(inpaint.encode(mask, format="png"))
    env = dict(os.environ, INPAINT_BACKEND_PATH=str(tmp_path / "missing.so"))
    r = subprocess.run([str(CLI), "run", "--model", "torchscript:path=/x.pt", "--image", tmp_path / "in.png",
                        "--mask", tmp_path / "mask.png", "--out", tmp_path / "out.png"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 1, r.stderr
    assert "needs the torch backend" in r.stderr and "missing.so" in r.stderr, r.stderr
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("name", ["libinpaint.so", "libinpaint_c.so", "_core", "inpaint"])
def test_library_files_do_not_link_libtorch(name):
    # The build tree that holds this _core (build/python/inpaint/_core*.so), whatever runs the CLI.
    build = Path(inpaint._core.__file__).resolve().parents[2]
    path = {
        "libinpaint.so": build / "lib" / "libinpaint.so",
        "libinpaint_c.so": build / "lib" / "libinpaint_c.so",
        "_core": Path(inpaint._core.__file__),
        "inpaint": build / "bin" / "inpaint",
    }[name]
    if not path.exists():
        pytest.skip(f"{path} is not built")
    dynamic = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    needed = [line.split("[")[1].rstrip("]") for line in dynamic.splitlines() if "(NEEDED)" in line]
    assert needed, dynamic
    assert not [n for n in needed if n.startswith(TORCH_FILES) or "imgcodecs" in n], needed
