"""The fill worker over HTTP, fed by a simulated Pub/Sub push subscription."""
import json

import httpx
import numpy as np
import pytest

import inpaint

from conftest import object_mask, photo
from harness import envelope, job, now_rfc3339, push


def test_a_job_completes_writes_both_outputs_and_a_redelivery_acks_without_work(stack, main_service):
    labels = {"surface": "grass", "detail": "patchy grass", "confidence": 0.87}
    folder = stack.session("u1", "happy", labels=labels)
    deliveries = push(main_service.url, job("u1", "happy"), "m-happy")
    assert [(a, s) for a, s, _ in deliveries] == [(1, 200)]
    body = deliveries[0][2]
    assert body["status"] == "completed" and body["promptReason"] == "labels"
    assert body["prompt"] == inpaint.build_prompt(labels).text
    edited = inpaint.decode((stack.blobs / folder / "edited.jpg").read_bytes()).rgb
    preview = inpaint.decode((stack.blobs / folder / "preview.jpg").read_bytes()).rgb
    assert edited.shape == (96, 128, 3) and preview.shape == (96, 128, 3)  # no upscaling past the photo
    # The grey object is gone: the hole now holds the lawn's green.
    hole = edited[object_mask() == 255].astype(int)
    assert hole[:, 1].mean() > hole[:, 0].mean() + 60
    session = stack.read_session("u1", "happy")
    assert session["processingStatus"] == "completed"
    assert session["editedImagePath"] == f"{folder}/edited.jpg" and session["previewImagePath"] == f"{folder}/preview.jpg"
    assert session["promptReason"] == "labels" and session["model"].startswith("patchmatch:")
    timings = json.loads(session["timings"])
    assert {"read", "decode", "clean", "model", "composite", "encode", "preview", "write"} <= set(timings)

    mtime = (stack.blobs / folder / "edited.jpg").stat().st_mtime_ns
    before = main_service.metric("inpaint_fill_jobs_total", outcome="duplicate")
    again = push(main_service.url, job("u1", "happy"), "m-happy")
    assert [(a, s, b["status"]) for a, s, b in again] == [(1, 200, "already_completed")]
    assert (stack.blobs / folder / "edited.jpg").stat().st_mtime_ns == mtime
    assert main_service.metric("inpaint_fill_jobs_total", outcome="duplicate") == before + 1


def test_labels_that_arrive_after_two_nacks_are_used(stack, main_service):
    folder = stack.session("u1", "late")

    def label_after_second_nack(attempt, response):
        assert response.status_code == 500 and response.json()["state"] == "waiting_for_labels"
        if attempt == 2:  # the segmentation worker finishes its labelling now
            r = httpx.post(main_service.url + "/sessions/u1/late/labels", timeout=30,
                           json={"imagePath": f"{folder}/original.jpg", "maskPath": f"{folder}/mask.png"})
            assert r.status_code == 200, r.text
            assert r.json()["sceneLabels"]["surface"] == "grass"

    deliveries = push(main_service.url, job("u1", "late"), "m-late", between=label_after_second_nack)
    assert [(a, s) for a, s, _ in deliveries] == [(1, 500), (2, 500), (3, 200)]
    session = stack.read_session("u1", "late")
    assert session["processingStatus"] == "completed" and session["promptReason"] == "labels"
    assert json.loads(session["sceneLabels"])["surface"] == "grass"
    assert "grass" in session["prompt"]


def test_labels_that_never_arrive_give_the_fallback_prompt_after_the_configured_attempts(stack, main_service):
    stack.session("u1", "nolabels")
    deliveries = push(main_service.url, job("u1", "nolabels"), "m-nolabels")
    # The default policy waits through attempt 3 (LABEL_WAIT_MAX_ATTEMPT) and proceeds at 4.
    assert [(a, s) for a, s, _ in deliveries] == [(1, 500), (2, 500), (3, 500), (4, 200)]
    session = stack.read_session("u1", "nolabels")
    assert session["processingStatus"] == "completed" and session["promptReason"] == "no labels"
    assert session["prompt"] == inpaint.build_prompt(None).text


def test_a_message_too_old_to_wait_proceeds_at_once(stack, main_service):
    stack.session("u1", "old")
    deliveries = push(main_service.url, job("u1", "old"), "m-old", publish_time=now_rfc3339(-3600))
    assert [(a, s) for a, s, _ in deliveries] == [(1, 200)]
    assert stack.read_session("u1", "old")["promptReason"] == "no labels"


BAD_ENVELOPES = {
    "not json": b"{not json",
    "no message": {"subscription": "s"},
    "data not base64": {"message": {"data": "***", "messageId": "m", "publishTime": now_rfc3339()}},
    "data not json": {"message": {"data": "aGVsbG8=", "messageId": "m", "publishTime": now_rfc3339()}},
    "missing fields": envelope({"userId": "u1", "sessionId": "s"}, "m", now_rfc3339()),
    "no message id": {"message": {**envelope(job("u1", "bad"), "m", now_rfc3339())["message"], "messageId": ""}},
    "bad publish time": envelope(job("u1", "bad"), "m", "yesterday"),
    "attempt zero": envelope(job("u1", "bad"), "m", now_rfc3339(), attempt=0),
    "user id with a slash": envelope({**job("u1", "bad"), "userId": "../u2"}, "m", now_rfc3339()),
    "path traversal": envelope({**job("u1", "bad"), "imagePath": "users/u1/sessions/bad/../../../../etc/passwd"},
                               "m", now_rfc3339()),
    "path of another session": envelope({**job("u1", "bad"), "imagePath": "users/u2/sessions/x/original.jpg"},
                                        "m", now_rfc3339()),
    "absolute path": envelope({**job("u1", "bad"), "maskPath": "/etc/passwd"}, "m", now_rfc3339()),
}


