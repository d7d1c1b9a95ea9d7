"""Real processes for the service tests: redis-server, the service under uvicorn, a Pub/Sub push
simulator. Nothing is mocked: the tests talk HTTP to the processes on loopback ports."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples" / "service"))
sys.path.insert(0, str(ROOT / "tests" / "python"))

from inpaint_service.pubsub import envelope  # noqa: E402
from redis_server import RedisServer, free_port  # noqa: E402,F401  (re-exported for conftest)


class ServiceProcess:
    """python3 -m inpaint_service on a free port, its JSON log in a file."""

    def __init__(self, name: str, env: Dict[str, str], log_dir: Path):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}.log"
        self.env = {**os.environ, **env,
                    "PYTHONPATH": os.pathsep.join([str(ROOT / "examples" / "service"), str(Path(__file__).parent),
                                                   os.environ.get("PYTHONPATH", "")])}
        self.process: Optional[subprocess.Popen] = None

    def start(self, wait_ready: bool = True) -> "ServiceProcess":
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "inpaint_service", "--port", str(self.port)],
                                        env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        self.wait("/readyz" if wait_ready else "/healthz", timeout=60, answered=not wait_ready)
        return self

    def wait(self, path: str, timeout: float, answered: bool = False) -> None:
        """Until `path` answers 200 (or answers at all, with `answered`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{self.log()}")
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200 or answered:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: {path} did not answer within {timeout} s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        self._log.close()
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def log_lines(self) -> List[dict]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.startswith("{")]

    def metric(self, name: str, **labels: str) -> float:
        """A sample's value from /metrics (0 when absent); labels must match exactly those given."""
        total = 0.0
        for line in httpx.get(self.url + "/metrics", timeout=10).text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            head, value = line.rsplit(" ", 1)
            found = dict(part.split("=", 1) for part in head[len(name) + 1:-1].split(",") if "=" in part)
            if all(found.get(k) == f'"{v}"' for k, v in labels.items()):
                total += float(value)
        return total


def now_rfc3339(offset_s: float = 0.0) -> str:
    stamp = datetime.fromtimestamp(time.time() + offset_s, timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond * 1000:09d}Z"


def job(user: str, session: str, image: str = "original.jpg", mask: str = "mask.png") -> Dict[str, str]:
    folder = f"users/{user}/sessions/{session}"
    return {"userId": user, "sessionId": session, "imagePath": f"{folder}/{image}", "maskPath": f"{folder}/{mask}"}


def push(url: str, payload: Dict[str, str], message_id: str, *, max_attempts: int = 5, backoff_s: float = 0.05,
         max_backoff_s: float = 0.4, between: Optional[Callable[[int, httpx.Response], None]] = None,
         publish_time: Optional[str] = None) -> List[Tuple[int, int, dict]]:
    """Delivers one message as a Pub/Sub push subscription does: redelivers on every non-2xx
    after an exponential backoff (scaled down from Pub/Sub's 10 s..600 s), deliveryAttempt
    counting up, until a 2xx or max_attempts (then the message would go to the dead-letter topic).
    Returns [(attempt, status, body)]; `between(attempt, response)` runs after each nack."""
    publish_time = publish_time or now_rfc3339()
    deliveries = []
    with httpx.Client(timeout=60) as client:
        for attempt in range(1, max_attempts + 1):
            response = client.post(url + "/inpaint", json=envelope(payload, message_id, publish_time, attempt))
            deliveries.append((attempt, response.status_code, response.json()))
            if 200 <= response.status_code < 300:
                break
            if between:
                between(attempt, response)
            time.sleep(backoff_s)
            backoff_s = min(2 * backoff_s, max_backoff_s)
    return deliveries
