"""The fill worker: POST /inpaint, fed by a Pub/Sub push subscription.

One delivery: validate the envelope (400) -> model ready? (503) -> read the session (404 when
unknown; a completed or failed session acks at once, so redeliveries never recompute) -> the
label-wait policy (500 = nack while the scene labels may still come; give up = ack with the
session failed) -> claim the session (409 while another delivery holds it) -> read image and
mask, run the pipeline on a fill thread with a deadline, write edited.jpg and preview.jpg ->
session completed. Input errors (404/413/422) mark the session failed, so the redelivery that
Pub/Sub makes of every non-2xx acks instead of looping; transient errors (503/504/500) leave it
pending until the give-up attempt, where the session fails and the delivery acks.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from datetime import datetime, timezone
from typing import Any, Dict

from fastapi import APIRouter, Request

import inpaint

from .ops import ServiceError, bind, library_error, read_json
from .pubsub import BadEnvelope, FillJob, parse_push
from .stores import BlobNotFound, BlobTooLarge, InvalidId, now_iso, session_key

log = logging.getLogger("inpaint_service.fill")
router = APIRouter()

_TERMINAL = ("completed", "failed")
_OWNER = f"{socket.gethostname()}:{os.getpid()}"


class InputFailure(ServiceError):
    """The job's inputs are wrong: retrying cannot help, the session is marked failed."""


class TransientFailure(ServiceError):
    """Overload, a deadline or an unexpected error: a later delivery may succeed."""


def _fill(service, job: FillJob, prompt: str, cancel: inpaint.CancelToken):
    """Runs on a fill thread: blobs in, pipeline, blobs out. Nothing is written unless all of it worked."""
    settings = service.settings
    start = time.perf_counter()
    try:
        image = service.blobs.read(job.image_path, settings.max_body_bytes)
        mask = service.blobs.read(job.mask_path, settings.max_body_bytes)
    except BlobNotFound as e:
        raise InputFailure(404, str(e)) from None
    except BlobTooLarge as e:
        raise InputFailure(413, str(e)) from None
    except InvalidId as e:  # e.g. a link in the blob root that points out of it
        raise InputFailure(400, str(e)) from None
    read_ms = (time.perf_counter() - start) * 1000.0
    try:
        result = inpaint.run(service.engines.fill_model, image, mask, prompt=prompt, cancel=cancel,
                             format="jpeg", quality=settings.jpeg_quality,
                             preview_long_side=settings.preview_long_side, max_pixels=settings.max_pixels)
    except inpaint.Error as e:
        answer = library_error(e)
        if answer is None:
            raise
        kind = InputFailure if answer.status < 500 else TransientFailure
        raise kind(answer.status, f"the fill {answer.message}" if answer.status == 504 else answer.message) from None
    start = time.perf_counter()
    edited = f"{job.folder}/edited.jpg"
    preview = f"{job.folder}/preview.jpg" if result.preview is not None else ""
    service.blobs.write(edited, result.encoded)
    if preview:
        try:
            service.blobs.write(preview, result.preview)
        except BaseException:
            service.blobs.remove(edited)
            raise
    timings = {"read": read_ms, **result.timings, "write": (time.perf_counter() - start) * 1000.0}
    return result, edited, preview, timings


