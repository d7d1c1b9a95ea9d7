"""Operations: JSON errors, job pools with backpressure, request-body limits, JSON logs, metrics."""
from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Optional

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

import inpaint


class ServiceError(Exception):
    """An answer other than success: HTTP status, a message for the JSON body, extra JSON fields."""

    def __init__(self, status: int, message: str, headers: Optional[Dict[str, str]] = None, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> Dict[str, Any]:
        return {"error": self.message, "status": self.status, **self.extra}


async def read_json(request) -> Any:
    body = await request.body()
    try:
        return json.loads(body)
    except ValueError:
        raise ServiceError(400, "the request body is not JSON") from None


def library_error(e: Exception, invalid_status: int = 422) -> Optional[ServiceError]:
    """The HTTP answer a libinpaint error deserves (None for anything else): bad input is a 4xx,
    a deadline 504, cancellation or an unavailable resource 503."""
    if isinstance(e, inpaint.TooLargeError):
        return ServiceError(413, str(e))
    if isinstance(e, (inpaint.DecodeError, inpaint.InvalidArgumentError, inpaint.ParseError)):
        return ServiceError(invalid_status, str(e))
    if isinstance(e, inpaint.WaitTimeoutError):  # the run's deadline, or a model's concurrency wait
        return ServiceError(504, f"ran past its deadline: {e}")
    if isinstance(e, (inpaint.CancelledError, inpaint.UnavailableError)):
        return ServiceError(503, str(e))
    return None


def http_errors(fn: Callable[..., Any], invalid_status: int = 422) -> Callable[..., Any]:
    """fn with libinpaint's errors raised as their HTTP answers."""

    def wrapped(*args: Any) -> Any:
        try:
            return fn(*args)
        except inpaint.Error as e:
            answer = library_error(e, invalid_status)
            if answer is None:
                raise
            raise answer from None

    return wrapped


# --- logs: one JSON object per line, with the ids of the request being served ---------------------

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
log_ids: contextvars.ContextVar[Dict[str, str]] = contextvars.ContextVar("log_ids", default={})


def bind(**ids: str) -> None:
    """Adds ids (session_id, message_id, image_id, ...) to every log line of the current request."""
    log_ids.set({**log_ids.get(), **{k: v for k, v in ids.items() if v}})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if request_id.get():
            line["request_id"] = request_id.get()
        line.update(log_ids.get())
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler] if name == "" else []
        logger.propagate = name != ""
    logging.getLogger().setLevel(level)
    # The access log is ours (one line per request with its ids); uvicorn's would repeat it.
    logging.getLogger("uvicorn.access").disabled = True


# --- job pools: N jobs run on N threads, at most Q more wait, the rest are refused ----------------

class Busy(ServiceError):
    def __init__(self, pool: str, limit: int):
        super().__init__(429, f"{pool}: {limit} jobs are running or waiting; try again later",
                         headers={"Retry-After": "1"})


class JobPool:
    """Blocking work (native calls that release the GIL) on `concurrency` threads. Admission is
    decided at once on the event loop: beyond concurrency + queue jobs in the pool, Busy (429),
    so memory never grows with the backlog. Used only from the event loop's thread."""

    def __init__(self, name: str, concurrency: int, queue: int, metrics: "Metrics"):
        self.name = name
        self.limit = concurrency + queue
        self.admitted = 0
        self.running = 0  # changed by the pool's threads, under _lock
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix=f"{name}-job")
        self._metrics = metrics
        self._idle = asyncio.Event()
        self._idle.set()

    def reserve(self) -> "Ticket":
        """A place in the pool, taken now (429 when there is none) and used by run() later: a
        request admits its background job before answering."""
        if self.admitted >= self.limit:
            self._metrics.rejected.labels(self.name).inc()
            raise Busy(self.name, self.limit)
        self.admitted += 1
        self._idle.clear()
        self._publish()
        return Ticket(self)

    def admit(self) -> None:
        """Raises Busy when the pool is full, without taking a place."""
        self.reserve().release()

    async def run(self, fn: Callable[..., Any], *args: Any, ticket: Optional["Ticket"] = None) -> Any:
        ticket = ticket or self.reserve()
        context = contextvars.copy_context()  # the job's log lines carry the request's ids

        def job():
            self._count_running(1)
            try:
                return context.run(fn, *args)
            finally:
                self._count_running(-1)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, job)
        finally:
            ticket.release()

    def _count_running(self, change: int) -> None:
        with self._lock:
            self.running += change
            self._publish()

    def _release(self) -> None:
        self.admitted -= 1
        self._publish()
        if self.admitted == 0:
            self._idle.set()

    def _publish(self) -> None:
        self._metrics.queue_depth.labels(self.name).set(max(0, self.admitted - self.running))
        self._metrics.running.labels(self.name).set(self.running)

    async def drain(self) -> None:
        await self._idle.wait()
        self._executor.shutdown(wait=True)


class Ticket:
    def __init__(self, pool: JobPool):
        self._pool = pool

    def release(self) -> None:
        if self._pool is not None:
            self._pool._release()
            self._pool = None


