"""Fixtures shared by the Python tests: a real redis-server on a free loopback port."""
import shutil

import pytest

from redis_server import RedisServer


@pytest.fixture
def redis_server():
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (scripts/setup.sh installs it from scripts/deps.txt)")
    server = RedisServer()
    server.start()
    yield server
    server.stop()
