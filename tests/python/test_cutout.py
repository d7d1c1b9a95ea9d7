"""Background removal from Python: matters, effects, the output cache, the matte store and
remove_background(), on real photos with the built-in saliency matter (no model file)."""
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import inpaint

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("INPAINT_DATA_DIR", ROOT.parent / "shared" / "data"))
EFFECTS = ["color", "bw", "popart", "dither"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def data_file(name):
    for folder in (DATA_DIR, DATA_DIR / "inpaint-dev"):
        if (folder / name).exists():
            return folder / name
    pytest.skip(f"{name} not found under INPAINT_DATA_DIR={DATA_DIR}")


@pytest.fixture(scope="module")
def matter():
    return inpaint.load_matter("saliency")


@pytest.fixture(scope="module")
def chelsea_bytes():
    return inpaint.read_file(data_file("chelsea.png"))


@pytest.fixture(scope="module")
def chelsea(chelsea_bytes):
    return inpaint.decode(chelsea_bytes).rgb


@pytest.fixture(scope="module")
def chelsea_alpha(matter, chelsea):
    return matter.matte(chelsea)


def decode_rgba(data):
    decoded = inpaint.decode(data)
    return decoded.rgb, decoded.alpha


# ---------------------------------------------------------------- matters


def test_matters_are_listed():
    listed = {info.name: info for info in inpaint.matters()}
    assert [info.name for info in inpaint.matters()] == sorted(listed)
    assert "saliency" in listed and "salient" in listed
    assert "max_side" in listed["saliency"].keys and "path" in listed["salient"].keys
    assert inpaint.default_matter_spec() == "saliency"


def test_load_matter(matter):
    assert matter.spec.startswith("saliency")
    assert matter.model_id
    assert matter.load_info["device"] == "cpu"
    assert set(matter.load_info) >= {"device", "load_ms", "warmup_ms"}
    assert repr(matter).startswith("inpaint.Matter('saliency")
    assert inpaint.load_matter().spec == matter.spec
    assert inpaint.Matter("saliency:max_side=128").spec != matter.spec


def test_bad_matter_specs():
    with pytest.raises(inpaint.UnknownModelError, match="no-such"):
        inpaint.load_matter("no-such")
    with pytest.raises(inpaint.InvalidArgumentError, match="bogus"):
        inpaint.load_matter("saliency:bogus=1")


def test_matte_and_predict(matter, chelsea):
    alpha = matter.matte(chelsea)
    assert alpha.dtype == np.uint8 and alpha.shape == chelsea.shape[:2]
    covered = (alpha > 127).mean()
    assert 0.05 < covered < 1.0  # the cat, not the whole photo
    prediction = matter.predict(chelsea)
    assert prediction.dtype == np.float32 and prediction.ndim == 2
    assert 0.0 <= prediction.min() and prediction.max() <= 1.0
    with pytest.raises(inpaint.InvalidArgumentError):
        matter.matte(chelsea[:, :, 0].copy())
    with pytest.raises(TypeError):
        matter.matte(chelsea.astype(np.float32))


def test_refine_alpha_and_estimate_foreground(chelsea, chelsea_alpha):
    refined = inpaint.refine_alpha(chelsea, chelsea_alpha, radius=8, eps=1e-4)
    assert refined.shape == chelsea_alpha.shape and refined.dtype == np.uint8
    foreground = inpaint.estimate_foreground(chelsea, chelsea_alpha)
    assert foreground.shape == chelsea.shape and foreground.dtype == np.uint8
    solid = (chelsea_alpha == 0) | (chelsea_alpha == 255)
    assert np.array_equal(foreground[solid], chelsea[solid])  # only soft pixels change
    with pytest.raises(inpaint.InvalidArgumentError):
        inpaint.refine_alpha(chelsea, chelsea_alpha, radius=0)
    with pytest.raises(inpaint.InvalidArgumentError):
        inpaint.refine_alpha(chelsea, chelsea_alpha[:10].copy())


# ---------------------------------------------------------------- effects


def test_effect_names_and_parameters():
    assert inpaint.effect_names() == EFFECTS
    parameters = {p["name"]: p for p in inpaint.effect_parameters()}
    assert parameters["background"]["type"] == "string"
    assert parameters["background"]["default"] == "transparent"
    for p in parameters.values():
        assert set(p) == {"name", "type", "default", "min", "max", "doc"}
        assert p["name"] == "background" or p["name"].split("_")[0] in EFFECTS


def test_render_effects(chelsea, chelsea_alpha):
    images = inpaint.render_effects(chelsea, chelsea_alpha, EFFECTS)
    assert list(images) == EFFECTS
    for image in images.values():
        assert image.shape == chelsea.shape[:2] + (4,) and image.dtype == np.uint8
        assert np.array_equal(image[:, :, 3], chelsea_alpha)
    as_text = inpaint.render_effects(chelsea, chelsea_alpha, "popart,bw", threads=1)
    assert list(as_text) == ["popart", "bw"]
    assert np.array_equal(as_text["bw"], images["bw"])  # deterministic
    white = inpaint.render_effects(chelsea, chelsea_alpha, ["color"], params={"background": "white"})
    assert white["color"].shape == chelsea.shape


def test_render_effects_errors(chelsea, chelsea_alpha):
    with pytest.raises(inpaint.InvalidArgumentError, match="popart") as error:
        inpaint.render_effects(chelsea, chelsea_alpha, "bw,sepia")
    assert "sepia" in str(error.value) and "dither" in str(error.value)
    with pytest.raises(inpaint.InvalidArgumentError):
        inpaint.render_effects(chelsea, chelsea_alpha, ["bw", "bw"])
    with pytest.raises(inpaint.InvalidArgumentError):
        inpaint.render_effects(chelsea, chelsea_alpha, [])
    with pytest.raises(inpaint.InvalidArgumentError, match="no_such_param"):
        inpaint.render_effects(chelsea, chelsea_alpha, "bw", params={"no_such_param": 1})
    with pytest.raises(inpaint.Error, match="chartreuse-ish"):
        inpaint.render_effects(chelsea, chelsea_alpha, "bw", params={"background": "chartreuse-ish"})
    with pytest.raises(inpaint.InvalidArgumentError, match="opencv"):
        inpaint.render_effects(chelsea, chelsea_alpha, "bw", backend="gpu")
    with pytest.raises(TypeError):
        inpaint.render_effects(chelsea, chelsea_alpha, 3)
    with pytest.raises(inpaint.InvalidArgumentError):
        inpaint.render_effects(chelsea, chelsea_alpha[:, :10].copy(), "bw")


# ---------------------------------------------------------------- remove_background


def test_remove_background_all_effects(matter, chelsea_bytes, chelsea):
    result = inpaint.remove_background(matter, chelsea_bytes, effects=EFFECTS)
    assert list(result.outputs) == EFFECTS  # the order asked for
    for data in result.outputs.values():
        assert data.startswith(PNG_SIGNATURE)
    rgb, alpha = decode_rgba(result.outputs["color"])
    assert rgb.shape == chelsea.shape and alpha is not None
    assert np.array_equal(alpha, result.alpha)
    assert (result.width, result.height) == (chelsea.shape[1], chelsea.shape[0])
    assert set(result.timings) == {"key", "decode", "orient", "store", "preprocess", "model", "postprocess", "refine",
                                   "effects", "encode", "total"}
    assert result.timings["model"] > 0 and result.timings["total"] >= result.timings["model"]
    assert not result.outputs_from_cache and not result.matte_from_store and not result.matte_stored
    assert result.store_error == "" and result.effects_device == "cpu"
    assert len(result.input_sha256) == 64
    assert "CutoutResult" in repr(result)
    reordered = inpaint.remove_background(matter, chelsea_bytes, effects="dither,color")
    assert list(reordered.outputs) == ["dither", "color"]
    assert reordered.outputs["dither"] == result.outputs["dither"]


def test_remove_background_options(matter, chelsea_bytes):
    plain = inpaint.remove_background(matter, chelsea_bytes)
    assert list(plain.outputs) == ["color"]
    refined = inpaint.remove_background(matter, chelsea_bytes, refine_radius=8, foreground=True)
    assert refined.timings["refine"] > 0
    assert not np.array_equal(refined.alpha, plain.alpha)
    jpeg = inpaint.remove_background(matter, chelsea_bytes, format="jpeg", quality=80,
                                     params={"background": "#336699"})
    assert jpeg.outputs["color"][:2] == b"\xff\xd8"
    only_matte = inpaint.remove_background(matter, chelsea_bytes, effects=[])
    assert only_matte.outputs == {} and only_matte.alpha.shape == plain.alpha.shape


def test_remove_background_releases_the_gil(matter, chelsea_bytes):
    """Another Python thread keeps running while a cut-out works."""
    started = time.perf_counter()
    inpaint.remove_background(matter, chelsea_bytes, effects=EFFECTS)
    duration = time.perf_counter() - started
    worker = threading.Thread(target=lambda: inpaint.remove_background(matter, chelsea_bytes, effects=EFFECTS))
    ticks = 0
    worker.start()
    last, longest_pause = time.perf_counter(), 0.0
    while worker.is_alive():
        now = time.perf_counter()
        longest_pause, last = max(longest_pause, now - last), now
        ticks += 1
    worker.join()
    assert ticks > 100
    assert longest_pause < duration / 3, f"paused {longest_pause:.3f} s during a {duration:.3f} s call"


def test_cache_hit(matter, chelsea_bytes):
    cache = inpaint.ResultCache(64 << 20)
    first = inpaint.remove_background(matter, chelsea_bytes, effects=EFFECTS, cache=cache)
    second = inpaint.remove_background(matter, chelsea_bytes, effects=EFFECTS, cache=cache)
    assert not first.outputs_from_cache and second.outputs_from_cache
    assert second.outputs == first.outputs and list(second.outputs) == EFFECTS
    assert second.alpha is None
    assert second.timings["model"] == 0 and second.timings["decode"] == 0
    stats = cache.stats()
    assert stats["hits"] == 1 and stats["misses"] == 1 and stats["entries"] == 1
    assert stats["capacity"] == 64 << 20 and stats["bytes"] == sum(map(len, first.outputs.values()))
    other = inpaint.remove_background(matter, chelsea_bytes, effects=["bw"], cache=cache)
    assert not other.outputs_from_cache  # another request, another key
    cache.clear()
    assert cache.stats()["entries"] == 0 and cache.stats()["bytes"] == 0
    tiny = inpaint.ResultCache(10)
    inpaint.remove_background(matter, chelsea_bytes, cache=tiny)
    assert tiny.stats()["entries"] == 0  # larger than the whole cache: not kept
    assert "ResultCache" in repr(cache)


def test_store_serves_the_matte(matter, chelsea_bytes):
    store = inpaint.Store("memory:capacity=64MB")
    first = inpaint.remove_background(matter, chelsea_bytes, effects=EFFECTS, store=store,
                                      cache=inpaint.ResultCache(64 << 20))
    assert first.matte_stored and not first.matte_from_store
    assert store.exists(first.matte_id)
    second = inpaint.remove_background(matter, chelsea_bytes, effects=EFFECTS, store=store,
                                       cache=inpaint.ResultCache(64 << 20))
    assert second.matte_from_store and not second.matte_stored and not second.outputs_from_cache
    assert second.timings["model"] == 0 and second.model_ms_saved > 0
    assert np.array_equal(second.alpha, first.alpha)
    assert second.outputs == first.outputs


def test_store_that_is_down(matter, chelsea_bytes):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = inpaint.Store(f"redis://127.0.0.1:{port}/0?timeout_ms=200")
    result = inpaint.remove_background(matter, chelsea_bytes, store=store)
    assert result.store_error and not result.matte_stored and not result.matte_from_store
    assert result.outputs["color"].startswith(PNG_SIGNATURE)


def test_bad_effect_lists_known_names(matter, chelsea_bytes):
    with pytest.raises(inpaint.InvalidArgumentError) as error:
        inpaint.remove_background(matter, chelsea_bytes, effects="bw,sepia")
    assert all(name in str(error.value) for name in EFFECTS + ["sepia"])
    with pytest.raises(inpaint.InvalidArgumentError):
        inpaint.remove_background(matter, chelsea_bytes, effects=["bw", "bw"])
    with pytest.raises(TypeError):
        inpaint.remove_background(matter, chelsea_bytes, effects=[1])


def test_bad_params(matter, chelsea_bytes):
    with pytest.raises(inpaint.InvalidArgumentError, match="no_such_param"):
        inpaint.remove_background(matter, chelsea_bytes, params={"no_such_param": 2})
    with pytest.raises(TypeError):
        inpaint.remove_background(matter, chelsea_bytes, params={"background": [1]})
    with pytest.raises(inpaint.InvalidArgumentError, match="refine_radius"):
        inpaint.remove_background(matter, chelsea_bytes, refine_radius=-1)
    with pytest.raises(inpaint.InvalidArgumentError, match="threads"):
        inpaint.remove_background(matter, chelsea_bytes, threads=0)
    with pytest.raises(inpaint.InvalidArgumentError):
        inpaint.remove_background(matter, chelsea_bytes, format="gif")
    with pytest.raises(inpaint.InvalidArgumentError, match="opencv"):
        inpaint.remove_background(matter, chelsea_bytes, effects_backend="cuda")
    with pytest.raises(TypeError):
        inpaint.remove_background(matter, "chelsea.png")
    with pytest.raises(inpaint.DecodeError):
        inpaint.remove_background(matter, b"not an image at all")
    with pytest.raises(inpaint.TooLargeError):
        inpaint.remove_background(matter, chelsea_bytes, max_pixels=1000)


def test_bad_background_text(matter, chelsea_bytes):
    with pytest.raises(inpaint.Error, match="chartreuse-ish"):
        inpaint.remove_background(matter, chelsea_bytes, params={"background": "chartreuse-ish"})


def test_one_pixel_image(matter):
    one = inpaint.encode(np.full((1, 1, 3), 200, np.uint8), "png")
    result = inpaint.remove_background(matter, one, effects=EFFECTS)
    assert (result.width, result.height) == (1, 1) and result.alpha.shape == (1, 1)
    for data in result.outputs.values():
        rgb, _ = decode_rgba(data)
        assert rgb.shape == (1, 1, 3)


def test_input_alpha_is_kept(matter, chelsea):
    input_alpha = np.full(chelsea.shape[:2], 255, np.uint8)
    input_alpha[:, : chelsea.shape[1] // 2] = 0  # the left half was already cut away
    input_alpha[:, chelsea.shape[1] // 2 : chelsea.shape[1] // 2 + 20] = 128
    rgba_png = inpaint.encode(chelsea, "png", alpha=input_alpha)
    plain = matter.matte(chelsea)
    result = inpaint.remove_background(matter, rgba_png)
    expected = np.round(plain.astype(np.float64) * input_alpha / 255)
    assert np.abs(result.alpha.astype(np.int32) - expected).max() <= 1
    _, out_alpha = decode_rgba(result.outputs["color"])
    assert np.all(out_alpha[:, : chelsea.shape[1] // 2] == 0)
    assert np.array_equal(out_alpha, result.alpha)


def test_jpeg_output_needs_an_opaque_background(matter, chelsea_bytes):
    with pytest.raises(inpaint.InvalidArgumentError, match="JPEG"):
        inpaint.remove_background(matter, chelsea_bytes, format="jpeg")
    with pytest.raises(inpaint.InvalidArgumentError, match="JPEG"):
        inpaint.remove_background(matter, chelsea_bytes, format="jpeg", params={"background": "transparent"})


def test_cancel(matter, chelsea_bytes):
    token = inpaint.CancelToken()
    token.cancel()
    with pytest.raises(inpaint.CancelledError):
        inpaint.remove_background(matter, chelsea_bytes, cancel=token)
    with pytest.raises(TypeError):
        inpaint.remove_background(matter, chelsea_bytes, cancel="stop")


def test_other_photos(matter):
    for name in ("coffee.png", "astronaut.png"):
        data = inpaint.read_file(data_file(name))
        result = inpaint.remove_background(matter, data, effects=EFFECTS)
        assert list(result.outputs) == EFFECTS
        assert 0 < (result.alpha > 127).mean() < 1
