"""Encoding stores under faults, driven through the CLI and the module: a RESP server that is
not Redis, a poisoned chunk manifest, FIFOs and directories where files should be, a full disk."""
import os
import resource
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import inpaint

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(os.environ.get("INPAINT_CLI", ROOT / "build" / "bin" / "inpaint"))

pytestmark = pytest.mark.skipif(not CLI.exists(), reason=f"{CLI} is not built")


def run(*args, **kwargs):
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=20, **kwargs)


def encoding_file(path, floats=64, seed=0):
    e = inpaint.Encoding(model_id="sam-faults")
    e.add("image_embed", np.arange(floats, dtype=np.float32) + seed)
    inpaint.write_safetensors(path, e)


def error_line(result):
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("inpaint: error: "), result.stderr
    return lines[-1]


class FakeRedis:
    """Speaks RESP on a loopback port and answers each command with reply(args) (bytes), or as an
    empty Redis would when reply gives None. Counts the commands."""

    def __init__(self, reply):
        self.reply = reply
        self.counts = {}
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.stopped = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def close(self):
        self.stopped = True
        self.thread.join()
        self.listener.close()

    @staticmethod
    def normal(args):
        name = args[0].upper()
        if name in (b"SET", b"SELECT"):
            return b"+OK\r\n"
        if name == b"SCAN":
            return b"*2\r\n$1\r\n0\r\n*0\r\n"
        if name == b"GETRANGE":
            return b"$0\r\n\r\n"
        if name == b"GET":
            return b"$-1\r\n"
        return b":0\r\n"

    def serve(self):
        while not self.stopped:
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(0.1)
                data = b""
                while not self.stopped:
                    try:
                        chunk = conn.recv(65536)
                    except socket.timeout:
                        continue
                    if not chunk:
                        break
                    data += chunk
                    while True:
                        args, data = self.parse(data)
                        if args is None:
                            break
                        name = args[0].decode().upper()
                        self.counts[name] = self.counts.get(name, 0) + 1
                        out = self.reply(args)
                        conn.sendall(out if out is not None else self.normal(args))

    @staticmethod
    def parse(data):
        """One '*N $len arg ...' command off the front of data, or (None, data) when incomplete."""
        if not data.startswith(b"*") or b"\r\n" not in data:
            return None, data
        head, rest = data.split(b"\r\n", 1)
        args = []
        for _ in range(int(head[1:])):
            if b"\r\n" not in rest:
                return None, data
            length_line, rest = rest.split(b"\r\n", 1)
            length = int(length_line[1:])
            if len(rest) < length + 2:
                return None, data
            args.append(rest[:length])
            rest = rest[length + 2:]
        return args, rest


@pytest.fixture
def fake_redis():
    servers = []

    def make(reply):
        servers.append(FakeRedis(reply))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


@pytest.mark.parametrize("scan_reply, needle", [
    (b"*2\r\n:0\r\n*0\r\n", "SCAN 0 (the cursor): unexpected reply (integer 0)"),  # looped for ever
    (b"*2\r\n$1\r\n9\r\n*0\r\n", "returned cursor 9 twice"),
    (b":5\r\n", "SCAN 0: unexpected reply (integer 5)"),
    (b"+OK\r\n", "SCAN 0: unexpected reply (status 'OK')"),
])
def test_ls_against_a_server_that_is_not_redis_fails_at_once(fake_redis, scan_reply, needle):
    calls = []

    def reply(args):
        if args[0].upper() != b"SCAN":
            return None
        calls.append(1)
        return b"-ERR enough\r\n" if len(calls) > 50 else scan_reply  # a looping client still ends

    server = fake_redis(reply)
    started = time.monotonic()
    result = run("store", "ls", "--store", f"redis://127.0.0.1:{server.port}?timeout_ms=500")
    assert time.monotonic() - started < 10
    assert result.returncode == 1, result
    line = error_line(result)
    assert needle in line and f"redis 127.0.0.1:{server.port}" in line, line
    assert server.counts["SCAN"] <= 2


def test_a_poisoned_manifest_is_a_logged_miss(tmp_path, redis_server):
    store = redis_server.url + "/0?prefix=p:&chunk=1KiB"
    source = tmp_path / "e.safetensors"
    encoding_file(source, floats=2000)
    assert run("store", "put", "--store", store, "--file", source, "--id", "a").returncode == 0
    token = redis_server.cli("GET", "p:a").split("\n")[1]
    redis_server.cli("SET", "p:a", f"INPAINT-CHUNKS\n{token}\n9\n18446744073709551615\n")
    result = run("store", "get", "--store", store, "--id", "a", "--out", tmp_path / "out.safetensors")
    assert result.returncode == 1
    assert "removing corrupt encoding p:a" in result.stderr and "exceeds the limit" in result.stderr, result.stderr
    assert "no encoding 'a'" in error_line(result)
    assert not (tmp_path / "out.safetensors").exists()
    assert redis_server.cli("EXISTS", "p:a") == "0"


def test_put_from_a_fifo_or_a_directory_fails_at_once(tmp_path):
    fifo = tmp_path / "in.safetensors"
    os.mkfifo(fifo)
    result = run("store", "put", "--store", f"dir:path={tmp_path}/enc", "--file", fifo, "--id", "x")
    assert result.returncode == 1
    assert f"'{fifo}': not a regular file (a FIFO)" in error_line(result)
    (tmp_path / "d.safetensors").mkdir()
    with pytest.raises(inpaint.DecodeError, match="not a regular file \\(a directory\\)"):
        inpaint.read_safetensors(tmp_path / "d.safetensors")


def test_a_fifo_in_the_store_is_a_miss(tmp_path):
    (tmp_path / "enc").mkdir()
    os.mkfifo(tmp_path / "enc" / "x.safetensors")
    store = inpaint.Store(f"dir:path={tmp_path}/enc")
    done = []
    reader = threading.Thread(target=lambda: done.append(store.get("x")), daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # waiting for a writer: be one, so that the test ends
        os.close(os.open(tmp_path / "enc" / "x.safetensors", os.O_WRONLY | os.O_NONBLOCK))
        reader.join()
        pytest.fail("get() waited on a FIFO")
    assert done == [None]
    assert store.stats()["corrupt"] == 1


def _limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG from write() instead of a signal
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))


def test_a_full_disk_leaves_no_partial_file(tmp_path):
    store_dir = tmp_path / "enc"
    store = f"dir:path={store_dir}"
    small, big = tmp_path / "small.safetensors", tmp_path / "big.safetensors"
    encoding_file(small, floats=1000, seed=1)
    encoding_file(big, floats=1 << 20, seed=2)  # 4 MB, over the 1 MB limit
    assert run("store", "put", "--store", store, "--file", small, "--id", "keep").returncode == 0
    for entry in ("new", "keep"):
        result = run("store", "put", "--store", store, "--file", big, "--id", entry, preexec_fn=_limit_file_size)
        assert result.returncode == 1, result
        line = error_line(result)
        assert f"cannot store '{store_dir}/{entry}.safetensors'" in line and "File too large" in line, line
        assert "temporary file removed" in line
    assert sorted(p.name for p in store_dir.iterdir()) == ["keep.safetensors"]
    out = tmp_path / "out.safetensors"
    assert run("store", "get", "--store", store, "--id", "keep", "--out", out).returncode == 0
    assert out.read_bytes() == small.read_bytes()
