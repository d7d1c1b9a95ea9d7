"""Readiness, backpressure, deadlines, give-up, body limits and graceful shutdown, on a service
whose Python model (slow_model.py) takes 2 s to load and red(0, 0) / 50 s per fill."""
import json
import signal
import socket
import threading
import time

import httpx
import pytest

from conftest import photo
from harness import ServiceProcess, envelope, job, now_rfc3339, push

LABELS = {"surface": "grass", "confidence": 0.9}


@pytest.fixture(scope="module")
def slow_starting(stack):
    return stack.service("slow", wait_ready=False, SERVICE_ROUTES="fill", SERVICE_MODEL_MODULES="slow_model",
                         MODEL_SPEC="slow:load_s=2", FILL_CONCURRENCY="1", FILL_QUEUE="1", FILL_DEADLINE_S="3",
                         LABEL_WAIT_MAX_ATTEMPT="1", GIVE_UP_ATTEMPT="2")


@pytest.fixture
def slow(slow_starting):
    slow_starting.wait("/readyz", timeout=30)
    return slow_starting


def test_not_ready_until_the_model_is_loaded_and_warmed(stack, slow_starting):
    slow = slow_starting
    stack.session("u3", "early", labels=LABELS)
    ready = httpx.get(slow.url + "/readyz")
    assert ready.status_code == 503 and ready.json()["ready"] is False
    r = httpx.post(slow.url + "/inpaint", json=envelope(job("u3", "early"), "m-early", now_rfc3339()))
    assert r.status_code == 503 and r.headers["retry-after"]  # Pub/Sub backs off and redelivers
    slow.wait("/readyz", timeout=30)
    body = httpx.get(slow.url + "/readyz").json()
    assert body["ready"] and body["engines"]["fill"]["load_s"] >= 2
    assert slow.metric("inpaint_model_load_seconds", kind="fill") >= 2
    assert [s for _, s, _ in push(slow.url, job("u3", "early"), "m-early")] == [200]


def test_give_up_when_labels_never_come_by_the_last_attempt(stack, slow):
    stack.session("u3", "giveup")
    deliveries = push(slow.url, job("u3", "giveup"), "m-giveup")
    assert [(a, s) for a, s, _ in deliveries] == [(1, 500), (2, 200)]
    assert deliveries[1][2]["status"] == "failed"
    session = stack.read_session("u3", "giveup")
    assert session["processingStatus"] == "failed" and "never arrived" in session["error"]


def test_a_full_pool_answers_429_at_once_instead_of_queueing(stack, slow):
    for i in range(4):
        stack.session("u3", f"busy{i}", labels=LABELS, image=photo(corner_red=40))  # 0.8 s; the waiting one ends by 1.6 s
    rejected = slow.metric("inpaint_jobs_rejected_total", pool="fill")
    statuses = [None] * 4

    def deliver(i):
        r = httpx.post(slow.url + "/inpaint", json=envelope(job("u3", f"busy{i}"), f"m-busy{i}", now_rfc3339()),
                       timeout=30)
        statuses[i] = (r.status_code, r.headers.get("retry-after"), r.json())

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(s[0] for s in statuses)
    assert codes == [200, 200, 429, 429], statuses  # 1 running + 1 waiting; the rest refused
    assert all(s[1] == "1" and "try again" in s[2]["error"] for s in statuses if s[0] == 429)
    assert slow.metric("inpaint_jobs_rejected_total", pool="fill") == rejected + 2
    refused = [i for i in range(4) if statuses[i][0] == 429]
    assert all(stack.read_session("u3", f"busy{i}")["processingStatus"] == "pending" for i in refused)


def test_two_deliveries_at_once_compute_once(stack, slow):
    stack.session("u3", "twice", labels=LABELS, image=photo(corner_red=40))
    answers = []

    def deliver():
        r = httpx.post(slow.url + "/inpaint", json=envelope(job("u3", "twice"), "m-twice", now_rfc3339()), timeout=30)
        answers.append(r.status_code)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 409]  # the second is nacked while the first holds the session
    assert [s for _, s, _ in push(slow.url, job("u3", "twice"), "m-twice")] == [200]  # its redelivery acks
    assert slow.metric("inpaint_fill_jobs_total", outcome="in_progress") >= 1


def test_a_deadline_is_retried_then_given_up_at_the_last_attempt(stack, slow):
    folder = stack.session("u3", "deadline", labels=LABELS, image=photo(corner_red=200))  # 4 s > 3 s
    deliveries = push(slow.url, job("u3", "deadline"), "m-deadline")
    assert [(a, s) for a, s, _ in deliveries] == [(1, 504), (2, 200)], deliveries
    assert "deadline" in deliveries[0][2]["error"] and deliveries[1][2]["status"] == "failed"
    assert stack.read_session("u3", "deadline")["processingStatus"] == "failed"
    assert not (stack.blobs / folder / "edited.jpg").exists()


