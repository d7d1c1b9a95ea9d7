"""Pub/Sub push envelopes: what arrives at POST /inpaint, validated before anything is read.

A push request's body is ``{"message": {"data": base64, "attributes": {...}, "messageId": ...,
"publishTime": RFC 3339}, "subscription": ..., "deliveryAttempt": N}``; ``deliveryAttempt`` is
present when the subscription has a dead-letter policy (absent means the first attempt). Any
2xx response acks; every other status is a nack that Pub/Sub redelivers with its backoff.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict

from .stores import InvalidId, blob_path, check_id, session_dir


class BadEnvelope(ValueError):
    """A push body that is not a valid job (HTTP 400)."""


@dataclass(frozen=True)
class FillJob:
    user_id: str
    session_id: str
    image_path: str
    mask_path: str
    message_id: str
    publish_time: datetime
    delivery_attempt: int
    attributes: Dict[str, str]

    @property
    def folder(self) -> str:
        return session_dir(self.user_id, self.session_id)

    def age_s(self, now: datetime) -> float:
        return max(0.0, (now - self.publish_time).total_seconds())


def parse_time(text: Any) -> datetime:
    """RFC 3339 as Pub/Sub writes it ('2026-11-30T12:00:00.123456789Z'); fractions past microseconds dropped."""
    if not isinstance(text, str) or not 20 <= len(text) <= 40:
        raise BadEnvelope("message.publishTime must be an RFC 3339 timestamp")
    stamp = text.replace("z", "Z")
    if stamp.endswith("Z"):
        stamp = stamp[:-1] + "+00:00"
    if "." in stamp:
        head, rest = stamp.split(".", 1)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        stamp = head + "." + rest[:min(digits, 6)].ljust(6, "0") + rest[digits:]
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        raise BadEnvelope(f"message.publishTime {text!r} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise BadEnvelope(f"message.publishTime {text!r} has no time zone")
    return parsed.astimezone(timezone.utc)


def parse_push(body: Any) -> FillJob:
    if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
        raise BadEnvelope("expected a Pub/Sub push envelope: a JSON object with a 'message' object")
    message = body["message"]
    data = message.get("data")
    if not isinstance(data, str) or not data:
        raise BadEnvelope("message.data must be a non-empty base64 string")
    try:
        payload = json.loads(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        raise BadEnvelope("message.data is not base64 of a JSON object") from None
    if not isinstance(payload, dict):
        raise BadEnvelope("message.data must decode to a JSON object")
    missing = [k for k in ("userId", "sessionId", "imagePath", "maskPath") if k not in payload]
    if missing:
        raise BadEnvelope(f"message.data lacks {', '.join(missing)}")
    message_id = message.get("messageId", message.get("message_id"))
    if not isinstance(message_id, str) or not message_id or len(message_id) > 256:
        raise BadEnvelope("message.messageId must be a non-empty string")
    attributes = message.get("attributes", {}) or {}
    if not isinstance(attributes, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()):
        raise BadEnvelope("message.attributes must map strings to strings")
    attempt = body.get("deliveryAttempt", 1)
    if isinstance(attempt, bool) or not isinstance(attempt, int) or not 1 <= attempt <= 1_000_000:
        raise BadEnvelope("deliveryAttempt must be a positive integer")
    try:
        user_id = check_id(payload["userId"], "userId")
        session_id = check_id(payload["sessionId"], "sessionId")
        folder = session_dir(user_id, session_id)
        image_path = blob_path(payload["imagePath"], "imagePath", under=folder)
        mask_path = blob_path(payload["maskPath"], "maskPath", under=folder)
    except InvalidId as e:
        raise BadEnvelope(str(e)) from None
    return FillJob(user_id, session_id, image_path, mask_path, message_id,
                   parse_time(message.get("publishTime", message.get("publish_time"))), attempt, attributes)


def envelope(payload: Dict[str, Any], message_id: str, publish_time: str, attempt: int = 1,
             attributes: Dict[str, str] = None) -> Dict[str, Any]:
    """A push body as Pub/Sub sends it (tests, simulators and load tools use this)."""
    return {
        "message": {
            "data": base64.b64encode(json.dumps(payload).encode()).decode(),
            "attributes": attributes or {},
            "messageId": message_id,
            "publishTime": publish_time,
        },
        "subscription": "projects/local/subscriptions/inpaint",
        "deliveryAttempt": attempt,
    }
