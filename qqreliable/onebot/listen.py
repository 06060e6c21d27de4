"""OneBot's side of the listeners: who may connect, as what, and what a POST is.

The transport's listeners (:mod:`qqreliable.transport.server`) know no
protocol; these two policies tell them OneBot v11's rules.

Reverse WebSocket (:class:`ReversePolicy`): the role comes from
``X-Client-Role`` (``Universal``, ``API``, ``Event``; compared
case-insensitively: Lagrange sends ``Api``), the account from ``X-Self-ID``
(learnt from the first event when missing or 0: LLOneBot before login).
When the bot has an access token, every handshake must carry it as
``Authorization: Bearer …``, ``Authorization: Token …`` (go-cqhttp) or
``?access_token=``; missing → 401, wrong → 403, compared in constant time.

HTTP POST (:class:`WebhookPolicy`): each body is one event (it has a
``post_type``). With a ``secret``, the ``X-Signature`` header (``sha1=`` +
HMAC-SHA1 hex of the raw body) is checked in constant time: missing → 401,
wrong → 403. An event without ``self_id`` takes it from ``X-Self-ID``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Dict, Optional, Tuple

from ..transport.codec import FrameCodec
from ..transport.server import ROLES
from ..transport.wsserver import HandshakeError, RequestHead
from .codec import OneBotCodec
from ..reliability.interfaces import as_int as _as_int

__all__ = ["check_token", "check_signature", "ReversePolicy", "WebhookPolicy"]


def check_token(head: RequestHead, token: Optional[str]) -> int:
    """0 when the request carries ``token`` (or none is required), 401 when it
    carries none, 403 when it carries a wrong one. Constant-time comparison.

    Accepted: ``Authorization: Bearer <t>``, ``Authorization: Token <t>``
    (go-cqhttp), and ``?access_token=<t>`` when there is no header.
    """
    if not token:
        return 0
    header = (head.header("Authorization") or "").strip()
    if header:
        scheme, _, value = header.partition(" ")
        given = value.strip() if scheme.lower() in ("bearer", "token") else header
    else:
        given = head.query_value("access_token") or ""
    if not given:
        return 401
    return 0 if hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")) else 403


def check_signature(secret: Optional[str], body: bytes, header: Optional[str]) -> int:
    """0 when ``header`` is ``sha1=<HMAC-SHA1 hex of body>`` (or no secret is set),
    401 when it is missing, 403 when it is wrong. Constant-time comparison."""
    if not secret:
        return 0
    if not header or not header.strip():
        return 401
    expected = "sha1=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()
    given = header.strip().lower().encode("utf-8", "replace")
    return 0 if hmac.compare_digest(expected.encode("ascii"), given) else 403


class ReversePolicy:
    """OneBot v11 reverse WebSocket rules, for :class:`~qqreliable.transport.server.ReverseWsServer`.

    Args:
        access_token: required of every connecting implementation when set; never logged.
    """

    name = "OneBot"
    account_field = "self_id"

    def __init__(self, access_token: Optional[str] = None) -> None:
        self._token = access_token or None

    def authenticate(self, head: RequestHead) -> int:
        return check_token(head, self._token)

    def route(self, head: RequestHead) -> Tuple[str, Optional[int]]:
        role = (head.header("X-Client-Role") or "universal").strip().lower() or "universal"
        if role not in ROLES:
            raise HandshakeError(400, f"unknown X-Client-Role {role!r}: use Universal, API or Event")
        self_id = _as_int(head.header("X-Self-ID"))
        if self_id == 0:
            self_id = None  # LLOneBot before login: learn it from the first event
        return role, self_id

    def codec(self) -> FrameCodec:
        return OneBotCodec()


class WebhookPolicy:
    """OneBot v11 HTTP POST rules, for :class:`~qqreliable.transport.server.WebhookServer`.

    Args:
        secret: the HMAC-SHA1 key of ``X-Signature``; unsigned posts are refused when set.
    """

    name = "OneBot"
    auth_scheme = "Signature"

    def __init__(self, secret: Optional[str] = None) -> None:
        self._secret = secret or None

    def verify(self, head: RequestHead, body: bytes) -> int:
        return check_signature(self._secret, body, head.header("X-Signature"))

    def accept(self, head: RequestHead, obj: Dict[str, Any]) -> Optional[str]:
        if "post_type" not in obj:
            return "not a OneBot event (no post_type)"
        if "self_id" not in obj:
            self_id = _as_int(head.header("X-Self-ID"))
            if self_id is not None:
                obj["self_id"] = self_id
        return None
