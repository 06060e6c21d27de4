"""One open WebSocket connection, whichever side opened it: :class:`Link`.

The forward client (:mod:`.ws`, websocket-client) and the reverse server
(:mod:`.server`, our own :mod:`.wsserver`) differ only in how a socket is
opened and how frames are read and written. Everything after that is here,
once: the pending-call table, request ids, :meth:`Link.call`, sorting inbound
objects through the protocol's :class:`~.codec.FrameCodec`, liveness
bookkeeping, and the teardown that fails every call in flight at once.

Each side supplies a :class:`WireSocket`: read one message, send one text
message, ping, close, abort.

The policies the transport consults (how long to back off, whether a link is
dead) are described here as Protocols, :class:`BackoffPolicy` and
:class:`LivenessPolicy`, and injected by the owner (the facade), so the
transport imports nothing from the reliability layer.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional

from ._json import dumps, parse_frame
from .codec import CONTROL as _PLAIN_CONTROL
from .codec import EVENT as _PLAIN_EVENT
from .codec import KIND_EVENT, KIND_REPLY, FrameCodec, HandshakeChannel, Inbound, Reconnect
from ..exceptions import (
    ApiTimeout,
    AuthenticationError,
    ConnectFailed,
    ConnectionLost,
    ProtocolError,
    ResponseLost,
)

try:  # Python 3.8+
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore[assignment,misc]

__all__ = [
    "BackoffPolicy",
    "LivenessPolicy",
    "LinkCounters",
    "LinkEnded",
    "WireSocket",
    "PendingCalls",
    "Waiter",
    "Link",
]

log = logging.getLogger(__name__)

_link_ids = itertools.count(1)
_NEVER = float("inf")
_BUSY_RETRY = 0.1  # seconds between ping attempts while a write holds the socket


# --------------------------------------------------------------------------- injected policies


class BackoffPolicy(Protocol):
    """What the reconnect loop asks of a backoff (``reliability.Backoff`` fits)."""

    @property
    def healthy_after(self) -> float:
        """Seconds a connection must stay up before the failure count resets (read-only)."""
        ...

    def delay(self, failures: int) -> float: ...  # noqa: D102

    def exhausted(self, failures: int) -> bool: ...  # noqa: D102


class LivenessPolicy(Protocol):
    """What a link and its watchdog ask of a liveness tracker (``reliability.Liveness`` fits).

    Written by the reader thread, read by the watchdog thread.
    """

    interval: Optional[float]

    def reset(self) -> None: ...  # noqa: D102

    def saw_frame(self) -> None: ...  # noqa: D102

    def saw_event(self) -> None:  # noqa: D102
        """An event arrived; it is also proof of life (what :meth:`saw_frame` records)."""

    def saw_heartbeat(self, interval_ms: object) -> None: ...  # noqa: D102

    def ping_due(self) -> bool: ...  # noqa: D102

    def ping_sent(self) -> None: ...  # noqa: D102

    def stale(self) -> Optional[str]: ...  # noqa: D102

    def next_check_in(self) -> float: ...  # noqa: D102


# --------------------------------------------------------------------------- the socket adapters' contract


class LinkEnded(Exception):
    """Raised by a :class:`WireSocket` when the connection is over.

    Attributes:
        reason: for logs and the disconnect reason.
        code: the peer's close code, None when it sent none.
        bad_frame: the connection ended because a frame was refused (too big).
    """

    def __init__(self, reason: str, code: Optional[int] = None, *, bad_frame: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.bad_frame = bad_frame


class WireSocket(Protocol):
    """One open WebSocket as a :class:`Link` uses it.

    ``recv`` has one reader thread; the other methods are thread-safe.
    """

    def recv(self) -> Optional[bytes]:
        """The next data message; ``None`` for a control frame (a pong: proof of life).

        Blocks until something arrives (a side may wake up periodically and
        raise :class:`LinkEnded` when its owner stops).

        Raises:
            LinkEnded: the connection is over.
        """

    def recv_before(self, deadline: float) -> Optional[bytes]:
        """Like :meth:`recv`, but raises :class:`TimeoutError` at ``deadline`` (monotonic)."""

    # Optional, for the reader's batches (a side without them is read with recv()):
    #
    # def recv_many(self) -> Optional[List[bytes]]:
    #     """Like :meth:`recv`, but every data message already here at once, in
    #     order (at least one); ``None`` for a control frame."""
    #
    # def ended(self) -> bool:
    #     """True once the connection was closed or aborted here: messages read
    #     ahead are then not handed out (cheap; called between messages)."""

    def send_text(self, text: str) -> None:
        """Send one text message (may block up to the side's I/O timeout).

        Raises:
            Exception: anything: the write failed and the link is unusable.
        """

    def ping(self, before: Callable[[], None]) -> bool:
        """Send a ping without ever blocking; call ``before()`` just before it leaves
        (a pong may come back before this method returns).

        Returns False, sending nothing, when another write holds the socket
        (that write is bounded by the side's I/O timeout; the watchdog looks
        again soon). When the socket's send buffer is full (the peer stopped
        reading) nothing is sent either, but ``before()`` is called and True
        returned: the ping counts as sent and lost, so the link goes stale
        after the pong timeout. Raises when the socket is unusable."""

    def close(self) -> None:
        """Send a close frame (code 1000) without waiting long, then shut down."""

    def abort(self) -> None:
        """Shut the socket down at once, without a close frame; wakes the reader."""


