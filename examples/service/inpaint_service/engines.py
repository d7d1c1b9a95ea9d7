"""The native engines the routes share: loaded once in the background at start-up, then read-only.

Readiness is this module's state: /readyz answers 200 only once every engine the enabled routes
need is loaded and warmed. A load that fails is final (a missing file does not appear by retrying):
/readyz and /healthz then say why, and the process keeps answering 503 so that the platform
replaces it.
"""
from __future__ import annotations

import importlib
import logging
import threading
import time
from typing import Any, Dict, Optional

import numpy as np

import inpaint

from .config import Settings
from .ops import Metrics

log = logging.getLogger("inpaint_service.engines")


def _warmup_photo(size: int = 128):
    y, x = np.mgrid[0:size, 0:size]
    rgb = np.stack([(x * 2) % 256, (y * 2) % 256, ((x + y) * 3) % 256], axis=-1).astype(np.uint8)
    mask = np.zeros((size, size), np.uint8)
    mask[size // 4:size // 2, size // 4:size // 2] = 255
    return np.ascontiguousarray(rgb), mask


class Engines:
    def __init__(self, settings: Settings, metrics: Metrics):
        self.settings = settings
        self.metrics = metrics
        self.store = inpaint.Store(settings.encoding_store)
        metrics.watch_store("encodings", self.store)
        self.result_cache = inpaint.ResultCache(settings.result_cache_bytes) if settings.result_cache_bytes else None
        if self.result_cache is not None:
            metrics.watch_result_cache(self.result_cache)
        self.fill_model: Optional[inpaint.Model] = None
        self.segmenter: Optional[inpaint.Segmenter] = None
        self.matter: Optional[inpaint.Matter] = None
        self.error = ""
        self.timings: Dict[str, Dict[str, float]] = {}
        self._ready = threading.Event()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def load(self) -> None:
        """Runs in a thread: imports the model modules, loads and warms each engine."""
        try:
            for module in self.settings.model_modules:
                importlib.import_module(module)  # registers Python models (inpaint.register_model)
            routes = self.settings.routes
            if "fill" in routes:
                self.fill_model = self._load("fill", self.settings.fill_spec, inpaint.Model, self._warm_fill)
            if "segment" in routes:
                self.segmenter = self._load("segmenter", self.settings.segmenter_spec, inpaint.Segmenter,
                                            self._warm_segmenter)
            if "background" in routes:
                self.matter = self._load("matter", self.settings.matter_spec, inpaint.load_matter, self._warm_matter)
            self._ready.set()
            self.metrics.ready.set(1)
            log.info("engines ready", extra={"fields": {"timings": self.timings}})
        except Exception as e:  # a failed load is reported by /readyz and /healthz, never retried
            self.error = f"{type(e).__name__}: {e}"
            log.error("engine load failed", exc_info=True)

    def _load(self, kind: str, spec: str, make, warm) -> Any:
        start = time.perf_counter()
        engine = make(spec)
        load_s = time.perf_counter() - start
        warmup_s = 0.0
        if self.settings.warmup:
            start = time.perf_counter()
            warm(engine)
            warmup_s = time.perf_counter() - start
        self.timings[kind] = {"spec": spec, "load_s": load_s, "warmup_s": warmup_s}
        self.metrics.model_load_s.labels(kind, spec).set(load_s)
        self.metrics.model_warmup_s.labels(kind, spec).set(warmup_s)
        return engine

    def _warm_fill(self, model: inpaint.Model) -> None:
        rgb, mask = _warmup_photo()
        inpaint.fill(model, rgb, mask)

    def _warm_segmenter(self, segmenter: inpaint.Segmenter) -> None:
        rgb, _ = _warmup_photo()
        segmenter.segment(segmenter.encode(rgb), points=[(40.0, 40.0)])

    def _warm_matter(self, matter: inpaint.Matter) -> None:
        rgb, _ = _warmup_photo()
        matter.matte(rgb)

    def status(self) -> Dict[str, Any]:
        return {"ready": self.ready, "error": self.error, "engines": self.timings}
