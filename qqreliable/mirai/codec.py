"""mirai-api-http's answers to the WebSocket transport: :class:`MiraiCodec`.

* Upgrade headers: ``verifyKey`` and ``qq``, never a ``sessionKey``: every
  connection gets a fresh session (a WebSocket session dies with its socket;
  presenting the old key only earns code 3 and a clean close).
* Handshake: the first frame (``syncId: ""``) carries the session, or a code.
  Code 1 (wrong verifyKey) and 400 (bad or missing qq) are final
  (:class:`~qqreliable.exceptions.AuthenticationError`) even though MAH then
  closes cleanly with 1000; code 2 (the account is not logged in yet) and
  anything else ask for a reconnect after the usual backoff.
* Calls: ``{"syncId", "command", "subCommand", "content"}``; the transport's
  request ids are strings and never ``""`` or ``"-1"``. A call named
  ``"memberInfo:get"`` carries ``subCommand: "get"``.
* Inbound: the reserved syncId (``"-1"`` unless configured) is a pushed event;
  any other syncId settles the call with that id (the reply is the frame's
  ``data``); MAH's bare ``{"code": 400}`` answer to a frame it could not parse
  has no syncId: it is logged and counted, never fatal.
* Liveness: MAH sends no heartbeat; WebSocket pings (the transport's) are it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Dict, Optional

from ..exceptions import AuthenticationError, ProtocolError
from ..transport.codec import CONTROL, FrameCodec, HandshakeChannel, Inbound, Reconnect
from .codes import AUTH, OK, SESSION, classify_handshake

__all__ = ["MiraiCodec", "split_command"]

log = logging.getLogger(__name__)


def split_command(name: str) -> "tuple[str, Optional[str]]":
    """``"memberInfo:get"`` → ``("memberInfo", "get")``; ``"about"`` → ``("about", None)``."""
    command, sep, sub = name.partition(":")
    return command, (sub if sep and sub else None)


class MiraiCodec(FrameCodec):
    """One mirai-api-http WebSocket connection's protocol answers.

    Args:
        verify_key: MAH's ``verifyKey`` (None or ``""`` when MAH has verification off).
        qq: the bot account.
        reserved_sync_id: the syncId MAH stamps on pushed events.
        single_mode: MAH runs with ``singleMode: true`` (no qq needed).
    """

    name = "mirai-api-http"

    def __init__(self, verify_key: Optional[str], qq: int, *, reserved_sync_id: str = "-1",
                 single_mode: bool = False) -> None:
        self.verify_key = verify_key or ""
        self.qq = int(qq)
        self.reserved_sync_id = str(reserved_sync_id)
        self.single_mode = single_mode
        self.session: Optional[str] = None
        self.bare_errors = 0
        self.unknown_frames = 0

    def handshake_headers(self) -> Dict[str, str]:
        headers = {"verifyKey": self.verify_key}
        if not self.single_mode:
            headers["qq"] = str(self.qq)
        return headers

    def opened(self) -> None:
        self.session = None

    def handshake(self, channel: HandshakeChannel) -> Optional[Inbound]:
        while True:
            obj = channel.receive()
            if obj.get("syncId") == "" or ("data" in obj and "syncId" not in obj):
                break
            # Nothing but the handshake may come first; anything else is skipped (and said).
            log.warning("mirai-api-http sent %s before its handshake frame; ignored", _short(obj))
        data = obj.get("data")
        verdict = classify_handshake(data)
        if verdict.kind == OK:
            session = data.get("session") if isinstance(data, Mapping) else None
            if not isinstance(session, str) or not session:
                raise ProtocolError(f"mirai-api-http handshake without a session: {_short(obj)}")
            self.session = session
            return Inbound(CONTROL.kind, identity=self.qq)
        what = verdict.describe()
        if verdict.kind == AUTH:
            if verdict.code == 1:
                hint = "the verifyKey is wrong (check verify_key= against MAH's setting.yml)"
            else:
                hint = f"MAH refused the qq {self.qq!r} or the request"
            raise AuthenticationError(f"mirai-api-http refused the connection: {what}: {hint}", status=verdict.code)
        if verdict.code == 2:
            raise Reconnect(f"mirai-api-http: {what}: bot {self.qq} is not logged in to mirai (yet)")
        if verdict.kind == SESSION:
            raise Reconnect(f"mirai-api-http: {what}")
        raise Reconnect(f"mirai-api-http handshake failed: {what}")

    def encode_call(self, name: str, params: Mapping[str, Any], request_id: str) -> Dict[str, Any]:
        command, sub = split_command(name)
        return {"syncId": request_id, "command": command, "subCommand": sub, "content": dict(params)}

    def event_payload(self, obj: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """A pushed event's ``data`` (the reserved syncId, an object), else None: what
        :meth:`classify` makes ``Inbound.event(data)`` of, in one step."""
        if obj.get("syncId") == self.reserved_sync_id:
            data = obj.get("data")
            if type(data) is dict:
                return data
        return None

    def classify(self, obj: Dict[str, Any]) -> Inbound:
        sync_id = obj.get("syncId")
        if sync_id is None:
            if "code" in obj:
                # MAH's answer to a frame it could not parse: no syncId, cannot be matched.
                self.bare_errors += 1
                log.warning("mirai-api-http could not parse a frame we sent: %s", _short(obj))
                return CONTROL
            self.unknown_frames += 1
            log.warning("mirai-api-http sent a frame without syncId: %s", _short(obj))
            return CONTROL
        sync = str(sync_id)
        if sync == self.reserved_sync_id:
            data = obj.get("data")
            if not isinstance(data, dict):
                self.unknown_frames += 1
                log.warning("mirai-api-http pushed an event that is not an object: %s", _short(obj))
                return CONTROL
            return Inbound.event(data)
        if sync == "":
            self.unknown_frames += 1
            log.warning("mirai-api-http sent a second handshake frame: %s", _short(obj))
            return CONTROL
        return Inbound.reply(sync, obj.get("data"))

    def closed(self, code: Optional[int], reason: str) -> None:
        self.session = None


def _short(obj: Any, limit: int = 200) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."
