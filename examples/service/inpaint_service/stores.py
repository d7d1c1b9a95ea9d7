"""Where the service keeps its state: documents (sessions, images) and blobs (photos, masks, results).

Each is a small interface with one real local implementation:

- ``Documents``: Redis hashes (``RedisDocuments``). A Firestore adapter implements the same five
  coroutines over ``users/{userId}/sessions/{sessionId}`` documents (``claim``/``release`` with a
  transaction on a lease field).
- ``BlobStore``: a directory (``DirBlobStore``). A Cloud Storage or S3 adapter implements
  ``read``/``write``/``remove``/``exists`` over object names; ``blob_path`` validation stays the same.

Ids and blob paths come from clients: they are validated here so that no id or path escapes its
place (no ``..``, no absolute path, no separator in an id, no link out of the root).
"""
from __future__ import annotations

import json
import os
import re
import time
from typing import Any, Dict, Optional, Protocol

import inpaint

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")


class InvalidId(ValueError):
    """An id or blob path a client gave that is not allowed (HTTP 400)."""


class BlobNotFound(LookupError):
    """A blob path that names no blob (HTTP 404)."""


class BlobTooLarge(ValueError):
    """A blob bigger than the configured limit (HTTP 413)."""


class StoreUnavailable(ConnectionError):
    """The document store did not answer (HTTP 503: the caller should retry later)."""


def check_id(value: Any, what: str) -> str:
    """An id a client gave: 1-128 letters, digits, '_' or '-', not starting with '-' or '_'."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        shown = value if isinstance(value, str) and len(value) <= 80 else type(value).__name__
        raise InvalidId(f"{what} {shown!r} is not a valid id (1-128 of A-Z a-z 0-9 _ -, starting with a letter or digit)")
    return value


def blob_path(value: Any, what: str, under: str = "") -> str:
    """A relative blob path ('users/u1/sessions/s1/original.jpg'), optionally required to lie in `under`."""
    if not isinstance(value, str) or not value:
        raise InvalidId(f"{what} must be a non-empty string")
    parts = value.split("/")
    if len(value) > 1024 or not all(_SEGMENT.fullmatch(p) and p not in (".", "..") for p in parts):
        raise InvalidId(f"{what} {value[:80]!r} is not a relative path of plain names (no '..', no leading '/')")
    if under and not value.startswith(under.rstrip("/") + "/"):
        raise InvalidId(f"{what} {value[:80]!r} is not inside {under}")
    return value


def session_dir(user_id: str, session_id: str) -> str:
    return f"users/{user_id}/sessions/{session_id}"


class BlobStore(Protocol):
    def read(self, path: str, limit: int) -> bytes: ...
    def write(self, path: str, data: bytes) -> None: ...
    def remove(self, path: str) -> None: ...
    def exists(self, path: str) -> bool: ...


class DirBlobStore:
    """Blobs as files under one root. Writes are atomic (temporary file, then rename). Thread-safe."""

    def __init__(self, root: str):
        os.makedirs(root, exist_ok=True)
        self.root = os.path.realpath(root)

    def _file(self, path: str) -> str:
        full = os.path.realpath(os.path.join(self.root, blob_path(path, "blob path")))
        # realpath resolves links: a link inside the root that points out of it is refused too.
        if not full.startswith(self.root + os.sep):
            raise InvalidId(f"blob path {path[:80]!r} leaves the blob root")
        return full

    def read(self, path: str, limit: int) -> bytes:
        file = self._file(path)
        try:
            with open(file, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size > limit:
                    raise BlobTooLarge(f"{path} is {size} bytes, over the limit of {limit}")
                return f.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise BlobNotFound(f"no blob {path}") from None

    def write(self, path: str, data: bytes) -> None:
        file = self._file(path)
        os.makedirs(os.path.dirname(file), exist_ok=True)
        inpaint.write_file_atomic(file, data)

    def remove(self, path: str) -> None:
        try:
            os.unlink(self._file(path))
        except FileNotFoundError:
            pass

    def exists(self, path: str) -> bool:
        return os.path.isfile(self._file(path))


def session_key(user_id: str, session_id: str) -> str:
    return f"session:{user_id}:{session_id}"


def image_key(image_id: str) -> str:
    return f"image:{image_id}"


class Documents(Protocol):
    async def get(self, key: str) -> Optional[Dict[str, Any]]: ...
    async def update(self, key: str, fields: Dict[str, Any]) -> None: ...
    async def claim(self, key: str, owner: str, ttl_s: float) -> bool: ...
    async def release(self, key: str, owner: str) -> None: ...
    async def ping(self) -> bool: ...


# Structured fields are kept as JSON strings in the hash; everything else as text.
_JSON_FIELDS = {"sceneLabels", "timings"}

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisDocuments:
    """Documents as Redis hashes (``session:{user}:{session}``, ``image:{id}``), leases as keys with
    a time to live (``lease:{key}``). A dead server raises StoreUnavailable; the client reconnects
    on the next call."""

    def __init__(self, url: str, timeout_s: float = 2.0):
        import redis.asyncio

        self.url = url
        self._redis = redis.asyncio.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True)
        self._release = self._redis.register_script(_RELEASE)

    async def _call(self, coroutine):
        import redis.exceptions

        try:
            return await coroutine
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as e:
            raise StoreUnavailable(f"document store {self.url}: {e}") from None

    async def get(self, key: str) -> Optional[Dict[str, Any]]:
        raw = await self._call(self._redis.hgetall(key))
        if not raw:
            return None
        doc: Dict[str, Any] = {}
        for name, value in raw.items():
            if name in _JSON_FIELDS and value:
                try:
                    doc[name] = json.loads(value)
                except ValueError:
                    doc[name] = None  # a malformed field reads as absent, never as a crash
            else:
                doc[name] = value
        return doc

    async def update(self, key: str, fields: Dict[str, Any]) -> None:
        mapping = {k: (json.dumps(v) if k in _JSON_FIELDS else str(v)) for k, v in fields.items()}
        await self._call(self._redis.hset(key, mapping=mapping))

    async def claim(self, key: str, owner: str, ttl_s: float) -> bool:
        return bool(await self._call(self._redis.set(f"lease:{key}", owner, nx=True, px=max(1, int(ttl_s * 1000)))))

    async def release(self, key: str, owner: str) -> None:
        await self._call(self._release(keys=[f"lease:{key}"], args=[owner]))

    async def ping(self) -> bool:
        try:
            return bool(await self._call(self._redis.ping()))
        except StoreUnavailable:
            return False

    async def close(self) -> None:
        await self._redis.close()


def open_documents(spec: str) -> RedisDocuments:
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return RedisDocuments(spec)
    raise ValueError(f"SESSION_STORE={spec!r}: expected a redis:// URL (the one local implementation)")


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
