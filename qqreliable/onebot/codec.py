"""OneBot v11 over WebSocket: the frame codec the transport runs with.

- A call is ``{"action", "params", "echo"}``; its reply carries the same
  ``echo``.
- An object with ``post_type`` is an event. A ``meta_event`` heartbeat
  carries the interval (milliseconds) that sets the dead-link deadline, and
  counts as proof that the event side is alive. ``self_id`` names the
  account: learnt from the first event of each connection (the
  implementation may have restarted as another account: faults PROC-02).
- NapCat and LLOneBot accept the upgrade with a wrong token, then send one
  frame with ``retcode`` 1401/1403 and no ``echo``, and close: that is an
  :class:`~qqreliable.exceptions.AuthenticationError`, final.
- No handshake after the upgrade, no application heartbeat to send: the
  credentials travel as ``Authorization: Bearer …``.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from ..exceptions import AuthenticationError
from ..transport.codec import EVENT, FrameCodec, Inbound

__all__ = ["OneBotCodec"]


class OneBotCodec(FrameCodec):
    """The OneBot v11 WebSocket codec (one per connection owner).

    Args:
        access_token: sent as ``Authorization: Bearer …`` on the upgrade; never logged.
        url: where the frames come from, for error messages.
    """

    name = "OneBot"

    def __init__(self, access_token: Optional[str] = None, url: str = "") -> None:
        self._headers: Dict[str, str] = {"Authorization": f"Bearer {access_token}"} if access_token else {}
        self._url = url
        self._identity_known = False

    def handshake_headers(self) -> Dict[str, str]:
        return self._headers

    def opened(self) -> None:
        self._identity_known = False

    def encode_call(self, name: str, params: Mapping[str, Any], request_id: str) -> Dict[str, Any]:
        return {"action": name, "params": params, "echo": request_id}

    def classify(self, obj: Dict[str, Any]) -> Inbound:
        if "post_type" in obj:
            if obj.get("post_type") == "meta_event" and obj.get("meta_event_type") == "heartbeat":
                return Inbound.event(heartbeat=True, interval_ms=obj.get("interval"), identity=self._identity(obj))
            if self._identity_known:
                return EVENT
            identity = self._identity(obj)
            return EVENT if identity is None else Inbound.event(identity=identity)
        echo = obj.get("echo")
        if not echo and obj.get("retcode") in (1401, 1403):
            raise self._rejected(obj)  # nobody's call: the token was refused
        return Inbound.reply(None if echo is None else str(echo))

    def _identity(self, obj: Dict[str, Any]) -> Optional[int]:
        self_id = obj.get("self_id")
        if self_id is None:
            return None
        try:
            identity = int(self_id)
        except (TypeError, ValueError):
            return None
        if identity:
            self._identity_known = True
        return identity

    def _rejected(self, obj: Dict[str, Any]) -> AuthenticationError:
        where = self._url or "the implementation"
        return AuthenticationError(
            f"{where} rejected the access token (retcode {obj.get('retcode')}: "
            f"{obj.get('message') or obj.get('wording') or ''})".rstrip(),
            status=obj.get("retcode"),
        )