def _raw_request(port, head: bytes, body: bytes, wait_s: float) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as s:
        s.sendall(head + body)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except socket.timeout:
            pass
        return b"".join(chunks)


def test_a_body_that_never_ends_is_a_408_and_touches_nothing(stack, slow):
    stack.session("u3", "stalled", labels=LABELS)
    head = (b"POST /inpaint HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5000\r\n\r\n")
    start = time.monotonic()
    answer = _raw_request(slow.port, head, b'{"message": {', wait_s=10)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - start < 8  # BODY_TIMEOUT_S is 1
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["status"] == 408
    assert stack.read_session("u3", "stalled")["processingStatus"] == "pending"


def test_an_oversized_body_is_a_413_declared_or_streamed(slow):
    big = b"x" * (2 * 1024 * 1024 + 10)
    r = httpx.post(slow.url + "/inpaint", content=big)
    assert r.status_code == 413 and "limit" in r.json()["error"]

    def chunks():
        for _ in range(40):
            yield b"y" * 65536

    r = httpx.post(slow.url + "/inpaint", content=chunks())  # chunked: no Content-Length to refuse up front
    assert r.status_code == 413 and r.json()["status"] == 413


def test_a_model_that_fails_to_load_is_reported_not_retried(stack):
    broken = stack.service("broken", wait_ready=False, SERVICE_ROUTES="fill", MODEL_SPEC="patchmatch:patch=2")
    deadline = time.monotonic() + 20
    while httpx.get(broken.url + "/healthz").status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    health = httpx.get(broken.url + "/healthz")
    assert health.status_code == 503 and "patch" in health.json()["error"]
    ready = httpx.get(broken.url + "/readyz")
    assert ready.status_code == 503 and "patch" in ready.json()["error"]
    broken.stop()


def test_the_model_variant_comes_from_the_variants_file(stack, tmp_path):
    variants = tmp_path / "variants.json"
    variants.write_text(json.dumps({"quick": "telea:radius=3", "exemplar": "patchmatch"}))
    service = stack.service("variant", SERVICE_ROUTES="fill", MODEL_VARIANT="quick", INPAINT_MODEL_VARIANTS=str(variants))
    assert httpx.get(service.url + "/readyz").json()["engines"]["fill"]["spec"] == "telea:radius=3"
    service.stop()
    wrong = ServiceProcess("wrong-variant", stack.env(MODEL_VARIANT="nope", INPAINT_MODEL_VARIANTS=str(variants)),
                           stack.tmp)
    with pytest.raises(RuntimeError, match=r"exited \(2\)"):
        wrong.start()
    assert "MODEL_VARIANT='nope' is not in" in wrong.log() and "known: exemplar, quick" in wrong.log()


def test_output_settings_and_no_warmup(stack, main_service):
    tuned = stack.service("tuned", SERVICE_ROUTES="fill", PREVIEW_LONG_SIDE="0", JPEG_QUALITY="40", WARMUP="0")
    assert httpx.get(tuned.url + "/readyz").json()["engines"]["fill"]["warmup_s"] == 0
    sizes = {}
    for name, service in (("tuned", tuned), ("default", main_service)):
        folder = stack.session("u4", name, labels=LABELS)
        assert [s for _, s, _ in push(service.url, job("u4", name), f"m-{name}")] == [200]
        sizes[name] = (stack.blobs / folder / "edited.jpg").stat().st_size
        assert (stack.blobs / folder / "preview.jpg").exists() == (name == "default")
        assert stack.read_session("u4", name)["previewImagePath"] == ("" if name == "tuned" else f"{folder}/preview.jpg")
    assert sizes["tuned"] < sizes["default"]  # JPEG quality 40 against the default 90
    tuned.stop()


def test_sigterm_finishes_the_job_in_flight_then_exits(stack, slow):
    stack.session("u3", "drain", labels=LABELS, image=photo(corner_red=60))  # 1.2 s
    result = {}

    def deliver():
        r = httpx.post(slow.url + "/inpaint", json=envelope(job("u3", "drain"), "m-drain", now_rfc3339()), timeout=30)
        result["response"] = (r.status_code, r.json())

    t = threading.Thread(target=deliver)
    t.start()
    time.sleep(0.4)
    assert slow.stop(signal.SIGTERM) == 0
    t.join()
    assert result["response"][0] == 200 and result["response"][1]["status"] == "completed"
    assert stack.read_session("u3", "drain")["processingStatus"] == "completed"
    assert any(line.get("message") == "stopped" for line in slow.log_lines())