# --- request bodies: a size limit and a time limit ------------------------------------------------

class BodyTooLarge(ServiceError):
    def __init__(self, limit: int):
        # Past what is drained the body stays unread: the connection cannot carry another request.
        super().__init__(413, f"request body is over the limit of {limit} bytes", headers={"Connection": "close"})


class BodyTimeout(ServiceError):
    def __init__(self, seconds: float):
        super().__init__(408, f"request body did not arrive within {seconds:g} s", headers={"Connection": "close"})


class BodyLimits:
    """Request bodies are refused past max_bytes (413), also when the Content-Length says so up
    front, and when a chunk does not arrive within timeout_s (408). Before a 413 the rest of the
    body is read and dropped, up to drain_bytes more, so that the client, still sending, reads
    the answer instead of a reset connection; memory stays flat either way."""

    def __init__(self, max_bytes: int, timeout_s: float, drain_bytes: int = 64 * 1024 * 1024):
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.drain_bytes = drain_bytes

    def declared_too_large(self, scope) -> bool:
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        return declared.isdigit() and int(declared) > self.max_bytes

    async def _next(self, receive):
        try:
            return await asyncio.wait_for(receive(), self.timeout_s)
        except asyncio.TimeoutError:
            raise BodyTimeout(self.timeout_s) from None

    async def drain(self, receive) -> None:
        dropped = 0
        while dropped <= self.drain_bytes:
            try:
                message = await self._next(receive)
            except BodyTimeout:
                return
            if message.get("type") != "http.request":
                return
            dropped += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    def wrap(self, receive):
        """receive() for the app, with the limits applied."""
        received = 0

        async def limited():
            nonlocal received
            message = await self._next(receive)
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    if message.get("more_body", False):
                        await self.drain(receive)
                    raise BodyTooLarge(self.max_bytes)
            return message

        return limited


# --- metrics -----------------------------------------------------------------------------------

_MS_BUCKETS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000)
_S_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("inpaint_http_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("inpaint_http_request_seconds", "HTTP request latency by route", ["route"],
                                 buckets=_S_BUCKETS, registry=r)
        self.stage_ms = Histogram("inpaint_stage_milliseconds", "Milliseconds per job stage",
                                  ["worker", "stage"], buckets=_MS_BUCKETS, registry=r)
        self.queue_depth = Gauge("inpaint_queue_depth", "Jobs admitted and waiting for a thread", ["pool"], registry=r)
        self.running = Gauge("inpaint_jobs_running", "Jobs running", ["pool"], registry=r)
        self.rejected = Counter("inpaint_jobs_rejected", "Jobs refused because the pool was full", ["pool"], registry=r)
        self.fill_outcomes = Counter("inpaint_fill_jobs", "Fill push deliveries by outcome", ["outcome"], registry=r)
        self.encoder_runs = Counter("inpaint_encoder_runs", "Image encoder runs (store misses)", registry=r)
        self.encodings = Counter("inpaint_encoding_lookups", "Encoding lookups for infer by where they were found",
                                 ["source"], registry=r)
        self.model_load_s = Gauge("inpaint_model_load_seconds", "Model load time", ["kind", "spec"], registry=r)
        self.model_warmup_s = Gauge("inpaint_model_warmup_seconds", "Model warm-up time", ["kind", "spec"], registry=r)
        self.ready = Gauge("inpaint_ready", "1 when every model is loaded and warmed", registry=r)
        self.draining = Gauge("inpaint_draining", "1 while shutting down", registry=r)

    def stages(self, worker: str, timings: Dict[str, float]) -> None:
        for stage, ms in timings.items():
            self.stage_ms.labels(worker, stage).observe(ms)

    def watch_store(self, name: str, store) -> None:
        """Exports the encoding store's counters per tier (hits, misses, errors: a dead Redis shows here)."""
        self.registry.register(_StoreCollector(name, store))

    def watch_result_cache(self, cache) -> None:
        self.registry.register(_ResultCacheCollector(cache))


class _StoreCollector:
    _COUNTERS = ("hits", "misses", "puts", "evictions", "corrupt", "errors")

    def __init__(self, name, store):
        self.name = name
        self.store = store

    def collect(self):
        stats = self.store.stats()
        tiers = stats["tiers"] or [stats]
        families = {c: CounterMetricFamily(f"inpaint_store_{c}", f"Encoding store {c} per tier", labels=["store", "tier"])
                    for c in self._COUNTERS}
        for tier in tiers:
            label = tier["spec"].split(":", 1)[0] if not tier["spec"].startswith("redis") else "redis"
            for c in self._COUNTERS:
                families[c].add_metric([self.name, label], tier[c])
        yield from families.values()


class _ResultCacheCollector:
    def __init__(self, cache):
        self.cache = cache

    def collect(self):
        stats = self.cache.stats()
        for name, value in stats.items():
            kind = CounterMetricFamily if name in ("hits", "misses", "evictions", "insertions") else GaugeMetricFamily
            family = kind(f"inpaint_result_cache_{name}", f"Background result cache: {name}")
            family.add_metric([], value)
            yield family

