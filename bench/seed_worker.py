"""The seed-style inpaint worker, as the seed services build it, for comparison with the
reference service (examples/service): no libinpaint, only PIL + numpy + OpenCV-python.

POST /inpaint takes the same Pub/Sub push envelope and the same session and blob layout as the
reference service: a Redis hash `session:{userId}:{sessionId}` (read with redis-py) and files
under BLOB_ROOT (read and written with open()). Each job runs in one `asyncio.to_thread` call:
read the session, build the prompt from its sceneLabels (or answer 500 so Pub/Sub redelivers
while the labels are not there yet), read the photo and the mask, decode the photo with PIL
(EXIF transpose), clean the mask with OpenCV (threshold, open, close, drop small islands,
dilate), crop the hole's box plus a margin, run the model on the crop, composite it back with a
blurred mask in numpy, encode the result (JPEG q90) and a preview (long side 1024, JPEG q85) with
PIL, write both next to the original and mark the session completed. The stages follow
../shared/tools/py_worker_baseline.py (beside the repository).

Environment: SESSION_STORE (redis://host:port/db), BLOB_ROOT, FILL_CONCURRENCY (jobs run at
once, default 2; the rest wait, as behind Cloud Run's concurrency setting), MODEL_VARIANT
(`identity`, the default: bench/service_identity_model.py's function; or `telea`, OpenCV's).
Run: SESSION_STORE=... BLOB_ROOT=... python3 -m uvicorn seed_worker:app --app-dir bench
"""
import asyncio
import base64
import binascii
import io
import json
import logging
import os
import time
from datetime import datetime, timezone

import cv2
import numpy as np
import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image, ImageOps

from service_identity_model import identity_fill

log = logging.getLogger("seed_worker")

# Mask clean-up and compositing, as the seed's utils/image.py does them.
THRESHOLD = 127
MORPH_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))  # open and close, radius 2
MIN_ISLAND_AREA = 64
DILATE_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (31, 31))  # grow the hole 15 px
CROP_MARGIN = 128
FEATHER_KERNEL = (21, 21)
EDITED_QUALITY = 90
PREVIEW_LONG_SIDE = 1024
PREVIEW_QUALITY = 85

# Label wait: redeliver while the scene labels may still arrive, then go on without them.
MAX_WAIT_ATTEMPT = 3
MAX_WAIT_AGE_S = 60.0

SURFACE_PROMPTS = {
    "grass": "a lawn of grass, continuous natural grass texture",
    "concrete": "plain concrete ground, even paved surface",
    "wood": "wooden boards, natural wood grain",
    "sand": "sand on the ground, fine sandy texture",
    "gravel": "loose gravel, small stones on the ground",
    "leaves": "fallen leaves covering the ground",
    "tile": "a tiled floor, regular tile pattern",
    "water": "open water, a calm water surface",
}
FALLBACK_PROMPT = "the surrounding ground continuing naturally, nothing on it"
MIN_LABEL_CONFIDENCE = 0.5


class LabelsNotReady(Exception):
    """The session has no scene labels yet and the message is young: nack, Pub/Sub retries."""


class JobError(Exception):
    """A job that can never succeed (unreadable photo, missing blob): ack it and mark it failed."""


class UnknownSession(JobError):
    """No session document: ack, and write nothing (there is no session to mark)."""


def build_prompt(labels):
    """Scene labels -> (prompt, reason)."""
    if not isinstance(labels, dict) or not labels.get("surface"):
        return FALLBACK_PROMPT, "no labels"
    if float(labels.get("confidence", 1.0)) < MIN_LABEL_CONFIDENCE:
        return FALLBACK_PROMPT, "low confidence"
    base = SURFACE_PROMPTS.get(labels["surface"])
    if base is None:
        return FALLBACK_PROMPT, f"unknown surface {labels['surface']!r}"
    detail = str(labels.get("detail") or "").strip()
    return (f"{detail}, {base}" if detail else base), "labels"


def telea_fill(image, mask, prompt=""):
    bgr = np.ascontiguousarray(image[:, :, ::-1])
    return cv2.inpaint(bgr, mask, 4, cv2.INPAINT_TELEA)[:, :, ::-1]


