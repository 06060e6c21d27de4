"""The official gateway plugged into the WebSocket transport: a :class:`FrameCodec`.

:class:`GatewayCodec` wraps the pure :class:`~.gateway.GatewaySession`:

* ``handshake``: Hello, then Identify or Resume with a current token (READY /
  RESUMED and the replayed dispatches then arrive through ``classify``);
* ``classify``: dispatches are events (duplicates dropped), READY / RESUMED mark
  the bot connected, ACKs prove life, op 7 / op 9 / an overdue ACK reconnect;
* ``heartbeat_frame``: op 1 with the last ``s``, once per Hello interval;
* ``closed``: the §3.6 close-code policy; fatal codes raise :class:`~.gateway.GatewayFatal`.

:class:`GatewayLiveness` adds the ACK watchdog to the transport's liveness, and
:class:`GatewayBackoff` hands the transport the wait the policy decided (60 s
on 4008, 3 s after op 9, none after a healthy session).
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Any, Callable, Dict, Mapping, Optional

from ..exceptions import ApiNotAvailable, AuthenticationError, BotStopped, Error
from ..reliability.liveness import Liveness
from ..transport.codec import CONTROL, EVENT, KIND_CONTROL, FrameCodec, HandshakeChannel, Inbound, Reconnect
from .gateway import BACKOFF_STEPS, CloseAction, GatewaySession, OP_HELLO

__all__ = ["GatewayCodec", "GatewayLiveness", "GatewayBackoff"]

log = logging.getLogger(__name__)


class GatewayCodec(FrameCodec):
    """One shard's gateway protocol for the WebSocket transport.

    Args:
        session: the shard's state across connections.
        token: returns a current access token (may fetch one).
        on_ready: ``on_ready(user, resumed)`` (reader thread; must not block).
        on_token_rejected: called when the gateway refused the token (4004).
    """

    name = "official gateway"

    def __init__(
        self,
        session: GatewaySession,
        *,
        token: Callable[[], str],
        on_ready: Callable[[Dict[str, Any], bool], None],
        on_token_rejected: Callable[[], None],
    ) -> None:
        self.session = session
        self._token = token
        self._on_ready = on_ready
        self._on_token_rejected = on_token_rejected
        self._lock = threading.Lock()
        self._decided: Optional[CloseAction] = None
        self.next_delay: Optional[float] = None
        #: The close policy asked for ``/gateway/bot`` to be read again (4011).
        self.refetch_due = False

    def opened(self) -> None:
        with self._lock:
            self.session.opened()
            self._decided = None

    def handshake(self, channel: HandshakeChannel) -> Optional[Inbound]:
        hello = channel.receive()
        with self._lock:
            self.session.receive(hello)
            if hello.get("op") != OP_HELLO or self.session.interval is None:
                raise Reconnect(f"the gateway's first frame is not Hello: op {hello.get('op')!r}")
            interval = self.session.interval
        try:
            token = self._token()
        except (AuthenticationError, BotStopped):
            raise
        except Error as exc:
            raise Reconnect(f"no access token for Identify: {exc}") from exc
        with self._lock:
            frame = self.session.hello_reply(token)
        log.info("gateway: %s", "resuming session" if frame["op"] == 6 else "identifying")
        channel.send(frame)
        return Inbound(KIND_CONTROL, interval_ms=interval * 1000.0)

    def encode_call(self, name: str, params: Mapping[str, Any], request_id: str) -> Dict[str, Any]:
        raise ApiNotAvailable("the official gateway takes no calls: the API is HTTPS")

    def classify(self, obj: Dict[str, Any]) -> Inbound:
        with self._lock:
            overdue = self.session.ack_overdue()
            if overdue is not None:
                self._decided = CloseAction("resume", reason=overdue)
                raise Reconnect(overdue)
            steps = self.session.receive(obj)
        result: Inbound = CONTROL
        for kind, arg in steps:
            if kind == "dispatch":
                # The frame itself: a plain event, which the link hands over with the
                # others of its read (OfficialBot._on_dispatches).
                result = EVENT if arg is obj else Inbound.event(arg)
            elif kind in ("ready", "resumed"):
                user = self.session.bot_user
                self._on_ready(user, kind == "resumed")
                result = Inbound(KIND_CONTROL, heartbeat=True, identity=user.get("id") or None)
            elif kind == "reconnect":
                with self._lock:
                    self._decided = arg
                raise Reconnect(arg.reason)
        if obj.get("op") == 11:
            return Inbound(KIND_CONTROL, heartbeat=True)
        return result

    def heartbeat_frame(self) -> Optional[Dict[str, Any]]:
        with self._lock:
            return self.session.heartbeat_now()

    def closed(self, code: Optional[int], reason: str) -> None:
        with self._lock:
            decided, self._decided = self._decided, None
            action, delay = self.session.closed(code, decided)  # raises GatewayFatal
        if action.refresh_token or code == 4004:
            self._on_token_rejected()
        if action.refetch_gateway:
            self.refetch_due = True
        log.info("gateway connection ended (%s): %s next, in %.1fs", action.reason, action.action, delay)
        self.next_delay = delay

    def ack_overdue(self) -> Optional[str]:
        with self._lock:
            return self.session.ack_overdue()


class GatewayLiveness(Liveness):
    """The transport's liveness, plus the gateway's heartbeat-ACK watchdog."""

    def __init__(self, codec: GatewayCodec, **options: Any) -> None:
        super().__init__(**options)
        self._codec = codec

    def stale(self) -> Optional[str]:
        return super().stale() or self._codec.ack_overdue()


class GatewayBackoff:
    """The reconnect wait: what the close policy decided, else the step schedule.

    ``healthy_after``: a connection that lived this long resets the failure count.
    ``refetch``: reads ``/gateway/bot`` again and points the transport at its ``url``
    (blocking, on the connection's own thread between two connections); called when the
    close policy asks for it (4011), and before every reconnect once two attempts in a
    row failed (a connect, an Identify or a Resume): the URL or the session may be stale,
    so each further attempt starts from a current URL, as Tencent's own SDK does (§10).
    """

    def __init__(self, codec: GatewayCodec, *, steps: Any = BACKOFF_STEPS, healthy_after: float = 30.0,
                 max_attempts: Optional[int] = None, rand: Callable[[], float] = random.random,
                 refetch: Optional[Callable[[], None]] = None) -> None:
        self._codec = codec
        self.steps = tuple(steps) or BACKOFF_STEPS
        self.healthy_after = healthy_after
        self.max_attempts = max_attempts
        self._rand = rand
        self._refetch = refetch
        self.refetches = 0

    def delay(self, failures: int) -> float:
        if self._refetch is not None and (self._codec.refetch_due or failures >= 2):
            self._codec.refetch_due = False
            self.refetches += 1
            try:
                self._refetch()
            except Exception:  # a failed refetch keeps the old URL; the next attempt tries again
                log.warning("could not read /gateway/bot again; keeping the current URL", exc_info=True)
        decided = self._codec.next_delay
        if decided is not None:
            self._codec.next_delay = None
            return decided
        step = self.steps[min(max(failures, 1), len(self.steps)) - 1]
        return step * (0.75 + 0.5 * self._rand())

    def exhausted(self, failures: int) -> bool:
        return self.max_attempts is not None and failures >= self.max_attempts
