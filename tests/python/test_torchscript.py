"""TorchScript fill models saved by python3-torch (as the Python worker would export them), and the
CancelToken that stops fill() and run() from another thread.

Run with the built package on the path: PYTHONPATH=build/python /usr/bin/python3 -m pytest tests/python
"""
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import inpaint

torch = pytest.importorskip("torch")


class _Lama(torch.nn.Module):
    """Returns 1 - image: hole pixels must come back as 255 - input."""

    def forward(self, image, mask):
        return 1.0 - image


class _Migan(torch.nn.Module):
    """Returns a constant 0.0 in [-1, 1]: hole pixels must come back as 128."""

    def forward(self, x):
        return torch.zeros(1, 3, 512, 512)


def _photo(height, width):
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def _hole(height, width, box):
    mask = np.zeros((height, width), np.uint8)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 255
    return mask


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    folder = tmp_path_factory.mktemp("torchscript")
    lama = folder / "lama.pt"
    torch.jit.script(_Lama()).save(str(lama))
    migan = folder / "migan.pt"
    torch.jit.trace(_Migan(), torch.zeros(1, 4, 512, 512)).save(str(migan))
    return {"lama": str(lama), "migan": str(migan)}


def test_lama_module_from_python(modules):
    model = inpaint.Model(f"torchscript:path={modules['lama']},device=cpu,warmup=1")
    assert "contract=lama" in model.spec and "device=cpu" in model.spec and "warmup=1" in model.spec
    info = model.load_info
    assert info["device"] == "cpu" and info["load_ms"] > 0 and info["warmup_ms"] > 0
    assert inpaint.Model("telea").load_info == {"device": "cpu", "load_ms": 0.0, "warmup_ms": 0.0, "backend_ms": 0.0,
                                                "weight_bytes": 0}

    assert model.ready is True and inpaint.Model("telea").ready is True
    image, mask = _photo(37, 53), _hole(37, 53, (10, 5, 30, 20))
    out = inpaint.fill(model, image, mask, clean=False, feather_px=0).image
    hole = mask > 127
    assert np.array_equal(out[hole], 255 - image[hole])
    assert np.array_equal(out[~hole], image[~hole])


