"""Encodings, safetensors and the stores from Python, checked against an independent reader and
writer (header JSON + offsets + numpy), python3-torch, and a real redis-server."""
import gc
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import inpaint

ROOT = Path(__file__).resolve().parents[2]

NUMPY_DTYPES = {
    "BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16, "I16": np.int16, "U32": np.uint32,
    "I32": np.int32, "U64": np.uint64, "I64": np.int64, "F16": np.float16, "F32": np.float32, "F64": np.float64,
}
RAW_BITS = {"BF16": np.uint16, "F8_E4M3": np.uint8, "F8_E5M2": np.uint8, "F8_E8M0": np.uint8}


# --- an independent safetensors reader and writer -------------------------------------------


def read_independently(data):
    """(metadata, {name: array}, header length) parsed with json and numpy only."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    body = data[8 + n :]
    spans = sorted((info["data_offsets"], name) for name, info in header.items())
    position = 0
    for (begin, end), name in spans:
        assert begin == position, f"{name} begins at {begin}, expected {position}"
        position = end
    assert position == len(body)
    arrays = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = NUMPY_DTYPES.get(info["dtype"]) or RAW_BITS[info["dtype"]]
        arrays[name] = np.frombuffer(body[begin:end], dtype=dtype).reshape(info["shape"])
    return metadata, arrays, n


def write_independently(arrays, metadata=None, dtypes=None):
    header, offset, chunks = {}, 0, []
    if metadata:
        header["__metadata__"] = metadata
    for name, array in arrays.items():
        raw = np.ascontiguousarray(array).tobytes()
        dtype = (dtypes or {}).get(name) or {v: k for k, v in NUMPY_DTYPES.items()}[array.dtype.type]
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        chunks.append(raw)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def sample(seed=0, size=64):
    rng = np.random.default_rng(seed)
    e = inpaint.Encoding(model_id="sam-py", model_checksum="c0ffee", preprocessing="resize=64", dtype="F32",
                         image_sha256="ab" * 32, original_width=640, original_height=480, created_at=1764000000)
    e.add("image_embed", rng.standard_normal((1, 4, size // 4, 4)).astype(np.float32))
    e.add("low", rng.integers(0, 65535, (2, 3), dtype=np.uint16), dtype="BF16")
    e.add("mask", rng.integers(0, 2, (5,)).astype(np.bool_))
    return e


def arrays_of(encoding):
    return {name: np.array(encoding[name]) for name in encoding.names()}


def assert_same(a, b):
    assert a.names() == b.names()
    for name in a.names():
        assert a.dtype_of(name) == b.dtype_of(name)
        np.testing.assert_array_equal(a[name], b[name])


# --- safetensors ----------------------------------------------------------------------------


def test_writer_output_parses_with_an_independent_reader():
    e = inpaint.Encoding(model_id="m")
    rng = np.random.default_rng(1)
    for name, dtype in NUMPY_DTYPES.items():
        e.add("t_" + name, (rng.integers(0, 100, (3, 4)) % (2 if dtype is np.bool_ else 100)).astype(dtype))
    for name, dtype in RAW_BITS.items():
        e.add("t_" + name, rng.integers(0, 255, (2, 2)).astype(dtype), dtype=name)
    data = e.to_bytes()
    metadata, arrays, n = read_independently(data)
    assert n % 8 == 0 and data[8 + n - 1 : 8 + n] in (b" ", b"}")
    assert metadata["model_id"] == "m" and metadata["format_version"] == "1"
    for name in e.names():
        np.testing.assert_array_equal(arrays[name], e[name])
        assert e.dtype_of(name) == name[2:]
    # Deterministic: larger elements first, then by name; the same bytes every time.
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    header.pop("__metadata__")
    order = [name for _, name in sorted((info["data_offsets"][0], name) for name, info in header.items())]
    assert order[:3] == ["t_F64", "t_I64", "t_U64"]
    assert e.to_bytes() == data == inpaint.Encoding.from_bytes(data).to_bytes()


def test_independently_written_files_read_back(tmp_path):
    arrays = {"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.array([1, -2, 3], np.int64)}
    path = tmp_path / "x.safetensors"
    path.write_bytes(write_independently(arrays, {"model_id": "other", "format": "pt"}))
    e = inpaint.read_safetensors(path)
    assert e.model_id == "other" and e.extra == {"format": "pt"} and e.format_version == 0
    for name, array in arrays.items():
        np.testing.assert_array_equal(e[name], array)


def test_extra_metadata_is_written_and_read_back(tmp_path):
    e = inpaint.Encoding(model_id="m", extra={"kind": "flux-prompt-table", "prompt.0": "grass, é"})
    assert e.extra == {"kind": "flux-prompt-table", "prompt.0": "grass, é"}
    e.add("t", np.zeros((2, 3), np.float32))
    e.extra = {**e.extra, "fallback": "x"}  # a copy comes out: assign the whole dict
    path = tmp_path / "x.safetensors"
    inpaint.write_safetensors(path, e)
    (n,) = struct.unpack("<Q", path.read_bytes()[:8])
    metadata = json.loads(path.read_bytes()[8 : 8 + n])["__metadata__"]
    assert metadata["prompt.0"] == "grass, é" and metadata["fallback"] == "x" and metadata["model_id"] == "m"
    back = inpaint.read_safetensors(path)
    assert back.extra == {"kind": "flux-prompt-table", "prompt.0": "grass, é", "fallback": "x"}
    assert inpaint.Encoding.from_bytes(e.to_bytes()).extra == back.extra
    # The encoding's own fields are written from their attributes: an extra pair of that name
    # would be lost, so it is refused.
    for key in ("dtype", "model_id", "format_version", ""):
        with pytest.raises(inpaint.InvalidArgumentError):
            inpaint.Encoding(extra={key: "x"})
        with pytest.raises(inpaint.InvalidArgumentError):
            e.extra = {key: "x"}
    assert e.extra["fallback"] == "x"
    with pytest.raises(TypeError):
        inpaint.Encoding(extra={"a": 1})


def test_metadata_round_trips(tmp_path):
    path = tmp_path / "s.safetensors"
    inpaint.write_safetensors(path, sample())
    e = inpaint.read_safetensors(str(path))
    assert (e.model_id, e.model_checksum, e.preprocessing, e.dtype) == ("sam-py", "c0ffee", "resize=64", "F32")
    assert (e.original_width, e.original_height, e.created_at, e.format_version) == (640, 480, 1764000000, 1)
    assert e.image_sha256 == "ab" * 32
    assert_same(e, sample())
    assert len(e) == 3 and "low" in e and "nope" not in e
    assert "F32[1, 4, 16, 4]" in repr(e)


def test_torch_tensors_cross_check(tmp_path):
    torch = pytest.importorskip("torch")
    t = torch.linspace(-3, 3, 24).reshape(2, 3, 4).to(torch.bfloat16)
    e = inpaint.Encoding(model_id="sam-torch", dtype="BF16")
    e.add("feat", t.view(torch.int16).numpy().view(np.uint16), dtype="BF16")
    e.add("f16", t.to(torch.float16).numpy())
    path = tmp_path / "t.safetensors"
    inpaint.write_safetensors(path, e)
    back = inpaint.read_safetensors(path)
    restored = torch.from_numpy(np.array(back["feat"]).view(np.int16)).view(torch.bfloat16)
    assert torch.equal(restored, t)
    assert torch.equal(torch.from_numpy(np.array(back["f16"])), t.to(torch.float16))
    # The independent reader agrees on the bits.
    _, arrays, _ = read_independently(path.read_bytes())
    assert np.array_equal(arrays["feat"], t.view(torch.int16).numpy().view(np.uint16))


def test_tensors_are_read_only_views_that_outlive_the_encoding(tmp_path):
    path = tmp_path / "v.safetensors"
    inpaint.write_safetensors(path, sample())
    e = inpaint.read_safetensors(path)
    view = e["image_embed"]
    assert not view.flags.writeable and not view.flags.owndata
    with pytest.raises(ValueError):
        view[0, 0, 0, 0] = 1
    expected = np.array(view)
    del e
    path.unlink()
    gc.collect()
    np.testing.assert_array_equal(view, expected)  # the map lives as long as the array


@pytest.mark.parametrize(
    "data, needle",
    [
        (b"", "shorter than the 8-byte header length"),
        (struct.pack("<Q", 100_000_001) + b"{}", "exceeds the limit"),
        (struct.pack("<Q", 50) + b"{}", "points past the end"),
        (struct.pack("<Q", 2) + b"[]", "JSON object"),
        (struct.pack("<Q", 9) + b'{"a":1,"a', "not valid UTF-8 JSON"),
        (struct.pack("<Q", 15) + b'{"a":{},"a":{}}', "twice"),
        (write_independently({"a": np.zeros(2, np.float32)}) + b"x", "buffer end must equal the file length"),
        (write_independently({"a": np.zeros(2, np.float32)})[:-1], "the data is 7 bytes"),
    ],
)
def test_malformed_bytes_raise_decode_errors(tmp_path, data, needle):
    with pytest.raises(inpaint.DecodeError) as error:
        inpaint.Encoding.from_bytes(data)
    assert needle in str(error.value)
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    with pytest.raises(inpaint.DecodeError) as error:
        inpaint.read_safetensors(path)
    assert str(path) in str(error.value)


def test_offset_rules_name_the_tensor():
    good = write_independently({"a": np.zeros(2, np.float32), "b": np.zeros(2, np.float32)})
    (n,) = struct.unpack("<Q", good[:8])
    header = json.loads(good[8 : 8 + n])
    header["b"]["data_offsets"] = [4, 12]
    text = json.dumps(header).encode()
    with pytest.raises(inpaint.DecodeError, match="tensor 'b'.*overlaps"):
        inpaint.Encoding.from_bytes(struct.pack("<Q", len(text)) + text + good[8 + n :])


def test_add_without_copy_shares_the_array_across_threads():
    source = np.arange(1000, dtype=np.float32)
    e = inpaint.Encoding(model_id="m")
    e.add("shared", source, copy=False)
    e.add("copied", source)
    assert np.shares_memory(e["shared"], source) and not np.shares_memory(e["copied"], source)
    store = inpaint.Store("memory:capacity=8000")
    store.put("a", e)
    del e, source
    gc.collect()
    worker = threading.Thread(target=lambda: store.put("b", inpaint.Encoding()))
    worker.start()
    worker.join()
    np.testing.assert_array_equal(store.get("a")["shared"], np.arange(1000, dtype=np.float32))
    big = inpaint.Encoding()
    big.add("x", np.zeros(1500, np.float32))
    # The eviction drops the last reference to the array on a thread without the GIL.
    evicting = threading.Thread(target=lambda: store.put("c", big))
    evicting.start()
    evicting.join()
    assert store.get("a") is None


def test_bad_arguments():
    e = inpaint.Encoding()
    with pytest.raises(TypeError, match="C-contiguous"):
        e.add("x", np.zeros((4, 4), np.float32)[:, ::2])
    with pytest.raises(TypeError, match="no safetensors dtype"):
        e.add("x", np.zeros(2, np.complex64))
    with pytest.raises(inpaint.InvalidArgumentError, match="2-byte elements"):
        e.add("x", np.zeros(2, np.float32), dtype="BF16")
    with pytest.raises(inpaint.InvalidArgumentError, match="unknown dtype"):
        e.add("x", np.zeros(2, np.uint16), dtype="Q4")
    with pytest.raises(inpaint.InvalidArgumentError, match="__metadata__"):
        e.add("__metadata__", np.zeros(2, np.uint8))
    with pytest.raises(inpaint.InvalidArgumentError, match="no tensor 'x'"):
        e["x"]
    with pytest.raises(inpaint.FileError):
        inpaint.read_safetensors("/nonexistent/x.safetensors")


# --- ids ------------------------------------------------------------------------------------


def test_ids_are_the_documented_hashes():
    pixels = np.random.default_rng(3).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    pixel_hash = hashlib.sha256(b"32x24x3;" + pixels.tobytes()).hexdigest()
    assert inpaint.pixel_sha256(pixels) == pixel_hash
    assert inpaint.encoding_id(pixels, "sam3") == hashlib.sha256(f"{pixel_hash}\nsam3".encode()).hexdigest()
    assert inpaint.encoding_id(pixels, "sam3") != inpaint.encoding_id(pixels, "sam2")
    inpaint.validate_encoding_id("img-1.v2_x")
    for bad in ["", ".x", "../x", "a/b", "a b", "x" * 129, "é"]:
        with pytest.raises(inpaint.InvalidArgumentError):
            inpaint.validate_encoding_id(bad)


# --- stores ---------------------------------------------------------------------------------


def test_memory_store_hits_share_the_bytes():
    store = inpaint.Store("memory:capacity=1MiB")
    e = sample()
    store.put("a", e)
    got = store.get("a")
    assert got["image_embed"].__array_interface__["data"][0] == e["image_embed"].__array_interface__["data"][0]
    assert store.get("b") is None
    assert store.usage() == (1, e.nbytes) and store.capacity == 1 << 20
    with pytest.raises(inpaint.TooLargeError):
        inpaint.Store("memory:capacity=100").put("a", e)
    stats = store.stats()
    assert (stats["hits"], stats["misses"], stats["puts"]) == (1, 1, 1)


def test_directory_store(tmp_path):
    store = inpaint.Store(f"dir:path={tmp_path}/enc,fsync=0")
    store.put("a", sample(1))
    assert_same(store.get("a"), sample(1))
    assert (tmp_path / "enc" / "a.safetensors").exists()
    (tmp_path / "enc" / "bad.safetensors").write_bytes(b"\x00" * 5)
    assert store.get("bad") is None and not (tmp_path / "enc" / "bad.safetensors").exists()
    assert store.stats()["corrupt"] == 1
    assert store.ids() == ["a"] and store.remove("a") and not store.remove("a")
    with pytest.raises(inpaint.InvalidArgumentError):
        store.put("../../escape", sample())
    with pytest.raises(inpaint.ParseError):
        inpaint.Store("nosuch:x=1")
    with pytest.raises(inpaint.InvalidArgumentError, match="unknown key"):
        inpaint.Store(f"dir:path={tmp_path},size=1GB")


KILLED_WRITER = """
import sys, numpy as np, inpaint
e = inpaint.Encoding(model_id="big")
e.add("x", np.ones((16 << 20,), np.float32))
store = inpaint.Store("dir:path=" + sys.argv[1])
print("ready", flush=True)
while True:
    store.put("victim", e)
