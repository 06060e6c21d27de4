"""The gateway session of one shard, as a pure state machine.

qq-official.md §3: after the socket opens the server says Hello (op 10, the
heartbeat interval); the client Identifies (op 2: token, intents, shard) or
Resumes (op 6: ``session_id`` + the last ``s``) and gets ``READY`` / ``RESUMED``.
Heartbeats (op 1, ``d`` = last ``s``) are answered by op 11; here an ACK
watchdog declares the link dead when none comes within ``ack_factor`` ×
interval, or when nothing at all arrives within ``silence_factor`` × interval.
op 7 asks for a reconnect (resume); op 9 invalidates the session (resume only
when ``d`` is true).

Every close code of §3.6 maps to resume, identify or fatal (:func:`close_action`),
with the token refreshed on 4004, 60 s on 4008, Identify after a resume was
refused or failed three times, and fatal codes raised from ``run()``.

:class:`GatewaySession` holds what lives across connections (``session_id``,
``s``, the backoff); the caller owns the socket and calls
:meth:`~GatewaySession.opened`, :meth:`~GatewaySession.receive`,
:meth:`~GatewaySession.heartbeat`, :meth:`~GatewaySession.stale` and
:meth:`~GatewaySession.closed`. Pure: an injected clock and random source.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..exceptions import AuthenticationError

__all__ = [
    "OP_DISPATCH", "OP_HEARTBEAT", "OP_IDENTIFY", "OP_RESUME", "OP_RECONNECT",
    "OP_INVALID_SESSION", "OP_HELLO", "OP_HEARTBEAT_ACK",
    "CloseAction", "close_action", "GatewaySession", "GatewayFatal", "Step", "BACKOFF_STEPS",
]

log = logging.getLogger(__name__)

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_RESUME = 6
OP_RECONNECT = 7
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

#: Seconds between reconnect attempts (the last repeats), as Tencent's qqbot-nodejs.
BACKOFF_STEPS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class GatewayFatal(AuthenticationError):
    """The gateway closed with a code that reconnecting cannot fix (4014 intents not
    permitted, 4010 bad shard, 4013 bad intents, 4914 offline, 4915 banned, repeated
    4004). Raised from ``run()``.

    Attributes:
        code: the close code.
    """

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class CloseAction:
    """What to do after a connection ended.

    Attributes:
        action: "resume", "identify" or "fatal".
        delay: seconds to wait at least before reconnecting (backoff comes on top).
        refresh_token: drop the cached token first (4004, op 9).
        refetch_gateway: read ``/gateway/bot`` again (4011).
        reason: for the log.
    """

    action: str
    delay: float = 0.0
    refresh_token: bool = False
    refetch_gateway: bool = False
    reason: str = ""


_POLICY: Dict[int, Tuple[str, float, bool, str]] = {
    4000: ("resume", 0.0, False, "unknown error"),
    4001: ("identify", 30.0, False, "invalid opcode (a client bug)"),
    4002: ("identify", 30.0, False, "invalid payload (a client bug)"),
    4003: ("identify", 0.0, False, "not authenticated"),
    4004: ("resume", 0.0, True, "authentication failed (token)"),
    4005: ("identify", 0.0, False, "already authenticated"),
    4006: ("identify", 0.0, False, "session invalid"),
    4007: ("identify", 0.0, False, "bad seq"),
    4008: ("resume", 60.0, False, "sending too fast"),
    4009: ("resume", 0.0, False, "session timed out"),
    4010: ("fatal", 0.0, False, "invalid shard"),
    4011: ("identify", 0.0, False, "too many guilds on this shard"),
    4012: ("fatal", 0.0, False, "invalid version"),
    4013: ("fatal", 0.0, False, "invalid intents"),
    4014: ("fatal", 0.0, False, "intents not permitted"),
    4914: ("fatal", 0.0, False, "bot taken offline (sandbox only)"),
    4915: ("fatal", 0.0, False, "bot banned"),
}


def close_action(code: Optional[int]) -> CloseAction:
    """The §3.6 policy for a close ``code`` (None: dropped without a close frame)."""
    if code in _POLICY:
        action, delay, refresh, reason = _POLICY[code]  # type: ignore[index]
        return CloseAction(action, delay, refresh, code == 4011, f"{code} {reason}")
    if code is not None and 4900 <= code <= 4913:
        return CloseAction("identify", 0.0, False, False, f"{code} internal server error")
    return CloseAction("resume", 0.0, False, False, f"{code if code is not None else 'no close frame'}: dropped")


#: What :meth:`GatewaySession.receive` asks the caller to do: ("send", payload),
#: ("dispatch", payload), ("ready", d), ("resumed", None), ("reconnect", CloseAction).
Step = Tuple[str, Any]


class GatewaySession:
    """One shard's gateway state across connections. Not thread-safe: the
    connection's owner thread drives it.

    Args:
        intents: the intents to identify with.
        shard: ``(shard_id, shard_count)``.
        clock: a monotonic clock.
        rand: a random source in [0, 1) for the backoff jitter.
        ack_factor: a heartbeat unanswered for this many intervals kills the link.
        silence_factor: no frame at all for this many intervals kills the link.
        hello_timeout: seconds to wait for Hello after the socket opened.
        properties: Identify's ``properties``.
        backoff_steps: seconds between failed reconnects (the last repeats), jittered ±25 %.
        storm_delay: the wait after three connections closed within 5 s of opening.
    """

    def __init__(
        self,
        *,
        intents: int,
        shard: Tuple[int, int] = (0, 1),
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        ack_factor: float = 1.5,
        silence_factor: float = 2.0,
        hello_timeout: float = 10.0,
        properties: Optional[Dict[str, str]] = None,
        backoff_steps: Tuple[float, ...] = BACKOFF_STEPS,
        storm_delay: float = 60.0,
    ) -> None:
        self.intents = intents
        self.shard = (int(shard[0]), int(shard[1]))
        self._clock = clock
        self._rand = rand
        self.ack_factor = ack_factor
        self.silence_factor = silence_factor
        self.hello_timeout = hello_timeout
        self.properties = properties or {"$os": "linux", "$browser": "qqreliable", "$device": "qqreliable"}
        self.backoff_steps = tuple(backoff_steps) or BACKOFF_STEPS
        self.storm_delay = storm_delay
        self.session_id: Optional[str] = None
        self.seq: Optional[int] = None
        self.bot_user: Dict[str, Any] = {}
        self.failures = 0  # consecutive connections that did not reach READY/RESUMED
        self._resume_failures = 0
        self._auth_failures = 0
        self._quick_closes: List[float] = []
        self._reset_connection()

    def _reset_connection(self) -> None:
        self.interval: Optional[float] = None
        self.opened_at: Optional[float] = None
        self.last_frame: Optional[float] = None
        self.last_heartbeat: Optional[float] = None
        self.awaiting_ack = False
        self.resuming = False
        self.ready = False
        self.hello = False
        self.hello_at: Optional[float] = None

    # ------------------------------------------------------------------ connection

    def opened(self) -> None:
        """The socket is open (Hello is awaited)."""
        self._reset_connection()
        now = self._clock()
        self.opened_at = now
        self.last_frame = now

    def hello_reply(self, token: str) -> Dict[str, Any]:
        """The frame to send after Hello: Resume when a session is held, else Identify.

        Args:
            token: the current access token (``QQBot `` is prefixed when missing).
        """
        auth = token if token.startswith("QQBot ") else f"QQBot {token}"
        if self.session_id and self.seq is not None:
            self.resuming = True
            return {"op": OP_RESUME, "d": {"token": auth, "session_id": self.session_id, "seq": self.seq}}
        self.resuming = False
        return {
            "op": OP_IDENTIFY,
            "d": {"token": auth, "intents": self.intents, "shard": list(self.shard), "properties": self.properties},
        }

    def receive(self, frame: Any) -> List[Step]:
        """Take one decoded frame; return what to do. Malformed frames are logged and ignored."""
        now = self._clock()
        self.last_frame = now
        if not isinstance(frame, dict):
            log.warning("gateway frame is not a JSON object; ignored: %.200r", frame)
            return []
        s = frame.get("s")
        if isinstance(s, int) and not isinstance(s, bool) and s > 0:
            self.seq = s
        op = frame.get("op")
        if op == OP_HELLO:
            raw_d = frame.get("d")
            d = raw_d if isinstance(raw_d, dict) else {}
            interval = d.get("heartbeat_interval")
            if isinstance(interval, (int, float)) and not isinstance(interval, bool) and interval > 0:
                self.interval = float(interval) / 1000.0
            else:
                self.interval = 41.25
                log.warning("Hello without a usable heartbeat_interval (%r); using 41.25s", interval)
            self.hello = True
            self.hello_at = now
            return [("hello", None)]
        if op == OP_HEARTBEAT_ACK:
            self.awaiting_ack = False
            return []
        if op == OP_HEARTBEAT:  # the server asks for a heartbeat now
            return [("send", self._heartbeat_frame(now))]
        if op == OP_RECONNECT:
            return [("reconnect", CloseAction("resume", 0.0, False, False, "op 7 reconnect"))]
        if op == OP_INVALID_SESSION:
            if frame.get("d") is True and self.session_id:
                return [("reconnect", CloseAction("resume", 1.0, False, False, "op 9 (resumable)"))]
            self.clear_session()
            return [("reconnect", CloseAction("identify", 3.0, True, False, "op 9 invalid session"))]
        if op == OP_DISPATCH:
            return self._dispatch(frame, now)
        log.debug("gateway op %r ignored", op)
        return []

    def _dispatch(self, frame: Dict[str, Any], now: float) -> List[Step]:
        t = frame.get("t")
        d = frame.get("d")
        if t == "READY":
            if isinstance(d, dict):
                if isinstance(d.get("session_id"), str):
                    self.session_id = d["session_id"]
                if isinstance(d.get("user"), dict):
                    self.bot_user = dict(d["user"])
            self._healthy()
            return [("ready", d)]
        if t == "RESUMED":
            self._healthy()
            return [("resumed", d)]
        # Repeated pushes are dropped by the bot's shared Deduper (or, with a store,
        # the fleet's event claims): one window for the gateway and the webhook.
        return [("dispatch", frame)]

    def _healthy(self) -> None:
        self.ready = True
        self.resuming = False
        self.failures = 0
        self._resume_failures = 0
        self._auth_failures = 0

    def clear_session(self) -> None:
        """Forget ``session_id`` and ``s``: the next connection Identifies."""
        self.session_id = None
        self.seq = None

    # ------------------------------------------------------------------ heartbeats

    def _heartbeat_frame(self, now: float) -> Dict[str, Any]:
        self.last_heartbeat = now
        self.awaiting_ack = True
        return {"op": OP_HEARTBEAT, "d": self.seq}

    def heartbeat_in(self) -> Optional[float]:
        """Seconds until the next heartbeat is due (None before Hello)."""
        if self.interval is None or self.hello_at is None:
            return None
        base = self.last_heartbeat if self.last_heartbeat is not None else self.hello_at
        return max(0.0, base + self.interval - self._clock())

    def heartbeat_now(self) -> Optional[Dict[str, Any]]:
        """A heartbeat frame now (the caller keeps the schedule); None before Hello."""
        if not self.hello:
            return None
        return self._heartbeat_frame(self._clock())

    def ack_overdue(self) -> Optional[str]:
        """Why the link is dead when a heartbeat went unanswered too long, else None."""
        if self.interval is None or not self.awaiting_ack or self.last_heartbeat is None:
            return None
        waited = self._clock() - self.last_heartbeat
        if waited > self.ack_factor * self.interval:
            return f"no heartbeat ACK within {self.ack_factor * self.interval:.1f}s"
        return None

    def heartbeat(self) -> Optional[Dict[str, Any]]:
        """The heartbeat frame when one is due now, else None."""
        due = self.heartbeat_in()
        if due is None or due > 0:
            return None
        return self._heartbeat_frame(self._clock())

    def stale(self) -> Optional[str]:
        """Why the link is dead (no ACK in time, silence, no Hello), or None."""
        now = self._clock()
        if not self.hello:
            if self.opened_at is not None and now - self.opened_at > self.hello_timeout:
                return f"no Hello within {self.hello_timeout:g}s"
            return None
        assert self.interval is not None
        if (
            self.awaiting_ack
            and self.last_heartbeat is not None
            and now - self.last_heartbeat > self.ack_factor * self.interval
        ):
            return f"no heartbeat ACK within {self.ack_factor * self.interval:.1f}s"
        if self.last_frame is not None and now - self.last_frame > self.silence_factor * self.interval:
            return f"no frame for {now - self.last_frame:.1f}s"
        return None

    # ------------------------------------------------------------------ closing

    def closed(self, code: Optional[int], action: Optional[CloseAction] = None) -> Tuple[CloseAction, float]:
        """The connection ended (``code`` None: without a close frame).

        Args:
            code: the close code received.
            action: the action already decided (op 7, op 9, the watchdog), if any.

        Returns:
            The action and the seconds to wait before reconnecting.

        Raises:
            GatewayFatal: a fatal close code, or 4004 three times without READY.
        """
        now = self._clock()
        decided = action if action is not None else close_action(code)
        was_resuming, was_ready = self.resuming, self.ready
        lived = now - self.opened_at if self.opened_at is not None else 0.0
        self._reset_connection()
        if decided.action == "fatal":
            raise GatewayFatal(f"the gateway closed the connection: {decided.reason}", code)
        if code == 4004:
            self._auth_failures += 1
            if self._auth_failures >= 3:
                raise GatewayFatal("the gateway refused the access token three times (4004)", code)
        if not was_ready:
            self.failures += 1
        if was_resuming and not was_ready and decided.action == "resume":
            self._resume_failures += 1
            if self._resume_failures >= 3:
                decided = CloseAction("identify", decided.delay, decided.refresh_token, decided.refetch_gateway,
                                      decided.reason + "; resume failed 3 times")
        if decided.action == "identify":
            self.clear_session()
            self._resume_failures = 0
        elif not self.session_id:
            decided = CloseAction("identify", decided.delay, decided.refresh_token, decided.refetch_gateway,
                                  decided.reason)
        delay = decided.delay
        if lived < 5.0:
            self._quick_closes = [t for t in self._quick_closes if now - t < 60.0] + [now]
            if len(self._quick_closes) >= 3:
                delay = max(delay, self.storm_delay)  # a storm of closes right after opening (§10: 60 s)
                self._quick_closes = []
        if self.failures:
            steps = self.backoff_steps
            step = steps[min(self.failures, len(steps)) - 1]
            delay = max(delay, step * (0.75 + 0.5 * self._rand()))
        return decided, delay