MODELS = {"identity": identity_fill, "telea": telea_fill}


class Worker:
    def __init__(self):
        self.blob_root = os.path.realpath(os.environ["BLOB_ROOT"])
        self.redis = redis.Redis.from_url(os.environ["SESSION_STORE"], decode_responses=True)
        variant = os.environ.get("MODEL_VARIANT", "identity")
        if variant not in MODELS:
            raise ValueError(f"MODEL_VARIANT {variant!r}: expected one of {sorted(MODELS)}")
        self.model_name, self.model = variant, MODELS[variant]

    def blob_path(self, relative):
        path = os.path.realpath(os.path.join(self.blob_root, relative))
        if not path.startswith(self.blob_root + os.sep):
            raise JobError(f"path {relative!r} leaves BLOB_ROOT")
        return path

    def read_blob(self, relative):
        try:
            with open(self.blob_path(relative), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise JobError(f"no blob {relative!r}") from None

    def write_blob(self, relative, data):
        path = self.blob_path(relative)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def process(self, job, attempt, age_s):
        """One job, start to end, in a worker thread. Returns the session fields written."""
        timings = {}
        clock = time.perf_counter
        start = clock()
        key = f"session:{job['userId']}:{job['sessionId']}"

        t = clock()
        session = self.redis.hgetall(key)
        if not session:
            raise UnknownSession(f"no session {key}")
        labels = json.loads(session["sceneLabels"]) if session.get("sceneLabels") else None
        if not labels and attempt <= MAX_WAIT_ATTEMPT and age_s < MAX_WAIT_AGE_S:
            raise LabelsNotReady(key)
        prompt, reason = build_prompt(labels)
        self.redis.hset(key, "processingStatus", "processing")
        timings["session"] = clock() - t

        t = clock()
        image_bytes = self.read_blob(job["imagePath"])
        mask_bytes = self.read_blob(job["maskPath"])
        timings["read"] = clock() - t

        t = clock()
        try:
            photo = ImageOps.exif_transpose(Image.open(io.BytesIO(image_bytes)))
            rgb = np.asarray(photo if photo.mode == "RGB" else photo.convert("RGB"))
        except (OSError, ValueError) as e:
            raise JobError(f"photo: {e}") from None
        timings["decode"] = clock() - t

        t = clock()
        mask = cv2.imdecode(np.frombuffer(mask_bytes, np.uint8), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise JobError("mask: not an image")
        if mask.shape != rgb.shape[:2]:
            mask = cv2.resize(mask, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)
        mask = clean_mask(mask)
        timings["clean"] = clock() - t

        if not mask.any():  # nothing to fill: the photo itself is the result
            out = rgb
            timings["model"] = timings["composite"] = 0.0
        else:
            t = clock()
            x, y, w, h = cv2.boundingRect(mask)
            x0, y0 = max(0, x - CROP_MARGIN), max(0, y - CROP_MARGIN)
            x1, y1 = min(rgb.shape[1], x + w + CROP_MARGIN), min(rgb.shape[0], y + h + CROP_MARGIN)
            crop, crop_mask = rgb[y0:y1, x0:x1], mask[y0:y1, x0:x1]
            filled = self.model(crop, crop_mask, prompt)
            timings["model"] = clock() - t

            t = clock()
            alpha = cv2.GaussianBlur(crop_mask, FEATHER_KERNEL, 0).astype(np.float32)[..., None] / 255.0
            out = rgb.copy()
            out[y0:y1, x0:x1] = (filled * alpha + crop * (1.0 - alpha) + 0.5).astype(np.uint8)
            timings["composite"] = clock() - t

        t = clock()
        result = Image.fromarray(out)
        edited = io.BytesIO()
        result.save(edited, "JPEG", quality=EDITED_QUALITY)
        result.thumbnail((PREVIEW_LONG_SIDE, PREVIEW_LONG_SIDE))
        preview = io.BytesIO()
        result.save(preview, "JPEG", quality=PREVIEW_QUALITY)
        timings["encode"] = clock() - t

        t = clock()
        folder = f"users/{job['userId']}/sessions/{job['sessionId']}"
        edited_path, preview_path = f"{folder}/edited.jpg", f"{folder}/preview.jpg"
        self.write_blob(edited_path, edited.getvalue())
        self.write_blob(preview_path, preview.getvalue())
        timings["write"] = clock() - t
        timings["total"] = clock() - start

        fields = {
            "processingStatus": "completed",
            "editedImagePath": edited_path,
            "previewImagePath": preview_path,
            "prompt": prompt,
            "promptReason": reason,
            "timings": json.dumps({k: round(v * 1000, 1) for k, v in timings.items()}),
        }
        self.redis.hset(key, mapping=fields)
        return fields

    def mark_failed(self, job, error):
        try:
            self.redis.hset(f"session:{job['userId']}:{job['sessionId']}",
                            mapping={"processingStatus": "failed", "error": str(error)})
        except redis.RedisError:
            log.exception("could not mark the session failed")


def clean_mask(mask):
    """Binary mask (255 = hole): threshold, open, close, drop islands under 64 px, dilate."""
    _, m = cv2.threshold(mask, THRESHOLD, 255, cv2.THRESH_BINARY)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, MORPH_KERNEL)
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, MORPH_KERNEL)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(m)
    small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < MIN_ISLAND_AREA)
    small = small[small > 0]  # component 0 is the background
    if small.size:
        m[np.isin(labels, small)] = 0
    return cv2.dilate(m, DILATE_KERNEL)


