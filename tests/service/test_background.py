"""The background worker over HTTP: effects, the result cache, bad input."""
import base64

import httpx
import numpy as np

import inpaint


def portrait(size: int = 96) -> bytes:
    """A warm disc on a cool, plain background: something the saliency matter separates."""
    y, x = np.mgrid[0:size, 0:size]
    rgb = np.empty((size, size, 3), np.uint8)
    rgb[:] = (70, 110, 170)
    disc = (x - size / 2) ** 2 + (y - size / 2) ** 2 < (size / 4) ** 2
    rgb[disc] = (220, 150, 60)
    return inpaint.encode(np.ascontiguousarray(rgb), "png")


def test_one_effect_comes_back_as_an_rgba_png_and_a_repeat_from_the_cache(main_service):
    photo = portrait()
    first = httpx.post(main_service.url + "/remove-background", content=photo, timeout=30)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "image/png" and first.headers["x-cache"] == "miss"
    decoded = inpaint.decode(first.content)
    assert decoded.alpha is not None and decoded.alpha[48, 48] > 200 and decoded.alpha[2, 2] < 50
    again = httpx.post(main_service.url + "/remove-background", content=photo, timeout=30)
    assert again.headers["x-cache"] == "hit" and again.content == first.content
    assert main_service.metric("inpaint_result_cache_hits_total") >= 1


def test_several_effects_come_back_as_json(main_service):
    r = httpx.post(main_service.url + "/remove-background", params={"effects": "color,bw", "background": "#ffffff"},
                   content=portrait(80), timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body["outputs"]) == {"color", "bw"} and body["width"] == 80
    bw = inpaint.decode(base64.b64decode(body["outputs"]["bw"])).rgb
    assert bw[2, 2].tolist() == [255, 255, 255]  # the background colour replaced the backdrop
    assert main_service.metric("inpaint_stage_milliseconds_count", worker="background", stage="model") >= 1


def test_bad_requests_are_4xx_with_json_errors(main_service):
    url = main_service.url + "/remove-background"
    cases = [
        (httpx.post(url, content=b"no image here"), 422),
        (httpx.post(url, content=b""), 400),
        (httpx.post(url, params={"effects": "sepia"}, content=portrait()), 422),
        (httpx.post(url, params={"glitter": "1"}, content=portrait()), 400),
        (httpx.post(url, params={"format": "gif"}, content=portrait()), 400),
        (httpx.post(url, params={"effects": "color,bw", "response": "image"}, content=portrait()), 400),
        (httpx.post(url, content=b"\0" * (2 * 1024 * 1024 + 1)), 413),
    ]
    for response, status in cases:
        assert response.status_code == status, (response.status_code, response.text)
        assert response.json()["error"]