@router.post("/inpaint")
async def inpaint_push(request: Request) -> Dict[str, Any]:
    service = request.app.state.service
    metrics, settings, documents = service.metrics, service.settings, service.documents
    try:
        job = parse_push(await read_json(request))
    except BadEnvelope as e:
        metrics.fill_outcomes.labels("bad_envelope").inc()
        raise ServiceError(400, str(e)) from None
    bind(message_id=job.message_id, user_id=job.user_id, session_id=job.session_id)
    if not service.engines.ready:
        raise ServiceError(503, "the fill model is not ready", headers={"Retry-After": "10"})
    key = session_key(job.user_id, job.session_id)
    session = await documents.get(key)
    if session is None:
        metrics.fill_outcomes.labels("unknown_session").inc()
        raise ServiceError(404, f"session {job.user_id}/{job.session_id} does not exist")
    status = session.get("processingStatus", "")
    if status in _TERMINAL:
        metrics.fill_outcomes.labels("duplicate").inc()
        log.info("session already %s: acked without work", status)
        return {"status": f"already_{status}", "editedImagePath": session.get("editedImagePath", "")}

    labels = session.get("sceneLabels")
    labels = labels if isinstance(labels, dict) and labels else None
    decision = inpaint.decide_label_wait(
        job.delivery_attempt, job.age_s(datetime.now(timezone.utc)), labels is not None,
        max_wait_attempt=settings.label_wait_max_attempt, max_wait_age_s=settings.label_wait_max_age_s,
        give_up_attempt=settings.give_up_attempt)
    if decision == "wait":
        metrics.fill_outcomes.labels("waiting_for_labels").inc()
        log.info("scene labels not ready: nack (attempt %d)", job.delivery_attempt)
        raise ServiceError(500, "scene labels are not ready yet; Pub/Sub will redeliver",
                           state="waiting_for_labels", deliveryAttempt=job.delivery_attempt)
    if decision == "give_up":
        reason = f"scene labels never arrived (delivery attempt {job.delivery_attempt})"
        await documents.update(key, {"processingStatus": "failed", "error": reason, "failedAt": now_iso()})
        metrics.fill_outcomes.labels("gave_up").inc()
        log.warning("gave up: %s", reason)
        return {"status": "failed", "error": reason}
    prompt = inpaint.build_prompt(labels if decision == "proceed_with_labels" else None)

    service.pools.fill.admit()  # refuse before claiming: a full pool answers 429 at once
    owner = f"{_OWNER}:{job.message_id}"
    if not await documents.claim(key, owner, settings.session_lease_s):
        metrics.fill_outcomes.labels("in_progress").inc()
        raise ServiceError(409, "another delivery of this session is being processed", headers={"Retry-After": "10"})
    try:
        await documents.update(key, {"processingStatus": "processing", "startedAt": now_iso(),
                                     "deliveryAttempt": job.delivery_attempt, "messageId": job.message_id})
        cancel = inpaint.CancelToken(timeout=settings.fill_deadline_s)
        try:
            result, edited, preview, timings = await service.pools.fill.run(_fill, service, job, prompt.text, cancel)
        except InputFailure as e:
            await documents.update(key, {"processingStatus": "failed", "error": e.message, "failedAt": now_iso()})
            metrics.fill_outcomes.labels("bad_input").inc()
            raise
        except Exception as e:
            failure = e if isinstance(e, ServiceError) else TransientFailure(500, f"internal error: {type(e).__name__}")
            if not isinstance(e, ServiceError):
                log.error("fill failed", exc_info=True)
            if job.delivery_attempt >= settings.give_up_attempt:
                await documents.update(key, {"processingStatus": "failed", "error": failure.message,
                                             "failedAt": now_iso()})
                metrics.fill_outcomes.labels("gave_up").inc()
                return {"status": "failed", "error": failure.message}
            await documents.update(key, {"processingStatus": "pending", "error": failure.message})
            metrics.fill_outcomes.labels("retry").inc()
            raise failure from None
        metrics.stages("fill", timings)
        update = {
            "processingStatus": "completed",
            "editedImagePath": edited,
            "previewImagePath": preview,
            "prompt": prompt.text,
            "promptReason": prompt.reason,
            "modelPrompt": result.model_prompt,
            "modelPromptReason": result.model_prompt_reason,
            "model": service.engines.fill_model.spec,
            "strategy": result.strategy,
            "timings": {k: round(v, 3) for k, v in timings.items()},
            "completedAt": now_iso(),
            "error": "",
        }
        await documents.update(key, update)
        metrics.fill_outcomes.labels("completed").inc()
        log.info("completed", extra={"fields": {"timings_ms": update["timings"], "prompt_reason": prompt.reason}})
        return {"status": "completed", **{k: update[k] for k in (
            "editedImagePath", "previewImagePath", "prompt", "promptReason", "modelPrompt", "timings")}}
    finally:
        await documents.release(key, owner)
