"""The processes the service tests share: two Redis servers (documents; the encoding store's Redis
tier, which a test kills), the main service and a peer serving the same stores."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import redis

import inpaint

from harness import RedisServer, ServiceProcess  # harness puts examples/service and tests/python on sys.path
import sam_models


def photo(height: int = 96, width: int = 128, corner_red: int = 0) -> np.ndarray:
    """Grass-coloured ground with a grey object in the middle (the concept test model labels it grass)."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[:] = sam_models.GRASS
    rgb[..., 1] = (rgb[..., 1].astype(int) + ((x * 7 + y * 3) % 11) - 5).astype(np.uint8)
    rgb[height // 3:2 * height // 3, width // 3:2 * width // 3] = sam_models.OBJECT
    rgb[:8, :8, 0] = corner_red  # a block, so that JPEG's chroma subsampling keeps the value
    return np.ascontiguousarray(rgb)


def object_mask(height: int = 96, width: int = 128) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[height // 3:2 * height // 3, width // 3:2 * width // 3] = 255
    return mask


class Stack:
    def __init__(self, tmp: Path):
        if shutil.which("redis-server") is None:
            pytest.fail("redis-server is not installed (scripts/setup.sh installs it from scripts/deps.txt)")
        self.tmp = tmp
        self.blobs = tmp / "blobs"
        self.documents = RedisServer()
        self.cache = RedisServer()
        self.documents.start()
        self.cache.start()
        self.models = sam_models.save(tmp / "models")
        self.services = []

    def env(self, **extra: str) -> dict:
        base = {
            "BLOB_ROOT": str(self.blobs),
            "SESSION_STORE": self.documents.url + "/0",
            "ENCODING_STORE": f"memory:capacity=64MB|dir:path={self.tmp / 'encodings'}|{self.cache.url}/0?timeout_ms=300&retry_ms=300",
            "SEGMENTER_SPEC": sam_models.spec(self.models, concepts=True),
            "MAX_BODY_BYTES": str(2 * 1024 * 1024),
            "BODY_TIMEOUT_S": "1",
            "FILL_CONCURRENCY": "2",
        }
        base.update(extra)
        return base

    def service(self, name: str, wait_ready: bool = True, **env: str) -> ServiceProcess:
        service = ServiceProcess(name, self.env(**env), self.tmp)
        self.services.append(service)
        return service.start(wait_ready)

    def session(self, user: str, session: str, labels=None, image=None, mask=None, status: str = "pending") -> str:
        """A session document and its blobs, as the API server leaves them before publishing the job."""
        folder = self.blobs / "users" / user / "sessions" / session
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "original.jpg").write_bytes(inpaint.encode(photo() if image is None else image, "jpeg", 95))
        (folder / "mask.png").write_bytes(inpaint.encode(object_mask() if mask is None else mask, "png"))
        fields = ["processingStatus", status]
        if labels is not None:
            fields += ["sceneLabels", json.dumps(labels)]
        self.documents.cli("HSET", f"session:{user}:{session}", *fields)
        return f"users/{user}/sessions/{session}"

    def read_session(self, user: str, session: str) -> dict:
        client = redis.Redis(port=self.documents.port, decode_responses=True)
        try:
            return client.hgetall(f"session:{user}:{session}")
        finally:
            client.close()

    def close(self):
        for service in self.services:
            service.stop()
        self.documents.stop()
        self.cache.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("service"))
    yield s
    s.close()


@pytest.fixture(scope="session")
def main_service(stack):
    return stack.service("main")


@pytest.fixture(scope="session")
def peer_service(stack, main_service):
    return stack.service("peer", SERVICE_ROUTES="segment")