class LinkCounters:
    """Counters shared by the links of one owner (written by reader threads)."""

    __slots__ = ("events", "bad_frames", "unmatched_replies")

    def __init__(self) -> None:
        self.events = 0
        self.bad_frames = 0
        self.unmatched_replies = 0


# --------------------------------------------------------------------------- pending calls


class Waiter:
    """One caller waiting for one reply: a lock the reader releases.

    Lighter than a ``concurrent.futures.Future`` (no Condition, no callbacks):
    the caller blocks in one C-level ``acquire``, the reader wakes it with one
    ``release``. Set at most once (:class:`PendingCalls` pops an entry before
    settling or failing it).
    """

    __slots__ = ("_lock", "_value", "_error")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._value: Any = None
        self._error: Optional[BaseException] = None

    def set_result(self, value: Any) -> None:
        self._value = value
        self._lock.release()

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._lock.release()

    def wait(self, timeout: float) -> bool:
        """Block until the reply (or an error) is in, at most ``timeout`` seconds; False on timeout."""
        return self._lock.acquire(timeout=max(0.0, timeout))

    def outcome(self) -> Any:
        """After :meth:`wait` returned True: the reply, or raise the stored error."""
        if self._error is not None:
            raise self._error
        return self._value


class PendingCalls:
    """The request id -> waiter table of one connection. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: Dict[str, Waiter] = {}

    def add(self, request_id: str) -> Waiter:
        waiter = Waiter()
        with self._lock:
            self._waiting[request_id] = waiter
        return waiter

    def discard(self, request_id: str) -> None:
        with self._lock:
            self._waiting.pop(request_id, None)

    def settle(self, request_id: str, reply: Any) -> bool:
        """Hand ``reply`` to its caller; False when nobody waits for ``request_id``."""
        with self._lock:
            waiter = self._waiting.pop(request_id, None)
        if waiter is None:
            return False
        waiter.set_result(reply)
        return True

    def fail_all(self, make_error: Callable[[], BaseException]) -> int:
        """Fail every waiter at once (the socket died); returns how many."""
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for waiter in waiting.values():
            waiter.set_exception(make_error())
        return len(waiting)

    def __len__(self) -> int:
        with self._lock:
            return len(self._waiting)


# --------------------------------------------------------------------------- the link


class _Channel(HandshakeChannel):
    def __init__(self, link: "Link", deadline: float) -> None:
        self._link = link
        self.deadline = deadline

    def receive(self) -> Dict[str, Any]:
        link = self._link
        while True:
            try:
                data = link.sock.recv_before(self.deadline)
            except TimeoutError:
                raise Reconnect(f"{link.codec.name} handshake not finished in time") from None
            except LinkEnded as end:
                link.end_code = end.code
                raise Reconnect(f"closed during the {link.codec.name} handshake: {end.reason}") from None
            link.liveness.saw_frame()
            if data is not None:
                return parse_frame(data)

    def send(self, obj: Mapping[str, Any]) -> None:
        try:
            self._link.sock.send_text(dumps(obj))
        except Exception as exc:  # any write failure: this connection is unusable
            raise Reconnect(f"handshake write failed: {exc}") from exc


class Link:
    """One open WebSocket: its pending calls, its codec and its liveness.

    Args:
        sock: the side's :class:`WireSocket`.
        codec: the protocol's codec for this connection.
        liveness: this connection's liveness tracker.
        counters: the owner's counters.
        name: who is at the other end, for messages (a URL, ``account 123``).
        deliver: ``deliver(link, event)`` for each event (reader thread; must not block).
        deliver_many: ``deliver_many(link, events)`` for the events of one read, in
            order (reader thread; must not block); default: ``deliver`` for each.
        on_fatal: ``on_fatal(link, error)`` when the codec raised a final error;
            the link is then killed unless it returns False.
        identity: the account, when known before the first frame.
    """

    #: "connection to X" in messages; sides may say more ("reverse connection of ...").
    label_format = "connection to {name}"

    def __init__(
        self,
        sock: WireSocket,
        codec: FrameCodec,
        liveness: LivenessPolicy,
        counters: LinkCounters,
        *,
        name: str,
        deliver: Callable[["Link", Any], None],
        on_fatal: Callable[["Link", BaseException], Optional[bool]],
        identity: Any = None,
        id_prefix: str = "",
        deliver_many: Optional[Callable[["Link", List[Any]], None]] = None,
    ) -> None:
        self.sock = sock
        self.codec = codec
        self.liveness = liveness
        self.counters = counters
        self.name = name
        self.identity = identity
        self.id = next(_link_ids)
        self.pending = PendingCalls()
        self.kill_reason: Optional[str] = None
        self.end_code: Optional[int] = None
        self.opened = time.monotonic()
        self.next_app_heartbeat: Optional[float] = None
        self._ping_busy = False
        self._deliver = deliver
        self._deliver_many = deliver_many
        self._on_fatal = on_fatal
        self._seq = itertools.count(1)
        self._id_prefix = f"qqr:{id_prefix}{self.id}:"

    # -- identity ------------------------------------------------------------

    def learn(self, identity: Any) -> None:
        """The codec named the account; sides may override (the reverse server re-keys)."""
        self.identity = identity

    @property
    def label(self) -> str:
        return self.label_format.format(name=self.name)

    # -- opening ------------------------------------------------------------

    def handshake(self, deadline: float) -> None:
        """Run the codec's post-upgrade handshake (reader thread).

        Raises:
            AuthenticationError, ConnectionLost: final.
            Reconnect: try again after a backoff.
            ProtocolError: the peer sent garbage (retry).
        """
        self.codec.opened()
        notes = self.codec.handshake(_Channel(self, deadline))
        if notes is not None:
            self._note(notes)

    # -- reading ------------------------------------------------------------

    def serve(self) -> str:
        """Read until the connection ends; return why it ended (reader thread).

        A side with ``recv_many`` hands over every message one read brought; they
        are taken in order (:meth:`on_batch`), their events delivered together."""
        sock = self.sock
        liveness = self.liveness
        recv_many = getattr(sock, "recv_many", None)
        ended = getattr(sock, "ended", None)
        batches = recv_many is not None and ended is not None
        while True:
            try:
                if batches:
                    frames = recv_many()  # type: ignore[misc]
                else:
                    data = sock.recv()
                    frames = None if data is None else [data]
            except LinkEnded as end:
                self.end_code = end.code
                if end.bad_frame:
                    self.counters.bad_frames += 1
                    log.warning(
                        "dropped a bad frame from %s (%d so far): %s", self.name, self.counters.bad_frames, end.reason
                    )
                return self.kill_reason or end.reason
            if frames is None:
                liveness.saw_frame()
            elif len(frames) == 1 or not batches:
                for data in frames:
                    self.on_data(data)  # notes the frame (an event as saw_event, which counts as one)
            else:
                self.on_batch(frames, ended)  # type: ignore[arg-type]

    def on_batch(self, frames: List[bytes], ended: Callable[[], bool]) -> None:
        """The data messages of one read, in order: what :meth:`on_data` does for
        each, but consecutive events are delivered together (one ``deliver_many``)
        and noted as one sighting. Whatever is not a plain event (a reply, a
        heartbeat, a bad frame) first delivers the events before it, so nothing
        overtakes anything. Stops early once ``ended()`` (a kill or a stop: what
        was read ahead is not handed out)."""
        events: List[Any] = []
        counters = self.counters
        classify = self.codec.classify
        event_payload = self.codec.event_payload
        for data in frames:
            if ended():
                break
            try:
                obj = parse_frame(data)
            except ProtocolError as exc:
                if events:
                    self._flush(events)
                    events = []
                self._bad_frame(exc)
                continue
            if event_payload is not None:
                payload = event_payload(obj)
                if payload is not None:  # a pushed event in its envelope: no Inbound made
                    counters.events += 1
                    events.append(payload)
                    continue
            try:
                inbound = classify(obj)
            except (AuthenticationError, ConnectionLost, Reconnect) as exc:
                if events:
                    self._flush(events)
                    events = []
                self._refused(exc)
                continue
            if inbound is _PLAIN_EVENT:
                counters.events += 1
                events.append(obj)
                continue
            if (
                inbound.kind == KIND_EVENT
                and not inbound.heartbeat
                and inbound.interval_ms is None
                and inbound.identity is None
            ):
                # An event delivered as its payload (mirai's ``data``), with nothing to
                # note: batched like a plain one (on_inbound would only deliver it).
                counters.events += 1
                payload = inbound.payload
                events.append(obj if payload is None else payload)
                continue
            if events:
                self._flush(events)
                events = []
            self.on_inbound(obj, inbound)
        if events:
            self._flush(events)

    def _flush(self, events: List[Any]) -> None:
        self.liveness.saw_event()  # proof of life too: no saw_frame() for them
        deliver_many = self._deliver_many
        if deliver_many is not None:
            deliver_many(self, events)
        else:
            deliver = self._deliver
            for event in events:
                deliver(self, event)

    def on_data(self, data: bytes) -> None:
        """One data message: parse, classify, then deliver, settle or drop it."""
        try:
            obj = parse_frame(data)
        except ProtocolError as exc:
            self._bad_frame(exc)
            return
        try:
            inbound = self.codec.classify(obj)
        except (AuthenticationError, ConnectionLost, Reconnect) as exc:
            self._refused(exc)
            return
        self.on_inbound(obj, inbound)

    def _bad_frame(self, exc: ProtocolError) -> None:
        self.liveness.saw_frame()
        self.counters.bad_frames += 1
        log.warning("dropped a bad frame from %s (%d so far): %s", self.name, self.counters.bad_frames, exc)

    def _refused(self, exc: Exception) -> None:
        """The codec raised on a message: final (credentials, account gone) or a reconnect."""
        self.liveness.saw_frame()
        if isinstance(exc, Reconnect):
            log.warning("%s asks for a reconnect: %s", self.name, exc)
            self.kill(str(exc))
            return
        if self._on_fatal(self, exc) is not False:
            self.kill("credentials rejected" if isinstance(exc, AuthenticationError) else str(exc))

    def on_inbound(self, obj: Dict[str, Any], inbound: Inbound) -> None:
        """One parsed, classified message: deliver, settle or note it."""
        kind = inbound.kind
        if kind == KIND_EVENT:
            self.counters.events += 1
            self.liveness.saw_event()  # proof of life too: no saw_frame() for it
            if inbound is not _PLAIN_EVENT:
                self._note(inbound)
            payload = inbound.payload
            self._deliver(self, obj if payload is None else payload)
            return
        self.liveness.saw_frame()
        if kind == KIND_REPLY:
            request_id = inbound.request_id
            payload = inbound.payload
            if request_id is not None and self.pending.settle(request_id, obj if payload is None else payload):
                return
            self.counters.unmatched_replies += 1
            log.debug("dropped a reply nobody waits for (late or unknown id %r)", request_id)
        elif inbound is not _PLAIN_CONTROL:
            self._note(inbound)

    def _note(self, inbound: Inbound) -> None:
        if inbound.heartbeat or inbound.interval_ms is not None:
            self.liveness.saw_heartbeat(inbound.interval_ms)
        if inbound.identity is not None and self.identity is None:
            self.learn(inbound.identity)

    # -- ending -------------------------------------------------------------

    def kill(self, reason: Optional[str]) -> None:
        """Drop the socket without a close frame; the reader wakes at once. Thread-safe."""
        if self.kill_reason is None and reason is not None:
            self.kill_reason = reason
        self.sock.abort()

    def fail_pending(self, reason: str) -> int:
        """Fail every call in flight with :class:`ResponseLost`; returns how many."""
        label = self.label
        failed = self.pending.fail_all(
            lambda: ResponseLost(f"{label} lost ({reason}) with the call in flight: it may or may not have run")
        )
        if failed:
            log.warning("%d pending call(s) failed: %s lost", failed, label)
        return failed

    # -- liveness -----------------------------------------------------------

    def check(self, now: float) -> Optional[str]:
        """One watchdog pass (watchdog thread; never blocks on a busy socket).

        Kills the link when it is stale (returns why), pings it when due, and
        sends the codec's application heartbeat when one is due.
        """
        liveness = self.liveness
        why = liveness.stale()
        if why is not None:
            return why
        self._ping_busy = False
        if liveness.ping_due():
            try:
                sent = self.sock.ping(liveness.ping_sent)
            except Exception as exc:  # any send failure means the socket is unusable
                self.kill(f"ping failed: {exc}")
                return None
            if not sent:
                self._ping_busy = True  # a write is in progress: try again shortly
        interval = liveness.interval
        if interval is not None and self.next_app_heartbeat != _NEVER:
            self._app_heartbeat(now, interval)
        return None

    def _app_heartbeat(self, now: float, interval: float) -> None:
        if self.next_app_heartbeat is None:
            self.next_app_heartbeat = now  # first one at once
        if now < self.next_app_heartbeat:
            return
        frame = self.codec.heartbeat_frame()
        if frame is None:
            self.next_app_heartbeat = _NEVER  # this protocol has none
            return
        self.next_app_heartbeat = now + interval
        try:
            self.sock.send_text(dumps(frame))
        except Exception as exc:  # the socket is unusable
            self.kill(f"heartbeat failed: {exc}")

    def next_check_in(self, now: float) -> float:
        """Seconds until this link needs the watchdog again."""
        wait = self.liveness.next_check_in()
        if self._ping_busy:
            wait = max(wait, _BUSY_RETRY)
        if self.next_app_heartbeat is not None:
            wait = min(wait, max(0.01, self.next_app_heartbeat - now))
        return wait

    # -- calls --------------------------------------------------------------

    def call(self, name: str, params: Mapping[str, Any], deadline: float, timeout: float) -> Any:
        """Send one call and wait for its reply until ``deadline`` (monotonic).

        Thread-safe; any number of callers may wait at once.

        Raises:
            TypeError: ``params`` is not JSON-serialisable (nothing sent).
            ApiNotAvailable: the protocol makes no calls over this link.
            ConnectFailed: the frame could not be written (not received).
            ResponseLost: the connection died with the call in flight.
            ApiTimeout: no reply by ``deadline``.
        """
        request_id = f"{self._id_prefix}{next(self._seq)}"
        try:
            frame = dumps(self.codec.encode_call(name, params, request_id))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: parameters are not JSON-serialisable: {exc}") from exc
        future = self.pending.add(request_id)
        try:
            self.sock.send_text(frame)
        except BaseException as exc:  # websocket/OS errors: the frame did not (fully) leave
            self.pending.discard(request_id)
            if not isinstance(exc, Exception):
                raise
            self.kill(f"send failed: {exc}")
            raise ConnectFailed(f"{name}: could not send to {self.name}: {exc}") from exc
        if not future.wait(deadline - time.monotonic()):
            self.pending.discard(request_id)
            raise ApiTimeout(f"{name}: no reply from {self.name} within {timeout:g}s")
        return future.outcome()

    def __repr__(self) -> str:
        return f"<Link {self.id} {self.name}>"

