"""The segmentation worker over HTTP: encode once on upload, infer many times from the tiered
store, also from a second process; the Redis tier dies and comes back."""
import base64
import time

import httpx
import numpy as np
import pytest

import inpaint

from conftest import photo


def upload(service, image_id, rgb):
    r = httpx.put(f"{service.url}/images/{image_id}", content=inpaint.encode(rgb, "png"), timeout=30)
    assert r.status_code == 202, r.text
    assert r.json()["encoding_status"] == "pending"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = httpx.get(f"{service.url}/images/{image_id}").json()
        if status["encoding_status"] in ("completed", "failed"):
            assert status["encoding_status"] == "completed", status
            return status
        time.sleep(0.05)
    raise AssertionError(f"{image_id} was not encoded in time")


def infer(service, image_id, **body):
    r = httpx.post(f"{service.url}/images/{image_id}/infer", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def decode_rle(rle):
    size, counts = rle["size"], rle["counts"]
    values = np.repeat(np.arange(len(counts)) % 2, counts).astype(np.uint8) * 255
    return values.reshape(size)


def encoder_runs(*services):
    return sum(s.metric("inpaint_encoder_runs_total") for s in services)


def test_one_encode_answers_many_prompts_in_both_processes(stack, main_service, peer_service):
    before = encoder_runs(main_service, peer_service)
    upload(main_service, "img-many", photo(128, 128))
    masks = []
    for service in (main_service, peer_service) * 3:
        for x in (40, 64, 90):
            body = infer(service, "img-many", points=[[x, 64, 1]], format="rle")
            assert body["encoding"] == "store" and len(body["masks"]) == 1
            masks.append(decode_rle(body["masks"][0]["rle"]))
    assert encoder_runs(main_service, peer_service) == before + 1
    # The disc decoder's best mask: a disc of radius 40 model pixels at the point, 5 pixels here
    # (the model sees the photo at 1024 on its long side).
    mask = masks[1]
    assert mask.shape == (128, 128) and mask[64, 64] == 255 and mask[64, 56] == 0
    assert abs((mask > 0).sum() - np.pi * 5 ** 2) < 0.25 * np.pi * 5 ** 2
    assert all(np.array_equal(m, n) for m, n in zip(masks[:3], masks[3:6]))  # both processes agree


def test_png_and_rle_give_the_same_mask_and_boxes_and_concepts_answer(main_service):
    upload(main_service, "img-formats", photo(128, 128))
    png = infer(main_service, "img-formats", points=[[64, 64]], format="png")["masks"][0]
    rle = infer(main_service, "img-formats", points=[[64, 64]], format="rle")["masks"][0]
    as_png = inpaint.decode_mask(base64.b64decode(png["png"]))
    assert np.array_equal(as_png, decode_rle(rle["rle"]))
    assert png["score"] == pytest.approx(0.9) and png["box"] == rle["box"]
    both = infer(main_service, "img-formats", boxes=[[10, 10, 50, 50], [60, 60, 120, 120]], concepts=["grass"])
    assert len(both["masks"]) == 3 and both["masks"][2]["label"] == "grass"
    assert set(both["timings"]) == {"encoding", "segment", "output"}


def test_the_encoding_downloads_as_immutable_safetensors(main_service):
    upload(main_service, "img-file", photo(64, 64))
    info = httpx.get(f"{main_service.url}/images/img-file/encoding").json()
    assert info["exists"] and info["size_bytes"] > 0 and info["created_at"].endswith("Z")
    r = httpx.get(f"{main_service.url}/images/img-file/encoding.safetensors")
    assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
    encoding = inpaint.Encoding.from_bytes(r.content)
    assert encoding.nbytes == info["size_bytes"] and encoding.model_id == info["model_id"]
    again = httpx.get(f"{main_service.url}/images/img-file/encoding.safetensors",
                      headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304 and not again.content


def test_redis_dying_mid_run_is_survived_counted_and_redis_is_used_again(stack, main_service, peer_service):
    upload(main_service, "img-before", photo(96, 96))
    stack.cache.stop()  # the encoding store's Redis tier crashes
    try:
        # Infers keep answering from the memory and directory tiers, in both processes.
        for service in (main_service, peer_service):
            assert infer(service, "img-before", points=[[48, 48]])["masks"]
        # New uploads encode and store in the tiers that are left.
        runs = encoder_runs(main_service, peer_service)
        upload(main_service, "img-during", photo(80, 96))
        assert infer(peer_service, "img-during", points=[[40, 40]])["encoding"] == "store"
        assert encoder_runs(main_service, peer_service) == runs + 1
        assert main_service.metric("inpaint_store_errors_total", tier="redis") > 0
        assert httpx.get(main_service.url + "/readyz").status_code == 200  # a cache tier is not readiness
    finally:
        stack.cache.start()  # back, empty, on the same port
    time.sleep(0.4)  # past the store's retry_ms
    puts = main_service.metric("inpaint_store_puts_total", tier="redis")
    upload(main_service, "img-after", photo(72, 72))
    assert main_service.metric("inpaint_store_puts_total", tier="redis") == puts + 1
    assert stack.cache.cli("DBSIZE") != "0"


def test_bad_uploads_and_ids_are_4xx_and_store_nothing(stack, main_service):
    url = main_service.url
    r = httpx.put(f"{url}/images/img-garbage", content=b"not an image at all")
    assert r.status_code == 422 and "decode" in r.json()["error"]
    assert httpx.get(f"{url}/images/img-garbage").status_code == 404
    assert not (stack.blobs / "images" / "img-garbage").exists()
    r = httpx.put(f"{url}/images/img-huge", content=b"\0" * (2 * 1024 * 1024 + 1))
    assert r.status_code == 413 and r.json()["error"]
    assert not (stack.blobs / "images" / "img-huge").exists()
    for bad in ("..", "-x", "a.b", "x" * 200):
        r = httpx.put(f"{url}/images/{bad}", content=inpaint.encode(photo(32, 32), "png"))
        assert r.status_code in (400, 404), (bad, r.status_code)
        assert "error" in r.json()
    r = httpx.get(f"{url}/images/..%2F..%2Fetc")
    assert r.status_code in (400, 404) and "error" in r.json()
    assert httpx.post(f"{url}/images/nobody/infer", json={"points": [[1, 1]]}).status_code == 404
    upload(main_service, "img-valid", photo(32, 32))
    for body, word in (({}, "give points"), ({"points": [[1]]}, "points[0]"), ({"points": [[1, 2]], "format": "gif"}, "format"),
                       ({"concepts": ["lava"]}, "unknown concepts"), ({"points": [[1, 2]], "extra": 1}, "unknown fields")):
        r = httpx.post(f"{url}/images/img-valid/infer", json=body)
        assert r.status_code == 400 and word in r.json()["error"], (body, r.text)
    assert httpx.post(f"{url}/images/img-valid/infer", content=b"{").status_code == 400


def test_an_encoding_every_tier_lost_is_encoded_again_from_the_blob(stack, main_service, peer_service):
    upload(main_service, "img-lost", photo(64, 80))
    # The peer never read it, so its memory tier is empty; empty the shared tiers too.
    for file in (stack.tmp / "encodings").glob("*.safetensors"):
        file.unlink()
    stack.cache.cli("FLUSHALL")
    runs = encoder_runs(main_service, peer_service)
    body = infer(peer_service, "img-lost", points=[[40, 32]])
    assert body["encoding"] == "encoded" and body["masks"]
    assert encoder_runs(main_service, peer_service) == runs + 1
    assert infer(peer_service, "img-lost", points=[[40, 32]])["encoding"] == "store"  # kept again
    r = httpx.post(f"{main_service.url}/images/img-lost/encode")  # the main process still holds it
    assert r.status_code == 200 and r.json()["status"] == "completed"
    assert httpx.get(f"{main_service.url}/images/nobody").status_code == 404
