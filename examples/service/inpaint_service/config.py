"""The service's settings, read once from the environment (every name is documented in the README)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Mapping, Optional

ROUTES = ("fill", "segment", "background")


class ConfigError(ValueError):
    """A setting that is missing or malformed: the process refuses to start."""


def _number(env: Mapping[str, str], name: str, default, low, high, kind=int):
    text = env.get(name, "")
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not {'an integer' if kind is int else 'a number'}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is outside [{low}, {high}]")
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    return _number(env, name, default, low, high, int)


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    return _number(env, name, default, low, high, float)


def _fill_spec(env: Mapping[str, str]) -> str:
    """MODEL_VARIANT names a spec in the INPAINT_MODEL_VARIANTS file; MODEL_SPEC gives one directly."""
    variant = env.get("MODEL_VARIANT", "")
    if not variant:
        return env.get("MODEL_SPEC", "") or "patchmatch"
    path = env.get("INPAINT_MODEL_VARIANTS", "")
    if not path:
        raise ConfigError("MODEL_VARIANT is set but INPAINT_MODEL_VARIANTS (the variants JSON file) is not")
    try:
        with open(path, encoding="utf-8") as f:
            variants = json.load(f)
    except (OSError, ValueError) as e:
        raise ConfigError(f"INPAINT_MODEL_VARIANTS={path}: {e}") from None
    if not isinstance(variants, dict) or not all(isinstance(v, str) for v in variants.values()):
        raise ConfigError(f"INPAINT_MODEL_VARIANTS={path}: expected a JSON object of name -> spec string")
    if variant not in variants:
        raise ConfigError(f"MODEL_VARIANT={variant!r} is not in {path} (known: {', '.join(sorted(variants))})")
    return variants[variant]


@dataclass(frozen=True)
class PoolLimits:
    concurrency: int  # jobs running at once (threads)
    queue: int  # jobs admitted to wait beyond those; more are refused with 429


@dataclass(frozen=True)
class Settings:
    routes: tuple = ROUTES
    fill_spec: str = "patchmatch"
    segmenter_spec: str = "grabcut"
    matter_spec: str = "saliency"
    model_modules: tuple = ()
    encoding_store: str = "memory:capacity=1GB"
    session_store: str = "redis://127.0.0.1:6379/0"
    blob_root: str = "/var/lib/inpaint-service/blobs"
    fill: PoolLimits = PoolLimits(2, 32)
    segment: PoolLimits = PoolLimits(2, 64)
    background: PoolLimits = PoolLimits(2, 32)
    fill_deadline_s: float = 300.0
    segment_deadline_s: float = 60.0
    background_deadline_s: float = 60.0
    max_body_bytes: int = 50 * 1024 * 1024
    body_timeout_s: float = 30.0
    max_pixels: int = 100_000_000
    label_wait_max_attempt: int = 3
    label_wait_max_age_s: float = 60.0
    give_up_attempt: int = 5
    preview_long_side: int = 1024
    jpeg_quality: int = 90
    label_concepts: tuple = ()
    result_cache_bytes: int = 256 * 1024 * 1024
    warmup: bool = True
    lease_s: float = 0.0  # how long a fill job holds its session; 0 = the deadline plus a minute
    extra: dict = field(default_factory=dict)

    @property
    def session_lease_s(self) -> float:
        return self.lease_s or self.fill_deadline_s + 60.0


def _pool(env: Mapping[str, str], prefix: str, default: PoolLimits) -> PoolLimits:
    return PoolLimits(
        _int(env, f"{prefix}_CONCURRENCY", default.concurrency, 1, 256),
        _int(env, f"{prefix}_QUEUE", default.queue, 0, 100_000),
    )


def _list(text: str) -> tuple:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def from_environment(env: Optional[Mapping[str, str]] = None) -> Settings:
    env = os.environ if env is None else env
    base = Settings()
    routes = _list(env.get("SERVICE_ROUTES", "")) or ROUTES
    unknown = [r for r in routes if r not in ROUTES]
    if unknown:
        raise ConfigError(f"SERVICE_ROUTES: unknown {', '.join(unknown)} (known: {', '.join(ROUTES)})")
    blob_root = env.get("BLOB_ROOT", "")
    if not blob_root:
        raise ConfigError("BLOB_ROOT (the blob directory) is not set")
    return Settings(
        routes=routes,
        fill_spec=_fill_spec(env),
        segmenter_spec=env.get("SEGMENTER_SPEC", "") or base.segmenter_spec,
        matter_spec=env.get("MATTER_SPEC", "") or base.matter_spec,
        model_modules=_list(env.get("SERVICE_MODEL_MODULES", "")),
        encoding_store=env.get("ENCODING_STORE", "") or base.encoding_store,
        session_store=env.get("SESSION_STORE", "") or base.session_store,
        blob_root=blob_root,
        fill=_pool(env, "FILL", base.fill),
        segment=_pool(env, "SEGMENT", base.segment),
        background=_pool(env, "BACKGROUND", base.background),
        fill_deadline_s=_float(env, "FILL_DEADLINE_S", base.fill_deadline_s, 0.1, 86400),
        segment_deadline_s=_float(env, "SEGMENT_DEADLINE_S", base.segment_deadline_s, 0.1, 86400),
        background_deadline_s=_float(env, "BACKGROUND_DEADLINE_S", base.background_deadline_s, 0.1, 86400),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", base.max_body_bytes, 1024, 1 << 40),
        body_timeout_s=_float(env, "BODY_TIMEOUT_S", base.body_timeout_s, 0.1, 3600),
        max_pixels=_int(env, "MAX_PIXELS", base.max_pixels, 1, 1 << 31),
        label_wait_max_attempt=_int(env, "LABEL_WAIT_MAX_ATTEMPT", base.label_wait_max_attempt, 0, 1000),
        label_wait_max_age_s=_float(env, "LABEL_WAIT_MAX_AGE_S", base.label_wait_max_age_s, 0, 86400),
        give_up_attempt=_int(env, "GIVE_UP_ATTEMPT", base.give_up_attempt, 1, 1000),
        preview_long_side=_int(env, "PREVIEW_LONG_SIDE", base.preview_long_side, 0, 16384),
        jpeg_quality=_int(env, "JPEG_QUALITY", base.jpeg_quality, 1, 100),
        label_concepts=_list(env.get("LABEL_CONCEPTS", "")),
        result_cache_bytes=_int(env, "RESULT_CACHE_BYTES", base.result_cache_bytes, 0, 1 << 40),
        warmup=_int(env, "WARMUP", 1, 0, 1) == 1,
        lease_s=_float(env, "SESSION_LEASE_S", 0.0, 0, 86400),
    )
