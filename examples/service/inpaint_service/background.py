"""The background worker: POST /remove-background with the photo's bytes as the body.

Query: ``effects`` (``color,bw,popart,dither``; default ``color``), ``format`` (png, or jpeg for
opaque backgrounds), ``response`` (``image``: the single effect's bytes, the
default for one effect; ``json``: every output base64-encoded), and any effect parameter of
``inpaint.effect_parameters()`` (``background=blur:8``, ``bw_grain=0.02``, ...). Mattes are kept
in the encoding store and rendered outputs in the result cache, so a repeated photo costs neither
the network nor the effects (``X-Cache: hit``).
"""
from __future__ import annotations

import base64
import json
from typing import Any, Dict

from fastapi import APIRouter, Request, Response

import inpaint

from .ops import ServiceError, http_errors

router = APIRouter()

_OWN = {"effects", "format", "response"}
_MEDIA = {"png": "image/png", "jpeg": "image/jpeg"}


def _cutout(service, data: bytes, effects: str, params: Dict[str, str], fmt: str, cancel: inpaint.CancelToken):
    return inpaint.remove_background(
        service.engines.matter, data, effects=effects, params=params, format=fmt,
        store=service.engines.store, cache=service.engines.result_cache,
        max_pixels=service.settings.max_pixels, threads=service.effect_threads, cancel=cancel)


@router.post("/remove-background")
async def remove_background(request: Request) -> Response:
    service = request.app.state.service
    if not service.engines.ready:
        raise ServiceError(503, "the background remover is not ready", headers={"Retry-After": "10"})
    query = request.query_params
    effects = query.get("effects", "color")
    fmt = query.get("format", "png")
    if fmt not in _MEDIA:
        raise ServiceError(400, f"format must be one of {', '.join(_MEDIA)}")
    known = {p["name"] for p in inpaint.effect_parameters()}
    unknown = [k for k in query if k not in _OWN and k not in known]
    if unknown:
        raise ServiceError(400, f"unknown parameters {', '.join(unknown)} (effect parameters: {', '.join(sorted(known))})")
    params = {k: v for k, v in query.items() if k in known}
    response_kind = query.get("response", "")
    if response_kind not in ("", "image", "json"):
        raise ServiceError(400, "response must be 'image' or 'json'")
    data = await request.body()
    if not data:
        raise ServiceError(400, "the request body is empty: send the photo's bytes")
    cancel = inpaint.CancelToken(timeout=service.settings.background_deadline_s)
    result = await service.pools.background.run(http_errors(_cutout), service, data, effects, params, fmt, cancel)
    service.metrics.stages("background", result.timings)
    headers = {
        "X-Cache": "hit" if result.outputs_from_cache else "miss",
        "X-Matte": "store" if result.matte_from_store else "model",
        "Server-Timing": ", ".join(f"{k};dur={v:.2f}" for k, v in result.timings.items()),
    }
    response_kind = response_kind or ("image" if len(result.outputs) == 1 else "json")
    if response_kind == "image":
        if len(result.outputs) != 1:
            raise ServiceError(400, "response=image needs exactly one effect; use response=json")
        (output,) = result.outputs.values()
        return Response(output, media_type=_MEDIA[fmt], headers=headers)
    body: Dict[str, Any] = {
        "outputs": {name: base64.b64encode(data).decode() for name, data in result.outputs.items()},
        "format": fmt,
        "width": result.width,
        "height": result.height,
        "timings": {k: round(v, 3) for k, v in result.timings.items()},
        "cache": headers["X-Cache"],
        "matte": headers["X-Matte"],
        "store_error": result.store_error,
    }
    return Response(json.dumps(body), media_type="application/json", headers=headers)