"""


def test_a_writer_killed_mid_write_leaves_no_partial_file(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path)], stdout=subprocess.PIPE, env=env)
    assert writer.stdout.readline().strip() == b"ready"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(p.name.startswith(".tmp-") and p.stat().st_size > 0
                                                   for p in tmp_path.iterdir() if p.exists()):
        time.sleep(0.001)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    store = inpaint.Store(f"dir:path={tmp_path}")
    got = store.get("victim")
    assert got is None or (got["x"].shape == (16 << 20,) and float(got["x"][-1]) == 1.0)
    assert store.stats()["corrupt"] == 0
    assert store.ids() in ([], ["victim"])


def test_redis_store_and_threads(redis_server):
    store = inpaint.Store(redis_server.url + "?prefix=py:&ttl=60&timeout_ms=500&retry_ms=0")
    store.put("a", sample(2))
    assert_same(store.get("a"), sample(2))
    assert 0 < int(redis_server.cli("TTL", "py:a")) <= 60
    assert store.ids() == ["a"] and store.exists("a")
    results = []

    def reader():
        for _ in range(20):
            results.append(store.get("a") is not None)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 80
    chunked = inpaint.Store(redis_server.url + "?prefix=ch:&chunk=1KiB")
    chunked.put("big", sample(3, size=1024))
    assert_same(chunked.get("big"), sample(3, size=1024))
    assert chunked.ids() == ["big"]


def test_tiers_survive_redis_going_away_and_use_it_again(redis_server, tmp_path):
    spec = redis_server.url + "?prefix=tier:&timeout_ms=300&retry_ms=0"
    tiered = inpaint.Store(f"memory:capacity=10MB|dir:path={tmp_path},fsync=0|{spec}")
    redis = inpaint.Store(spec)
    tiered.put("a", sample(1))
    assert redis.exists("a")
    redis_server.stop()
    with pytest.raises(inpaint.UnavailableError, match="127.0.0.1"):
        redis.get("a")
    assert isinstance(inpaint.UnavailableError("x"), ConnectionError)
    assert_same(tiered.get("a"), sample(1))  # from memory
    tiered.put("b", sample(2))
    assert_same(tiered.get("b"), sample(2))
    stats = tiered.stats()
    assert stats["tiers"][2]["errors"] >= 1 and "redis" in stats["tiers"][2]["last_error"]
    assert stats["tiers"][0]["errors"] == 0
    redis_server.start()
    tiered.put("c", sample(3))
    assert redis.exists("c")