def message_age_s(publish_time):
    if not publish_time:
        return 0.0
    try:
        published = datetime.fromisoformat(publish_time.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (datetime.now(timezone.utc) - published).total_seconds()


app = FastAPI(title="seed-style inpaint worker")
state = {}


@app.on_event("startup")
async def startup():
    state["worker"] = await asyncio.to_thread(Worker)
    state["slots"] = asyncio.Semaphore(int(os.environ.get("FILL_CONCURRENCY", "2")))


@app.on_event("shutdown")
async def shutdown():
    worker = state.pop("worker", None)
    if worker is not None:
        worker.redis.close()


@app.get("/readyz")
async def readyz():
    if "worker" not in state:
        return JSONResponse({"ready": False}, status_code=503)
    return {"ready": True, "model": state["worker"].model_name}


@app.post("/inpaint")
async def inpaint_push(request: Request):
    worker = state.get("worker")
    if worker is None:
        return JSONResponse({"error": "not ready"}, status_code=503)
    try:
        envelope = await request.json()
        message = envelope["message"]
        job = json.loads(base64.b64decode(message["data"]))
        for field in ("userId", "sessionId", "imagePath", "maskPath"):
            if not isinstance(job.get(field), str) or not job[field]:
                raise ValueError(f"{field} missing")
    except (ValueError, KeyError, TypeError, binascii.Error) as e:
        # A message that can never be processed: ack it so Pub/Sub does not redeliver it.
        log.warning("dropping a malformed message: %s", e)
        return {"status": "dropped", "error": str(e)}
    attempt = int(envelope.get("deliveryAttempt") or 1)
    age_s = message_age_s(message.get("publishTime"))
    async with state["slots"]:
        try:
            fields = await asyncio.to_thread(worker.process, job, attempt, age_s)
        except LabelsNotReady:
            return JSONResponse({"status": "waiting for scene labels"}, status_code=500)
        except redis.RedisError as e:  # transient: nack and let Pub/Sub retry
            log.warning("session store: %s", e)
            return JSONResponse({"error": "session store unavailable"}, status_code=503)
        except JobError as e:
            if not isinstance(e, UnknownSession):
                await asyncio.to_thread(worker.mark_failed, job, e)
            return {"status": "failed", "error": str(e)}
        except Exception as e:  # a bug or a bad input nobody foresaw: record it, ack
            log.exception("job %s/%s failed", job["userId"], job["sessionId"])
            await asyncio.to_thread(worker.mark_failed, job, e)
            return {"status": "failed", "error": str(e)}
    return {"status": "completed", "timings": json.loads(fields["timings"])}