def test_the_first_torch_model_reports_loading_the_backend(modules):
    # A fresh process: the first torch model pays for loading the backend, the next does not.
    code = (f"import inpaint; spec = 'torchscript:path={modules['lama']},device=cpu';"
            "a = inpaint.Model(spec).load_info; b = inpaint.Model(spec).load_info;"
            "print(a['backend_ms'], b['backend_ms'], inpaint.backends()[0]['load_ms'])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    first, second, status = map(float, r.stdout.split())
    assert first > 0 and second == 0 and first == status, r.stdout


def test_migan_module_from_python(modules):
    model = inpaint.Model(f"torchscript:path={modules['migan']},contract=migan,device=cpu")
    image, mask = _photo(300, 700), _hole(300, 700, (400, 100, 420, 130))
    out = inpaint.fill(model, image, mask, clean=False, feather_px=0).image
    hole = mask > 127
    assert (out[hole] == 128).all()
    assert np.array_equal(out[~hole], image[~hole])


def test_torchscript_errors(modules, tmp_path):
    with pytest.raises(inpaint.FileError, match="missing.pt"):
        inpaint.Model(f"torchscript:path={tmp_path / 'missing.pt'},device=cpu")
    text = tmp_path / "text.pt"
    text.write_text("not a model")
    with pytest.raises(inpaint.DecodeError, match="text.pt"):
        inpaint.Model(f"torchscript:path={text},device=cpu")
    with pytest.raises(inpaint.InvalidArgumentError, match="fp32 only"):
        inpaint.Model(f"torchscript:path={modules['lama']},dtype=fp16")
    if not torch.cuda.is_available():
        with pytest.raises(inpaint.InvalidArgumentError, match="no CUDA"):
            inpaint.Model(f"torchscript:path={modules['lama']},device=cuda")


def test_cancel_token_before_and_during_a_run():
    model = inpaint.Model("patchmatch:iterations=50")
    image, mask = _photo(600, 800), _hole(600, 800, (200, 150, 600, 450))
    token = inpaint.CancelToken()
    assert not token.cancelled
    token.cancel()
    assert token.cancelled
    with pytest.raises(inpaint.CancelledError):
        inpaint.fill(model, image, mask, cancel=token)

    # From another thread while the fill runs (the GIL is released during it).
    token = inpaint.CancelToken()
    timer = threading.Timer(0.05, token.cancel)
    timer.start()
    start = time.monotonic()
    with pytest.raises(inpaint.CancelledError):
        inpaint.fill(model, image, mask, cancel=token)
    timer.join()
    assert time.monotonic() - start < 5


def test_cancel_token_timeout():
    model = inpaint.Model("patchmatch")
    image, mask = _photo(64, 64), _hole(64, 64, (20, 20, 40, 40))
    with pytest.raises(inpaint.WaitTimeoutError, match="deadline"):
        inpaint.fill(model, image, mask, cancel=inpaint.CancelToken(timeout=0))
    assert isinstance(inpaint.WaitTimeoutError("x"), TimeoutError)
    token = inpaint.CancelToken(timeout=60)
    assert inpaint.fill(model, image, mask, cancel=token).regions == 1
    token.set_timeout(0)
    with pytest.raises(inpaint.WaitTimeoutError):
        inpaint.fill(model, image, mask, cancel=token)
    with pytest.raises(inpaint.InvalidArgumentError, match="timeout"):
        token.set_timeout(-1)
    with pytest.raises(TypeError, match="CancelToken"):
        inpaint.fill(model, image, mask, cancel="stop")


def test_progress_callback():
    model = inpaint.Model("patchmatch:iterations=5")
    image, mask = _photo(96, 80), _hole(96, 80, (30, 20, 60, 50))
    seen, threads = [], set()

    def record(fraction):
        # Called with the GIL held: touching Python objects is safe here.
        seen.append(fraction)
        threads.add(threading.get_ident())

    reference = inpaint.fill(model, image, mask).image
    out = inpaint.fill(model, image, mask, progress=record).image
    assert len(seen) >= 2 and all(0 < f <= 1 for f in seen) and seen == sorted(seen) and seen[-1] == 1.0
    assert np.array_equal(out, reference)  # watching does not change the result
    assert threads == {threading.get_ident()}  # fill() runs the model on the calling thread

    # run() on encoded bytes takes it too; True goes on like None.
    encoded_image = inpaint.encode(image, format="png")
    encoded_mask = inpaint.encode(mask, format="png")
    seen.clear()
    inpaint.run(model, encoded_image, encoded_mask, progress=lambda f: seen.append(f) or True)
    assert seen and seen[-1] == 1.0

    # False after the second report stops the run there.
    calls = []
    with pytest.raises(inpaint.CancelledError, match="progress callback"):
        inpaint.fill(model, image, mask, progress=lambda f: calls.append(f) or len(calls) < 2)
    assert len(calls) == 2

    # An exception in the callback stops the run and comes out of the call as itself.
    def boom(fraction):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        inpaint.fill(model, image, mask, progress=boom)
    with pytest.raises(TypeError, match="progress must be a callable"):
        inpaint.fill(model, image, mask, progress=3)


def test_progress_callback_with_a_cancel_token():
    model = inpaint.Model("patchmatch:iterations=5")
    image, mask = _photo(96, 80), _hole(96, 80, (30, 20, 60, 50))
    # The token still stops the run when a callback is given: here the callback cancels it.
    token = inpaint.CancelToken()
    calls = []

    def cancel_on_second(fraction):
        calls.append(fraction)
        if len(calls) == 2:
            token.cancel()

    with pytest.raises(inpaint.CancelledError):
        inpaint.fill(model, image, mask, cancel=token, progress=cancel_on_second)
    assert len(calls) == 2
    # Its deadline too, and between stages (telea reports no progress at all).
    with pytest.raises(inpaint.WaitTimeoutError):
        inpaint.fill(inpaint.Model("telea"), image, mask, cancel=inpaint.CancelToken(timeout=0), progress=print)
    # A token shared by two runs: each run's callback is its own.
    token, a, b = inpaint.CancelToken(timeout=60), [], []
    inpaint.fill(model, image, mask, cancel=token, progress=a.append)
    inpaint.fill(model, image, mask, cancel=token, progress=b.append)
    assert a == b and a[-1] == 1.0
