"""Hostile and broken inputs through the Python module and the `inpaint` CLI: each kind found by a
hostile-input run must be a clear error (the right exception class or exit code, a one-line
message a person can act on), never a crash of the interpreter, a hang, a destroyed file or a
partial output."""
import json
import os
import resource
import signal
import stat
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest

import inpaint
from signals import wait_for_handler

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(os.environ.get("INPAINT_CLI", ROOT / "build" / "bin" / "inpaint"))
needs_cli = pytest.mark.skipif(not CLI.exists(), reason=f"{CLI} is not built")
# AddressSanitizer reserves terabytes of address space, so an RLIMIT_AS cannot be set under it.
UNDER_ASAN = "asan" in os.environ.get("LD_PRELOAD", "") or "ASAN_OPTIONS" in os.environ


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_idat(idat, width=4, height=4):
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


# A zlib stream whose first deflate block has the reserved type 3: stb fails without a reason.
BAD_DEFLATE_PNG = png_with_idat(b"\x78\x01\x07\x00\x00\x00")


def safetensors_with_header(header: bytes) -> bytes:
    return struct.pack("<Q", len(header)) + header


def photo(height=96, width=128):
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([(x * 3 + y) % 256, (y * 5 + 40) % 256, ((x ^ y) * 7) % 256], axis=-1).astype(np.uint8)


