"""The FastAPI application: routes by SERVICE_ROUTES, operations endpoints, errors as JSON.

    PYTHONPATH=examples/service python3 -m inpaint_service --host 127.0.0.1 --port 8080
    uvicorn inpaint_service.app:create_app --factory        # the same, with uvicorn's flags
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Set

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import background, fill, segmentation
from .config import Settings, from_environment
from .engines import Engines
from .ops import BodyLimits, BodyTooLarge, JobPool, Metrics, ServiceError, configure_logging, log_ids, request_id
from .stores import DirBlobStore, Documents, InvalidId, StoreUnavailable, open_documents

log = logging.getLogger("inpaint_service")


@dataclass
class Pools:
    fill: JobPool
    segment: JobPool
    background: JobPool


@dataclass
class Service:
    """Everything a route needs, made once per process."""

    settings: Settings
    metrics: Metrics
    engines: Engines
    documents: Documents
    blobs: DirBlobStore
    pools: Optional[Pools] = None
    background_tasks: Set[asyncio.Task] = field(default_factory=set)
    draining: bool = False

    @property
    def effect_threads(self) -> int:
        # The effects' own threads share the cores with the other background jobs.
        return max(1, (os.cpu_count() or 1) // self.settings.background.concurrency)


def _error(status: int, message: str, headers: Optional[Dict[str, str]] = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, "status": status, **extra}, status_code=status, headers=headers)


class RequestMiddleware:
    """Per request: an id (X-Request-ID), the body limits, the access log line and the metrics."""

    def __init__(self, app, service: Service, routes: Dict[Any, str]):
        self.app = app
        self.service = service
        self.routes = routes  # endpoint -> route template, filled when the app is built
        self.limits = BodyLimits(service.settings.max_body_bytes, service.settings.body_timeout_s)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex[:16]
        request_id.set(rid)
        log_ids.set({})
        start = time.perf_counter()
        status = 500

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = list(message.get("headers", [])) + [(b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            if self.limits.declared_too_large(scope):  # refused on the Content-Length alone
                await self.limits.drain(receive)
                e = BodyTooLarge(self.limits.max_bytes)
                await _error(e.status, e.message, e.headers)(scope, receive, send_with_id)
            else:
                await self.app(scope, self.limits.wrap(receive), send_with_id)
        finally:
            route = self.routes.get(scope.get("endpoint"), "unmatched")
            seconds = time.perf_counter() - start
            metrics = self.service.metrics
            metrics.requests.labels(route, scope["method"], str(status)).inc()
            metrics.latency.labels(route).observe(seconds)
            if route not in ("/metrics", "/healthz", "/readyz"):
                logging.getLogger("inpaint_service.access").info(
                    "%s %s %d", scope["method"], route, status,
                    extra={"fields": {"path": scope["path"], "status": status, "ms": round(seconds * 1000, 3)}})


def create_app(settings: Optional[Settings] = None) -> FastAPI:
    settings = settings or from_environment()
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    metrics = Metrics()
    service = Service(settings, metrics, Engines(settings, metrics), open_documents(settings.session_store),
                      DirBlobStore(settings.blob_root))
    app = FastAPI(title="libinpaint reference service", docs_url=None, redoc_url=None)
    app.state.service = service
    if "fill" in settings.routes:
        app.include_router(fill.router)
    if "segment" in settings.routes:
        app.include_router(segmentation.router)
    if "background" in settings.routes:
        app.include_router(background.router)

    @app.get("/healthz")
    async def healthz():
        if service.engines.error:
            return _error(503, f"engine load failed: {service.engines.error}")
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz():
        body = service.engines.status()
        body["draining"] = service.draining
        documents_up = await service.documents.ping()
        body["documents"] = "up" if documents_up else "down"
        ready = service.engines.ready and not service.draining and documents_up
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics_text():
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, e: ServiceError):
        if e.status >= 500:
            log.warning("%d: %s", e.status, e.message)
        return _error(e.status, e.message, e.headers, **e.extra)

    @app.exception_handler(InvalidId)
    async def invalid_id(request: Request, e: InvalidId):
        return _error(400, str(e))

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(request: Request, e: StoreUnavailable):
        log.error("%s", e)
        return _error(503, str(e), {"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError):
        return _error(400, "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):
        return _error(e.status_code, str(e.detail), getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, e: Exception):
        log.error("unhandled error", exc_info=e)
        return _error(500, f"internal error: {type(e).__name__}")

    @app.on_event("startup")
    async def start():
        service.pools = Pools(JobPool("fill", settings.fill.concurrency, settings.fill.queue, metrics),
                              JobPool("segment", settings.segment.concurrency, settings.segment.queue, metrics),
                              JobPool("background", settings.background.concurrency, settings.background.queue,
                                      metrics))
        threading.Thread(target=service.engines.load, name="engine-load", daemon=True).start()
        log.info("starting", extra={"fields": {"routes": list(settings.routes), "fill": settings.fill_spec,
                                               "pid": os.getpid()}})

    @app.on_event("shutdown")
    async def stop():
        # uvicorn has stopped accepting and finished the requests in flight; background encodes
        # admitted before the signal still run to the end.
        service.draining = True
        metrics.draining.set(1)
        if service.background_tasks:
            log.info("draining %d background jobs", len(service.background_tasks))
            await asyncio.gather(*service.background_tasks, return_exceptions=True)
        for pool in (service.pools.fill, service.pools.segment, service.pools.background):
            await pool.drain()
        await service.documents.close()
        log.info("stopped")

    routes = {route.endpoint: route.path for route in app.routes if hasattr(route, "endpoint")}
    app.add_middleware(RequestMiddleware, service=service, routes=routes)
    return app
