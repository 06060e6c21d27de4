"""Webhook callbacks: the ed25519 key from the secret, signatures, the op 13 answer.

qq-official.md §4: the seed is the AppSecret repeated to at least 32 bytes and
cut at 32; the platform signs ``timestamp + body`` (``X-Signature-Timestamp``,
``X-Signature-Ed25519``); URL validation (op 13) is answered with the signature
of ``event_ts + plain_token``.

``cryptography`` (the ``official`` extra) is imported only when a key is first
derived, so the core install never needs it.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, Mapping, Optional, Tuple

__all__ = [
    "seed_from_secret",
    "WebhookKeys",
    "CallbackResult",
    "handle_callback",
    "MissingDependency",
]

log = logging.getLogger(__name__)


class MissingDependency(ImportError):
    """A feature needs an extra that is not installed."""


def _ed25519() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingDependency(
            "OfficialBot webhooks need 'cryptography' (ed25519): pip install 'qqreliable[official]'"
        ) from exc
    return ed25519


def seed_from_secret(secret: str) -> bytes:
    """The 32-byte ed25519 seed: the secret repeated until 32 bytes, then cut.

    Raises:
        ValueError: the secret is empty.
    """
    raw = str(secret).encode("utf-8")
    if not raw:
        raise ValueError("the bot secret is empty")
    while len(raw) < 32:
        raw += raw
    return raw[:32]


class WebhookKeys:
    """The key pair of one bot. Thread-safe (immutable once built).

    Raises:
        MissingDependency: ``cryptography`` is not installed.
        ValueError: the secret is empty.
    """

    def __init__(self, secret: str) -> None:
        ed25519 = _ed25519()
        self._private = ed25519.Ed25519PrivateKey.from_private_bytes(seed_from_secret(secret))
        self._public = self._private.public_key()

    def public_bytes(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self._public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def sign(self, message: bytes) -> str:
        """The hex signature of ``message``."""
        return self._private.sign(message).hex()

    def sign_validation(self, event_ts: str, plain_token: str) -> str:
        """The op 13 answer's ``signature``."""
        return self.sign((str(event_ts) + str(plain_token)).encode("utf-8"))

    def sign_callback(self, timestamp: str, body: bytes) -> str:
        """What the platform puts in ``X-Signature-Ed25519`` (used by the fake)."""
        return self.sign(str(timestamp).encode("utf-8") + body)

    def verify(self, timestamp: Optional[str], body: bytes, signature: Optional[str]) -> bool:
        """True when ``signature`` (hex) signs ``timestamp + body``; False for anything
        missing or malformed."""
        if not timestamp or not signature:
            return False
        try:
            sig = bytes.fromhex(signature.strip())
        except ValueError:
            return False
        if len(sig) != 64 or sig[63] & 0xE0:
            return False
        from cryptography.exceptions import InvalidSignature

        try:
            self._public.verify(sig, str(timestamp).encode("utf-8") + body)
        except InvalidSignature:
            return False
        return True


class CallbackResult:
    """What to answer one callback, and the dispatch to hand on (if any).

    Attributes:
        status: the HTTP status to answer.
        body: the JSON body to answer (None: empty).
        payload: the verified op 0 envelope to dispatch, else None.
        reason: why it was refused, for the log.
    """

    __slots__ = ("status", "body", "payload", "reason")

    def __init__(self, status: int, body: Optional[Dict[str, Any]], payload: Optional[Dict[str, Any]] = None,
                 reason: str = "") -> None:
        self.status = status
        self.body = body
        self.payload = payload
        self.reason = reason

    def __repr__(self) -> str:
        return f"CallbackResult({self.status}, {self.body!r}, reason={self.reason!r})"


def _header(headers: Mapping[str, str], name: str) -> Optional[str]:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def handle_callback(keys: WebhookKeys, headers: Mapping[str, str], body: bytes) -> CallbackResult:
    """Check and answer one webhook POST (pure; the caller writes the answer).

    Every request must be signed (op 13 included): a missing or bad signature
    is answered 401 and nothing is dispatched. op 13 → the validation answer;
    op 0 → ``{"op": 12, "d": 0}`` and the payload; op 1 → ``{"op": 11}``.
    """
    if not keys.verify(_header(headers, "X-Signature-Timestamp"), body, _header(headers, "X-Signature-Ed25519")):
        return CallbackResult(401, {"code": 401, "message": "bad or missing signature"}, reason="signature")
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return CallbackResult(400, {"code": 400, "message": "body is not JSON"}, reason="json")
    if not isinstance(payload, dict):
        return CallbackResult(400, {"code": 400, "message": "body is not a JSON object"}, reason="json")
    op = payload.get("op")
    d = payload.get("d")
    if op == 13:
        if not isinstance(d, dict) or not isinstance(d.get("plain_token"), str):
            return CallbackResult(400, {"code": 400, "message": "op 13 without plain_token"}, reason="op13")
        token = d["plain_token"]
        signature = keys.sign_validation(str(d.get("event_ts", "")), token)
        return CallbackResult(200, {"plain_token": token, "signature": signature})
    if op == 0:
        return CallbackResult(200, {"op": 12, "d": 0}, payload)
    if op == 1:
        return CallbackResult(200, {"op": 11, "d": d if isinstance(d, int) else 0})
    return CallbackResult(200, {"op": 12, "d": 0}, reason=f"op {op!r} ignored")


def split_result(result: CallbackResult) -> Tuple[int, Optional[Dict[str, Any]]]:
    return result.status, result.body
