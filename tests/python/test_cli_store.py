"""`inpaint store ls|get|put|rm` on a directory and on a real Redis, driven as a user would."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import inpaint

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(os.environ.get("INPAINT_CLI", ROOT / "build" / "bin" / "inpaint"))

pytestmark = pytest.mark.skipif(not CLI.exists(), reason=f"{CLI} is not built")


def run(*args):
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=60)


def encoding_file(path, seed=0, with_identity=True):
    pixels = np.full((8, 8, 3), seed, np.uint8)
    e = inpaint.Encoding(model_id="sam-cli", image_sha256=inpaint.pixel_sha256(pixels) if with_identity else "")
    e.add("image_embed", np.arange(64, dtype=np.float32).reshape(1, 4, 4, 4) + seed)
    inpaint.write_safetensors(path, e)
    return inpaint.encoding_id(pixels, "sam-cli")


def assert_error(result, code, needle):
    assert result.returncode == code, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("inpaint: error: ") and needle in lines[0], result.stderr


def round_trip(store, tmp_path):
    source = tmp_path / "in.safetensors"
    expected_id = encoding_file(source, seed=3)
    put = run("store", "put", "--store", store, "--file", source)
    assert put.returncode == 0, put.stderr
    assert put.stdout.strip() == expected_id  # derived from the pixels' hash and the model
    assert run("store", "put", "--store", store, "--file", source, "--id", "named").returncode == 0

    listed = run("store", "ls", "--store", store)
    assert listed.stdout.split() == sorted([expected_id, "named"])
    report = json.loads(run("store", "ls", "--store", store, "--json").stdout)
    assert report["entries"] == 2 and report["ids"] == sorted([expected_id, "named"]) and report["bytes"] > 0

    out = tmp_path / "out.safetensors"
    got = run("store", "get", "--store", store, "--id", "named", "--out", out)
    assert got.returncode == 0, got.stderr
    assert out.read_bytes() == source.read_bytes()

    assert run("store", "rm", "--store", store, "--id", "named").returncode == 0
    assert_error(run("store", "rm", "--store", store, "--id", "named"), 1, "no encoding 'named'")
    assert_error(run("store", "get", "--store", store, "--id", "named", "--out", tmp_path / "x.safetensors"), 1,
                 "no encoding 'named'")
    assert not (tmp_path / "x.safetensors").exists()
    assert_error(run("store", "get", "--store", store, "--id", "../etc/passwd", "--out", out), 2, "encoding id")


def test_directory_store(tmp_path):
    round_trip(f"dir:path={tmp_path}/enc", tmp_path)


def test_redis_store(tmp_path, redis_server):
    round_trip(redis_server.url + "/0?prefix=cli:", tmp_path)
    assert redis_server.cli("KEYS", "cli:*") != ""


def test_errors(tmp_path):
    store = f"dir:path={tmp_path}/enc"
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10" + b"\x00" * 7 + b"{}")
    assert_error(run("store", "put", "--store", store, "--file", bad), 1, "points past the end")
    anonymous = tmp_path / "anon.safetensors"
    encoding_file(anonymous, with_identity=False)
    assert_error(run("store", "put", "--store", store, "--file", anonymous), 2, "pass --id")
    assert_error(run("store", "ls", "--store", "tape:x=1"), 1, "unknown store 'tape'")
    assert_error(run("store", "ls", "--store", "redis://127.0.0.1:1?timeout_ms=200"), 1, "cannot connect")
    assert run("store", "ls").returncode == 2  # --store is required
