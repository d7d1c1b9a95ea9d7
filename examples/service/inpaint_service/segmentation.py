"""The segmentation worker: encode once on upload, answer many prompts from the stored encoding,
and label scenes for the fill worker.

- ``PUT /images/{id}`` (the photo's bytes): checked to decode (422 otherwise, nothing kept),
  stored as a blob, encoded in the background (202; ``encoding_status`` pending -> processing ->
  completed | failed);
- ``POST /images/{id}/encode``: encodes again when the encoding is gone or failed;
- ``GET /images/{id}``, ``GET /images/{id}/encoding``, ``GET /images/{id}/encoding.safetensors``
  (the encoding itself, immutable: cache it forever by its id);
- ``POST /images/{id}/infer``: points, boxes, concepts -> masks (PNG or RLE), scores, boxes, timings;
- ``POST /sessions/{userId}/{sessionId}/labels``: concept masks around the object -> ``sceneLabels``
  in the session document, which the fill worker waits for.

Encodings live in the library's tiered store (ENCODING_STORE: memory | directory | Redis); the
image documents (status, encoding id) in the document store. An encoding that every tier lost is
encoded again from the blob on the next infer.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import time
from typing import Any, Dict, List, Optional

import numpy as np
from fastapi import APIRouter, Request, Response

import inpaint

from .ops import ServiceError, bind, http_errors, read_json
from .stores import BlobNotFound, BlobTooLarge, blob_path, check_id, image_key, now_iso, session_dir, session_key

log = logging.getLogger("inpaint_service.segmentation")
router = APIRouter()

_IMMUTABLE = "public, max-age=31536000, immutable"


def _image_blob(image_id: str) -> str:
    return f"images/{image_id}/original"


def _decode(service, data: bytes) -> np.ndarray:
    try:
        return inpaint.decode(data, max_pixels=service.settings.max_pixels).rgb
    except inpaint.TooLargeError as e:
        raise ServiceError(413, str(e)) from None
    except (inpaint.DecodeError, inpaint.InvalidArgumentError) as e:
        raise ServiceError(422, f"the image does not decode: {e}") from None


def _encode(service, rgb: np.ndarray, cancel: Optional[inpaint.CancelToken] = None):
    encoding, outcome = service.engines.segmenter.encode_with_store(rgb, service.engines.store, cancel)
    if not outcome["from_store"]:
        service.metrics.encoder_runs.inc()
        service.metrics.stages("segment", {"encode": outcome["encode_ms"]})
    if outcome["store_error"]:
        log.warning("encoding store: %s", outcome["store_error"])
    return encoding, outcome


def _store_image(service, image_id: str, data: bytes):
    """Keeps the photo only if it decodes; returns its size."""
    height, width = _decode(service, data).shape[:2]
    service.blobs.write(_image_blob(image_id), data)
    return width, height


def _encode_blob(service, image_id: str):
    data = service.blobs.read(_image_blob(image_id), service.settings.max_body_bytes)
    return _encode(service, _decode(service, data))


async def _encode_in_background(service, image_id: str, ticket) -> None:
    key = image_key(image_id)
    bind(image_id=image_id)
    try:
        await service.documents.update(key, {"encoding_status": "processing"})
        start = time.perf_counter()
        _, outcome = await service.pools.segment.run(_encode_blob, service, image_id, ticket=ticket)
        await service.documents.update(key, {
            "encoding_status": "completed", "encodingId": outcome["id"], "encodedAt": now_iso(),
            "encodeMs": round((time.perf_counter() - start) * 1000.0, 3), "error": ""})
        log.info("encoded", extra={"fields": {"from_store": outcome["from_store"]}})
    except Exception as e:  # the status says why; the client may POST /encode again
        message = e.message if isinstance(e, ServiceError) else f"{type(e).__name__}: {e}"
        log.error("encode failed: %s", message, exc_info=not isinstance(e, ServiceError))
        try:
            await service.documents.update(key, {"encoding_status": "failed", "error": message})
        except Exception:
            log.error("could not record the failed encode", exc_info=True)
    finally:
        ticket.release()


def _schedule_encode(service, image_id: str, ticket) -> None:
    task = asyncio.get_running_loop().create_task(_encode_in_background(service, image_id, ticket))
    service.background_tasks.add(task)
    task.add_done_callback(service.background_tasks.discard)


def _ready(service) -> None:
    if not service.engines.ready:
        raise ServiceError(503, "the segmenter is not ready", headers={"Retry-After": "10"})


async def _image_doc(service, image_id: str) -> Dict[str, Any]:
    doc = await service.documents.get(image_key(check_id(image_id, "image id")))
    if doc is None:
        raise ServiceError(404, f"no image {image_id}")
    bind(image_id=image_id)
    return doc


@router.put("/images/{image_id}", status_code=202)
async def upload_image(image_id: str, request: Request) -> Dict[str, Any]:
    service = request.app.state.service
    check_id(image_id, "image id")
    bind(image_id=image_id)
    _ready(service)
    data = await request.body()
    if not data:
        raise ServiceError(400, "the request body is empty: send the image's bytes")
    encode_ticket = service.pools.segment.reserve()  # the background encode's place, taken now
    try:
        width, height = await service.pools.segment.run(_store_image, service, image_id, data)
        await service.documents.update(image_key(image_id), {
            "encoding_status": "pending", "blobPath": _image_blob(image_id), "width": width, "height": height,
            "bytes": len(data), "createdAt": now_iso(), "encodingId": "", "error": ""})
    except BaseException:
        encode_ticket.release()
        raise
    _schedule_encode(service, image_id, encode_ticket)
    return {"id": image_id, "encoding_status": "pending", "width": width, "height": height}


@router.post("/images/{image_id}/encode")
async def encode_image(image_id: str, request: Request, response: Response) -> Dict[str, Any]:
    service = request.app.state.service
    doc = await _image_doc(service, image_id)
    _ready(service)
    status = doc.get("encoding_status", "")
    if status in ("pending", "processing"):
        response.status_code = 202
        return {"status": status}
    if status == "completed" and await asyncio.to_thread(service.engines.store.exists, doc.get("encodingId", "")):
        return {"status": "completed", "encoding_id": doc["encodingId"]}
    ticket = service.pools.segment.reserve()
    try:
        await service.documents.update(image_key(image_id), {"encoding_status": "pending", "error": ""})
    except BaseException:
        ticket.release()
        raise
    _schedule_encode(service, image_id, ticket)
    response.status_code = 202
    return {"status": "queued"}


@router.get("/images/{image_id}")
async def image_status(image_id: str, request: Request) -> Dict[str, Any]:
    doc = await _image_doc(request.app.state.service, image_id)
    return {"id": image_id, **doc}


async def _stored_encoding(service, doc: Dict[str, Any]) -> Optional[inpaint.Encoding]:
    encoding_id = doc.get("encodingId", "")
    if not encoding_id:
        return None
    return await service.pools.segment.run(service.engines.store.get, encoding_id)


@router.get("/images/{image_id}/encoding")
async def encoding_info(image_id: str, request: Request) -> Dict[str, Any]:
    service = request.app.state.service
    doc = await _image_doc(service, image_id)
    encoding = await _stored_encoding(service, doc)
    if encoding is None:
        return {"exists": False, "encoding_status": doc.get("encoding_status", "")}
    return {
        "exists": True,
        "encoding_id": doc["encodingId"],
        "encoding_status": doc.get("encoding_status", ""),
        "size_bytes": encoding.nbytes,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(encoding.created_at)),
        "model_id": encoding.model_id,
    }


@router.get("/images/{image_id}/encoding.safetensors")
async def encoding_file(image_id: str, request: Request) -> Response:
    service = request.app.state.service
    doc = await _image_doc(service, image_id)
    etag = f'"{doc.get("encodingId", "")}"'
    headers = {"Cache-Control": _IMMUTABLE, "ETag": etag}
    if doc.get("encodingId") and request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    encoding = await _stored_encoding(service, doc)
    if encoding is None:
        raise ServiceError(404, f"image {image_id} has no stored encoding (status {doc.get('encoding_status', '')!r})")
    data = await service.pools.segment.run(encoding.to_bytes)
    headers["Content-Disposition"] = f'attachment; filename="{image_id}.safetensors"'
    return Response(data, media_type="application/octet-stream", headers=headers)


# --- infer -------------------------------------------------------------------------------------

def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ServiceError(400, f"{what} must be a finite number")
    return float(value)


def _parse_infer(body: Any, capabilities: Dict[str, Any]) -> Dict[str, Any]:
    if not isinstance(body, dict):
        raise ServiceError(400, "the body must be a JSON object")
    unknown = set(body) - {"points", "boxes", "concepts", "multimask", "min_score", "format"}
    if unknown:
        raise ServiceError(400, f"unknown fields: {', '.join(sorted(unknown))}")
    points = []
    for i, p in enumerate(body.get("points") or []):
        if not isinstance(p, list) or len(p) not in (2, 3):
            raise ServiceError(400, f"points[{i}] must be [x, y] or [x, y, label]")
        xy = (_number(p[0], f"points[{i}][0]"), _number(p[1], f"points[{i}][1]"))
        if len(p) == 3 and p[2] not in (0, 1):
            raise ServiceError(400, f"points[{i}] label must be 1 (object) or 0 (background)")
        points.append(xy + ((int(p[2]),) if len(p) == 3 else ()))
    boxes = []
    for i, b in enumerate(body.get("boxes") or []):
        if not isinstance(b, list) or len(b) != 4:
            raise ServiceError(400, f"boxes[{i}] must be [x0, y0, x1, y1]")
        boxes.append(tuple(_number(v, f"boxes[{i}]") for v in b))
    concepts = body.get("concepts") or []
    if not isinstance(concepts, list) or not all(isinstance(c, str) and c for c in concepts):
        raise ServiceError(400, "concepts must be a list of names")
    if not points and not boxes and not concepts:
        raise ServiceError(400, "give points, boxes or concepts")
    fmt = body.get("format", "png")
    if fmt not in ("png", "rle"):
        raise ServiceError(400, "format must be 'png' or 'rle'")
    min_score = _number(body.get("min_score", 0.5), "min_score")
    if not 0.0 <= min_score <= 1.0:
        raise ServiceError(400, "min_score must be in [0, 1]")
    multimask = body.get("multimask", False)
    if not isinstance(multimask, bool):
        raise ServiceError(400, "multimask must be true or false")
    known = capabilities.get("concepts", [])
    missing = [c for c in concepts if c not in known]
    if missing:
        raise ServiceError(400, f"unknown concepts {', '.join(missing)} (this segmenter knows: {', '.join(known) or 'none'})")
    return {"points": points, "boxes": boxes, "concepts": concepts, "format": fmt, "min_score": min_score,
            "multimask": multimask}


def rle(mask: np.ndarray) -> Dict[str, Any]:
    """Row-major run lengths of a 0/255 mask, starting with a run of 0s (possibly empty)."""
    flat = mask.reshape(-1) > 127
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], edges, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts.insert(0, 0)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def _mask_json(mask: inpaint.SegmentMask, fmt: str) -> Dict[str, Any]:
    out: Dict[str, Any] = {"score": float(mask.score), "box": list(mask.box) if mask.box else None}
    if mask.label:
        out["label"] = mask.label
    if fmt == "png":
        out["png"] = base64.b64encode(inpaint.encode(mask.mask, "png")).decode()
    else:
        out["rle"] = rle(mask.mask)
    return out


def _infer(service, image_id: str, doc: Dict[str, Any], query: Dict[str, Any], cancel: inpaint.CancelToken):
    engines = service.engines
    start = time.perf_counter()
    encoding = engines.store.get(doc["encodingId"]) if doc.get("encodingId") else None
    source = "store"
    if encoding is None:  # every tier lost it (evicted, Redis flushed): encode again from the blob
        try:
            data = service.blobs.read(_image_blob(image_id), service.settings.max_body_bytes)
        except (BlobNotFound, BlobTooLarge) as e:
            raise ServiceError(404, f"image {image_id}: {e}") from None
        encoding, outcome = _encode(service, _decode(service, data), cancel)
        source = "encoded" if not outcome["from_store"] else "store"
    service.metrics.encodings.labels(source).inc()
    timings = {"encoding": (time.perf_counter() - start) * 1000.0, "segment": 0.0, "output": 0.0}
    calls: List[Dict[str, Any]] = []
    points = query["points"] or None
    for box in query["boxes"]:
        calls.append({"points": points, "box": box})
    if points and not query["boxes"]:
        calls.append({"points": points})
    if query["concepts"]:
        calls.append({"concepts": query["concepts"]})
    masks = []
    for call in calls:
        t = time.perf_counter()
        result = engines.segmenter.segment(encoding, multimask=query["multimask"], min_score=query["min_score"],
                                           cancel=cancel, **call)
        timings["segment"] += (time.perf_counter() - t) * 1000.0
        t = time.perf_counter()
        masks.extend(_mask_json(m, query["format"]) for m in result.masks)
        timings["output"] += (time.perf_counter() - t) * 1000.0
    return masks, timings, source


@router.post("/images/{image_id}/infer")
async def infer(image_id: str, request: Request) -> Dict[str, Any]:
    service = request.app.state.service
    doc = await _image_doc(service, image_id)
    _ready(service)
    query = _parse_infer(await read_json(request), service.engines.segmenter.capabilities)
    if doc.get("encoding_status") != "completed":
        raise ServiceError(409, f"image {image_id} is not encoded (status {doc.get('encoding_status', '')!r})",
                           encoding_status=doc.get("encoding_status", ""))
    cancel = inpaint.CancelToken(timeout=service.settings.segment_deadline_s)
    masks, timings, source = await service.pools.segment.run(http_errors(_infer, 400), service, image_id, doc, query,
                                                             cancel)
    service.metrics.stages("infer", timings)
    return {"masks": masks, "timings": {k: round(v, 3) for k, v in timings.items()}, "encoding": source}


# --- scene labels --------------------------------------------------------------------------------

def _label(service, image_path: str, mask_path: str, cancel: inpaint.CancelToken):
    engines, limit = service.engines, service.settings.max_body_bytes
    concepts = list(service.settings.label_concepts) or [
        c for c in engines.segmenter.capabilities.get("concepts", []) if c in inpaint.surface_labels()]
    if not concepts:
        raise ServiceError(409, f"the segmenter {engines.segmenter.spec} takes no surface concepts to label with")
    try:
        image = service.blobs.read(image_path, limit)
        mask_bytes = service.blobs.read(mask_path, limit)
    except BlobNotFound as e:
        raise ServiceError(404, str(e)) from None
    except BlobTooLarge as e:
        raise ServiceError(413, str(e)) from None
    rgb = _decode(service, image)
    try:
        mask = inpaint.decode_mask(mask_bytes, max_pixels=service.settings.max_pixels)
    except (inpaint.DecodeError, inpaint.InvalidArgumentError) as e:
        raise ServiceError(422, f"the mask does not decode: {e}") from None
    if mask.shape != rgb.shape[:2]:
        raise ServiceError(422, f"the mask is {mask.shape[1]}x{mask.shape[0]}, the image {rgb.shape[1]}x{rgb.shape[0]}")
    encoding, _ = _encode(service, rgb, cancel)
    masks = engines.segmenter.segment(encoding, concepts=concepts, min_score=0.0, cancel=cancel).masks
    return inpaint.label_scene(masks, mask)


@router.post("/sessions/{user_id}/{session_id}/labels")
async def label_session(user_id: str, session_id: str, request: Request) -> Dict[str, Any]:
    service = request.app.state.service
    check_id(user_id, "user id")
    check_id(session_id, "session id")
    bind(user_id=user_id, session_id=session_id)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ServiceError(400, "the body must be a JSON object with imagePath and maskPath")
    folder = session_dir(user_id, session_id)
    image_path = blob_path(body.get("imagePath"), "imagePath", under=folder)
    mask_path = blob_path(body.get("maskPath"), "maskPath", under=folder)
    key = session_key(user_id, session_id)
    if await service.documents.get(key) is None:
        raise ServiceError(404, f"session {user_id}/{session_id} does not exist")
    _ready(service)
    cancel = inpaint.CancelToken(timeout=service.settings.segment_deadline_s)
    labelling = await service.pools.segment.run(http_errors(_label, 400), service, image_path, mask_path, cancel)
    await service.documents.update(key, {"sceneLabels": labelling["labels"]})
    log.info("labelled", extra={"fields": {"surface": labelling["labels"].get("surface", "")}})
    return {"sceneLabels": labelling["labels"], "coverage": labelling["coverage"]}