def disc_mask(height=96, width=128):
    y, x = np.mgrid[0:height, 0:width]
    return (((x - width // 2) ** 2 + (y - height // 2) ** 2) < 15**2).astype(np.uint8) * 255


def assert_readable(message, limit=2100):
    assert message, "empty message"
    assert len(message) <= limit, message[:200]
    assert all(ord(c) >= 0x20 and c != "\x7f" for c in message), repr(message[:300])


def returns_within(seconds, body):
    """Runs body on a thread; fails the test instead of hanging the suite when it blocks."""
    outcome = {}

    def target():
        try:
            outcome["value"] = body()
        except BaseException as e:  # handed back to the test thread
            outcome["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"blocked for {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def cli(*args, timeout=120):
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def files(tmp_path):
    image = tmp_path / "photo.png"
    image.write_bytes(inpaint.encode(photo(), "png"))
    mask = tmp_path / "mask.png"
    mask.write_bytes(inpaint.encode(disc_mask(), "png"))
    return tmp_path, image, mask


def left_in(directory):
    return sorted(p.name for p in Path(directory).iterdir())


# ---------------------------------------------------------------- crashes


def test_png_failing_without_a_reason_is_a_decode_error():
    for _ in range(2):
        with pytest.raises(inpaint.DecodeError, match="compressed image data is invalid"):
            inpaint.decode(BAD_DEFLATE_PNG)
        with pytest.raises(inpaint.DecodeError, match="mask: .*compressed image data is invalid"):
            inpaint.run(inpaint.Model("telea"), inpaint.encode(photo(4, 4), "png"), BAD_DEFLATE_PNG)


def test_deeply_nested_safetensors_header_is_a_decode_error(tmp_path):
    poisoned = safetensors_with_header(b'{"x":' + b"[" * 200000)
    with pytest.raises(inpaint.DecodeError, match="nested deeper than") as caught:
        inpaint.Encoding.from_bytes(poisoned)
    assert_readable(str(caught.value))
    path = tmp_path / "poisoned.safetensors"
    path.write_bytes(poisoned)
    with pytest.raises(inpaint.DecodeError, match="nested deeper than"):
        inpaint.read_safetensors(path)


# ---------------------------------------------------------------- hangs


def test_fifos_and_directories_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    with pytest.raises(inpaint.FileError, match="a FIFO, not a regular file"):
        returns_within(10, lambda: inpaint.read_file(fifo))
    with pytest.raises(inpaint.FileError, match="FIFO"):
        returns_within(10, lambda: inpaint.Model(f"torchscript:path={fifo}"))
    with pytest.raises(inpaint.FileError, match="FIFO"):
        returns_within(10, lambda: inpaint.build_prompt(None, table=fifo))
    with pytest.raises(inpaint.FileError, match="a directory, not a regular file"):
        inpaint.read_file(tmp_path)


# ---------------------------------------------------------------- damage


def test_write_never_replaces_a_fifo_or_device(tmp_path):
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    targets = [fifo, tmp_path]
    if os.geteuid() == 0:
        device = tmp_path / "null.png"
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # our own node, never /dev/null
        targets.append(device)
    for target in targets:
        before = os.stat(target)
        with pytest.raises(inpaint.FileError, match="refusing to replace it"):
            inpaint.write_file_atomic(target, b"data")
        after = os.stat(target)
        assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert left_in(tmp_path) == sorted(t.name for t in targets if t != tmp_path)


# ---------------------------------------------------------------- wrong errors


@pytest.mark.skipif(UNDER_ASAN, reason="RLIMIT_AS cannot be used under AddressSanitizer")
def test_out_of_memory_is_too_large_error():
    # A child interpreter with an address-space limit decodes a small PNG of a huge grey image.
    program = """
import resource, sys
import numpy as np
import inpaint
big = inpaint.encode(np.zeros((9000, 9000), np.uint8), "png")
with open("/proc/self/statm") as f:
    pages = int(f.read().split()[0])
limit = pages * resource.getpagesize() + (150 << 20)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:
    inpaint.decode(big)
except inpaint.TooLargeError as e:
    print("TooLargeError:", e)
    sys.exit(0)
sys.exit(3)
"""
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120,
                            env={**os.environ})
    assert result.returncode == 0, result.stderr
    assert "out of memory" in result.stdout and "9000x9000" in result.stdout


# ---------------------------------------------------------------- messages


def test_header_that_is_not_utf8_has_a_message():
    with pytest.raises(inpaint.DecodeError) as caught:
        inpaint.Encoding.from_bytes(safetensors_with_header(b'{"\xff\xfe":1}'))
    assert "not valid UTF-8 JSON" in str(caught.value)
    assert_readable(str(caught.value))


def test_lone_surrogates_are_invalid_arguments(tmp_path):
    with pytest.raises(inpaint.InvalidArgumentError, match="labels is not valid text"):
        inpaint.build_prompt('{"surface": "gr\udc80ss"}')
    with pytest.raises(inpaint.InvalidArgumentError, match="prompt is not valid text"):
        inpaint.fill(inpaint.Model("telea"), photo(), disc_mask(), prompt="gr\udc80ss")


def test_long_and_control_character_inputs_are_cut_and_escaped():
    with pytest.raises(inpaint.Error) as caught:
        inpaint.Model("telea:radius=" + "9" * 20000)
    assert_readable(str(caught.value), 600)
    with pytest.raises(inpaint.ParseError) as caught:
        inpaint.build_prompt('{"surface": "grass\x1b[31m", "x": tru' + "e" * 5000 + "}")
    assert_readable(str(caught.value), 400)
    assert "json.exception" not in str(caught.value)


# ---------------------------------------------------------------- accepted when it should not be


def test_absurd_pixel_limit_and_out_of_range_confidence():
    with pytest.raises(inpaint.InvalidArgumentError, match="max_pixels must be at most"):
        inpaint.decode(inpaint.encode(photo(), "png"), max_pixels=2**63)
    with pytest.raises((TypeError, inpaint.InvalidArgumentError)):
        inpaint.decode(inpaint.encode(photo(), "png"), max_pixels=-1)
    for confidence in (1.5, -0.1):
        with pytest.raises(inpaint.ParseError, match="within 0..1"):
            inpaint.build_prompt({"surface": "grass", "confidence": confidence})
    with pytest.raises(inpaint.ParseError, match="NUL byte"):
        inpaint.build_prompt('{"surface": "grass"}\x00{"surface": "sand"}')
    metadata = json.dumps({"__metadata__": {"original_width": "4294967297"}}).encode()
    with pytest.raises(inpaint.DecodeError, match="is outside"):
        inpaint.Encoding.from_bytes(safetensors_with_header(metadata))


# ---------------------------------------------------------------- the CLI


@needs_cli
def test_cli_refuses_outputs_that_would_destroy_inputs(files):
    tmp, image, mask = files
    original = image.read_bytes()
    (tmp / "link.png").symlink_to(image)
    for out in (image, tmp / "." / "photo.png", tmp / "link.png", mask):
        result = cli("run", "--image", image, "--mask", mask, "--out", out, "--model", "telea")
        assert result.returncode == 2, result.stderr
        assert "is the same file as --" in result.stderr
    result = cli("run", "--image", image, "--mask", mask, "--out", tmp / "r.jpg", "--preview", tmp / "r.jpg",
                 "--model", "telea")
    assert result.returncode == 2 and "--preview" in result.stderr and "same file as --out" in result.stderr
    assert image.read_bytes() == original
    assert left_in(tmp) == ["link.png", "mask.png", "photo.png"]


@needs_cli
def test_cli_never_replaces_a_device_or_fifo(files):
    tmp, image, mask = files
    fifo = tmp / "fifo.png"
    os.mkfifo(fifo)
    targets = [fifo]
    if os.geteuid() == 0:
        device = tmp / "null.png"
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))
        targets.append(device)
    for target in targets:
        result = cli("run", "--image", image, "--mask", mask, "--out", target, "--model", "telea")
        assert result.returncode == 1 and "refusing to replace it" in result.stderr, result.stderr
        assert not stat.S_ISREG(os.stat(target).st_mode)


@needs_cli
def test_cli_non_regular_inputs_fail_at_once(files):
    tmp, image, mask = files
    fifo = tmp / "fifo.png"
    os.mkfifo(fifo)
    for args in (["--image", fifo, "--mask", mask], ["--image", image, "--mask", fifo],
                 ["--image", tmp, "--mask", mask], ["--image", image, "--mask", mask, "--labels", fifo],
                 ["--image", image, "--mask", mask, "--model", f"torchscript:path={fifo}"]):
        result = cli("run", *args, "--out", tmp / "r.png", timeout=20)
        assert result.returncode == 1, result.stderr
        assert "not a regular file" in result.stderr, result.stderr
        assert "bad_alloc" not in result.stderr
    assert not (tmp / "r.png").exists()


@needs_cli
def test_cli_refuses_nan_and_negative_numbers(files):
    tmp, image, mask = files
    base = ["run", "--image", image, "--mask", mask, "--out", tmp / "r.png", "--model", "telea"]
    for extra in (["--timeout", "nan"], ["--timeout", "inf"], ["--min-confidence", "nan"], ["--max-pixels", "-1"]):
        result = cli(*base, *extra)
        assert result.returncode == 2, (extra, result.stderr)
    assert not (tmp / "r.png").exists()


@needs_cli
def test_cli_bad_labels_name_the_file(files):
    tmp, image, mask = files
    base = ["run", "--image", image, "--mask", mask, "--out", tmp / "r.png", "--model", "telea"]
    labels = tmp / "labels.json"
    for text, needle in ((b'{"surface": "grass", "confidence": 2}', "within 0..1"),
                         (b'{"surface": "grass"}\x00junk', "NUL byte"),
                         (b"[" * 100000, "nested deeper"),
                         (b'{"surface": gr', "not valid UTF-8 JSON")):
        labels.write_bytes(text)
        result = cli(*base, "--labels", labels)
        assert result.returncode == 1, result.stderr
        assert needle in result.stderr and "labels.json" in result.stderr, result.stderr
        assert "json.exception" not in result.stderr
        assert result.stderr.count("\n") == 1


@needs_cli
def test_cli_messages_are_one_short_line(files):
    tmp, image, mask = files
    result = cli("run", "--image", image, "--mask", mask, "--out", tmp / "r.png",
                 "--model", "telea:radius=" + "9" * 20000 + "\x1b[2J")
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and len(result.stderr) < 700, result.stderr[:300]
    assert "\x1b" not in result.stderr


def slow_run_args(tmp_path):
    """A patchmatch run that takes seconds: a large photo with a large hole."""
    image = tmp_path / "big.png"
    image.write_bytes(inpaint.encode(np.tile(photo(), (8, 8, 1)), "png"))
    mask = np.zeros((96 * 8, 128 * 8), np.uint8)
    mask[200:600, 300:800] = 255
    (tmp_path / "big_mask.png").write_bytes(inpaint.encode(mask, "png"))
    return ["run", "--image", image, "--mask", tmp_path / "big_mask.png", "--out", tmp_path / "r.jpg",
            "--preview", tmp_path / "p.jpg", "--model", "patchmatch:iterations=50"]


@needs_cli
def test_cli_sigterm_leaves_no_output(tmp_path):
    args = slow_run_args(tmp_path)
    before = left_in(tmp_path)
    process = subprocess.Popen([str(CLI), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_handler(process.pid, signal.SIGTERM)  # start-up (loading LibTorch) can take seconds
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143, err
    assert "cancelled" in err
    assert left_in(tmp_path) == before


@needs_cli
def test_cli_full_disk_leaves_no_output(files):
    tmp, image, mask = files

    def small_file_limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))

    result = subprocess.run([str(CLI), "run", "--image", image, "--mask", mask, "--out", tmp / "r.png",
                             "--preview", tmp / "p.jpg", "--model", "telea"],
                            capture_output=True, text=True, timeout=120, preexec_fn=small_file_limit)
    assert result.returncode == 1, result.stderr
    assert "File too large" in result.stderr and "nothing was written" in result.stderr
    assert left_in(tmp) == ["mask.png", "photo.png"]


@needs_cli
@pytest.mark.skipif(UNDER_ASAN, reason="RLIMIT_AS cannot be used under AddressSanitizer")
def test_cli_out_of_memory_is_a_clear_error(tmp_path):
    image = tmp_path / "big.png"
    image.write_bytes(inpaint.encode(np.zeros((9000, 9000), np.uint8), "png"))
    mask = tmp_path / "mask.png"
    mask.write_bytes(inpaint.encode(np.zeros((9000, 9000), np.uint8), "png"))

    def under_limit(megabytes, *args):
        limit = megabytes << 20
        return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=120,
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))

    # The address space the tool needs to start (its libraries: about 550 MB with LibTorch here),
    # then 200 MB more: enough to run, not enough for a 9000 x 9000 photo (243 MB as RGB).
    start = next(mb for mb in range(200, 8000, 50) if under_limit(mb, "models").returncode == 0)
    result = under_limit(start + 200, "run", "--image", image, "--mask", mask, "--out", tmp_path / "r.png",
                         "--model", "telea")
    assert result.returncode == 1, result.stderr
    assert "out of memory" in result.stderr and "bad_alloc" not in result.stderr, result.stderr
    assert "9000x9000" in result.stderr
    assert not (tmp_path / "r.png").exists()


# ---------------------------------------------------------------- a poisoned shared cache


def redis_set(port, key: bytes, value: bytes):
    """SET through the wire protocol: the value has NUL bytes, which redis-cli's argv cannot carry."""
    import socket

    command = b"*3\r\n$3\r\nSET\r\n" + b"$%d\r\n%s\r\n" % (len(key), key) + b"$%d\r\n" % len(value) + value + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(command)
        assert s.recv(16).startswith(b"+OK")


def test_a_poisoned_redis_value_is_a_miss_for_every_reader(redis_server):
    store = inpaint.Store(f"{redis_server.url}/0?prefix=t:")
    poisoned_id = "a" * 64
    redis_set(redis_server.port, b"t:" + poisoned_id.encode(), safetensors_with_header(b'{"x":' + b"[" * 200000))
    for _ in range(3):  # each reader survives and sees a miss (the entry is removed as corrupt)
        assert store.get(poisoned_id) is None