@pytest.mark.parametrize("case", sorted(BAD_ENVELOPES))
def test_a_bad_envelope_is_a_400_with_a_json_error_and_changes_nothing(stack, main_service, case):
    folder = stack.session("u1", "bad", labels={"surface": "grass", "confidence": 0.9})
    body = BAD_ENVELOPES[case]
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = httpx.post(main_service.url + "/inpaint", content=content, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["status"] == 400 and r.json()["error"]
    assert stack.read_session("u1", "bad")["processingStatus"] == "pending"
    assert not (stack.blobs / folder / "edited.jpg").exists()


def _bad_input(stack, main_service, session, status, **blobs):
    folder = stack.session("u2", session, labels={"surface": "grass", "confidence": 0.9})
    for name, data in blobs.items():
        (stack.blobs / folder / name.replace("_", ".")).write_bytes(data)
    deliveries = push(main_service.url, job("u2", session), f"m-{session}")
    # The input error is a 4xx; Pub/Sub redelivers it, and the redelivery acks: the session failed.
    assert [(a, s) for a, s, _ in deliveries] == [(1, status), (2, 200)], deliveries
    assert deliveries[0][2]["error"] and deliveries[1][2]["status"] == "already_failed"
    session_doc = stack.read_session("u2", session)
    assert session_doc["processingStatus"] == "failed" and session_doc["error"] == deliveries[0][2]["error"]
    assert not (stack.blobs / folder / "edited.jpg").exists() and not (stack.blobs / folder / "preview.jpg").exists()
    return deliveries[0][2]["error"]


def test_an_image_that_does_not_decode_fails_the_session_once(stack, main_service):
    _bad_input(stack, main_service, "notimage", 422, original_jpg=b"\xff\xd8\xff\xe0 this is not a JPEG")


def test_a_mask_of_another_size_fails_the_session_once(stack, main_service):
    error = _bad_input(stack, main_service, "masksize", 422, mask_png=inpaint.encode(object_mask(50, 60), "png"))
    assert "60x50" in error or "size" in error


def test_a_missing_image_is_a_404(stack, main_service):
    folder = stack.session("u2", "noimage", labels={"surface": "grass", "confidence": 0.9})
    (stack.blobs / folder / "original.jpg").unlink()
    deliveries = push(main_service.url, job("u2", "noimage"), "m-noimage")
    assert [(a, s) for a, s, _ in deliveries] == [(1, 404), (2, 200)]


def test_an_oversized_blob_is_a_413(stack, main_service):
    noise = np.random.default_rng(1).integers(0, 256, (1200, 1200, 3), dtype=np.uint8)
    big = inpaint.encode(noise, "png")
    assert len(big) > 2 * 1024 * 1024  # MAX_BODY_BYTES of the test service
    _bad_input(stack, main_service, "bigblob", 413, original_jpg=big)


def test_a_link_out_of_the_blob_root_is_refused(stack, main_service, tmp_path):
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(inpaint.encode(photo(), "jpeg"))
    folder = stack.session("u2", "link", labels={"surface": "grass", "confidence": 0.9})
    (stack.blobs / folder / "original.jpg").unlink()
    (stack.blobs / folder / "original.jpg").symlink_to(outside)
    deliveries = push(main_service.url, job("u2", "link"), "m-link")
    assert [(a, s) for a, s, _ in deliveries] == [(1, 400), (2, 200)]
    assert "leaves the blob root" in deliveries[0][2]["error"]
    assert not (stack.blobs / folder / "edited.jpg").exists()


def test_an_unknown_session_is_a_404(main_service):
    r = httpx.post(main_service.url + "/inpaint", json=envelope(job("nobody", "nothing"), "m", now_rfc3339()))
    assert r.status_code == 404 and "does not exist" in r.json()["error"]


def test_logs_are_json_lines_with_the_request_ids(main_service):
    lines = main_service.log_lines()
    completed = [line for line in lines if line.get("message") == "completed"]
    assert completed and all(line["message_id"] and line["session_id"] and line["request_id"] for line in completed)
    access = [line for line in lines if line.get("logger") == "inpaint_service.access" and line.get("path") == "/inpaint"]
    assert access and all("status" in line and "ms" in line for line in access)


def test_metrics_count_routes_and_stages(main_service):
    assert main_service.metric("inpaint_http_requests_total", route="/inpaint", status="200") >= 3
    assert main_service.metric("inpaint_http_requests_total", route="/inpaint", status="500") >= 5
    assert main_service.metric("inpaint_http_request_seconds_count", route="/inpaint") >= 8
    assert main_service.metric("inpaint_stage_milliseconds_count", worker="fill", stage="model") >= 3
    assert main_service.metric("inpaint_fill_jobs_total", outcome="waiting_for_labels") >= 5
    assert main_service.metric("inpaint_model_load_seconds", kind="fill", spec="patchmatch") > 0
    assert main_service.metric("inpaint_ready") == 1
