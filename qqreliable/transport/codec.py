"""What a protocol plugs into the WebSocket transport: a :class:`FrameCodec`.

The transport (:mod:`qqreliable.transport.link`, used by the forward client in
:mod:`~qqreliable.transport.ws` and the reverse server in
:mod:`~qqreliable.transport.server`) knows WebSocket frames, JSON, request
ids, pending calls, liveness and reconnecting. It knows no protocol: each
protocol package (``onebot/``, ``mirai/``, ``official/``) supplies one codec
that answers the few protocol questions, all from the connection's reader
thread unless said otherwise:

========================  ==========================================================
``handshake_headers()``   HTTP headers of the upgrade request (forward side: auth).
``handshake(channel)``    optional exchange right after the upgrade, before the link
                          counts as connected: mirai's first frame, the official
                          gateway's Hello -> Identify/Resume -> READY.
``encode_call()``         the JSON object of one call carrying a transport-made id.
``classify(obj)``         what an inbound JSON object is: an :class:`Inbound`.
``heartbeat_frame()``     an application heartbeat to send every heartbeat
                          interval (official op 1); None: WebSocket pings only.
``closed(code, reason)``  the connection ended; may raise a fatal error.
========================  ==========================================================

Errors a codec raises, and what the transport does with them:

- :class:`~qqreliable.exceptions.AuthenticationError` (from ``handshake``,
  ``classify`` or ``closed``): final. A forward client stops reconnecting and
  ``run()`` reports it to its owner; a reverse server drops that connection.
- :class:`Reconnect` (from the same places): this connection is over, try
  again after the usual backoff (mirai handshake code 2 "bot not logged in",
  official op 7 / op 9 / a resumable close code).
- :class:`~qqreliable.exceptions.ConnectionLost` from ``closed``: final, not
  an authentication problem (official 4914 "bot offline", 4915 "banned").

Request ids are allocated by the transport: short ASCII strings such as
``"qqr:3:17"``, unique per link, never ``""`` nor ``"-1"`` (mirai reserves
both). The codec decides only which field carries them (each protocol
names its own) and hands them back in :attr:`Inbound.request_id`.

A codec instance serves one connection at a time; the transport calls
``opened()`` at the start of every connection (its per-connection state, such
as the learnt account or the official sequence number, may persist across
connections where the protocol wants it to: Resume). A reverse server makes a
fresh codec for every accepted connection. Methods are called from one thread
at a time (the reader), except ``encode_call`` (any caller thread: keep it
free of shared mutable state) and ``heartbeat_frame`` (the watchdog thread).

Example, a protocol whose replies carry ``id`` and whose events carry ``event``::

    class TinyCodec(FrameCodec):
        def encode_call(self, name, params, request_id):
            return {"method": name, "params": params, "id": request_id}

        def classify(self, obj):
            if "event" in obj:
                return EVENT
            return Inbound.reply(str(obj.get("id")))
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Mapping, Optional

from ..exceptions import ConnectFailed

__all__ = [
    "FrameCodec",
    "Inbound",
    "HandshakeChannel",
    "Reconnect",
    "EVENT",
    "CONTROL",
    "KIND_EVENT",
    "KIND_REPLY",
    "KIND_CONTROL",
]

KIND_EVENT = "event"
KIND_REPLY = "reply"
KIND_CONTROL = "control"


class Reconnect(ConnectFailed):
    """Raised by a codec: close this connection and connect again after a backoff.

    Also what the transport raises when a handshake times out or the peer
    closes during it. ``reason`` ends up in logs and in the disconnect reason.
    """


class Inbound:
    """What one inbound JSON object is. Immutable; cheap to make.

    Attributes:
        kind: ``"event"`` (delivered to the owner's ``on_event``), ``"reply"``
            (settles the pending call ``request_id``) or ``"control"`` (the
            codec handled it: a handshake answer, a heartbeat ACK; nothing
            more to do).
        payload: what is delivered (the event) or returned to the caller (the
            reply). ``None`` means the inbound object itself (no copy, the
            common case).
        request_id: for replies: the id the transport gave the call.
        heartbeat: the object proves the peer's event side is alive (a OneBot
            heartbeat meta event, an official heartbeat ACK); resets the
            zombie clock like an event does.
        interval_ms: the heartbeat interval the peer announced, in
            milliseconds (OneBot ``interval``, official Hello): the dead-link
            deadline becomes ``grace x interval``.
        identity: the account this connection serves, when the object names
            it; the transport keeps the first one learnt
            on each connection.
    """

    __slots__ = ("kind", "payload", "request_id", "heartbeat", "interval_ms", "identity")

    def __init__(
        self,
        kind: str,
        payload: Any = None,
        request_id: Optional[str] = None,
        *,
        heartbeat: bool = False,
        interval_ms: Optional[float] = None,
        identity: Any = None,
    ) -> None:
        self.kind = kind
        self.payload = payload
        self.request_id = request_id
        self.heartbeat = heartbeat
        self.interval_ms = interval_ms
        self.identity = identity

    @classmethod
    def reply(cls, request_id: Optional[str], payload: Any = None) -> "Inbound":
        """A reply to the call ``request_id`` (``None``: a reply nobody can match)."""
        return cls(KIND_REPLY, payload, request_id)

    @classmethod
    def event(cls, payload: Any = None, **notes: Any) -> "Inbound":
        """An event (``payload``: what to deliver when not the object itself)."""
        return cls(KIND_EVENT, payload, **notes)

    def __repr__(self) -> str:
        return f"<Inbound {self.kind} id={self.request_id!r}>"


#: Shared answers for the common cases: "an event, deliver the object as is"
#: and "handled, nothing to do". Returning them allocates nothing.
EVENT = Inbound(KIND_EVENT)
CONTROL = Inbound(KIND_CONTROL)


class HandshakeChannel:
    """The connection during :meth:`FrameCodec.handshake` (reader thread only).

    ``deadline`` is a :func:`time.monotonic` value: the whole handshake must
    finish by then (the transport's connect timeout).
    """

    deadline: float

    def receive(self) -> Dict[str, Any]:
        """The next inbound JSON object (control frames are answered for you).

        Raises:
            Reconnect: the deadline passed, or the peer closed the connection
                (the close code and reason are in the message).
            ProtocolError: the frame is not a JSON object (the transport
                counts it as a bad frame and reconnects).
        """
        raise NotImplementedError

    def send(self, obj: Mapping[str, Any]) -> None:
        """Send one JSON object (lone surrogates replaced).

        Raises:
            Reconnect: the write failed.
        """
        raise NotImplementedError

    def remaining(self) -> float:
        """Seconds left until :attr:`deadline` (never negative)."""
        return max(0.0, self.deadline - time.monotonic())


class FrameCodec:
    """A protocol's answers to the WebSocket transport. Subclass and override.

    The defaults describe a protocol with no handshake, no application
    heartbeat and no opinion on close codes; ``encode_call`` and ``classify``
    must be provided.
    """

    #: Used in log lines and error messages ("OneBot", "mirai-api-http").
    name = "protocol"

    def handshake_headers(self) -> Dict[str, str]:
        """Headers for the upgrade request (forward client). Never logged.

        Called before every connection attempt, so credentials may rotate
        (the official gateway's access token).
        """
        return {}

    def opened(self) -> None:
        """A new connection is up (before :meth:`handshake`): reset per-connection state."""

    def handshake(self, channel: HandshakeChannel) -> Optional[Inbound]:
        """Exchange frames before the link counts as connected (reader thread).

        Called after :meth:`opened` on every new connection; calls wait
        until it returns. Return ``None``, or an :class:`Inbound` whose notes
        the link applies (``interval_ms`` from the official Hello,
        ``identity`` from READY or mirai's session). Objects read here are
        not replayed through :meth:`classify`.

        Raises:
            AuthenticationError: the credentials are wrong: final.
            ConnectionLost: final for another reason.
            Reconnect: try again later (bot not logged in, invalid session,
                the deadline passed, the peer closed).
        """
        return None

    def encode_call(self, name: str, params: Mapping[str, Any], request_id: str) -> Dict[str, Any]:
        """The JSON object that asks the peer to run ``name`` with ``params``.

        Called on the caller's thread. ``request_id`` must come back in
        :attr:`Inbound.request_id` of the reply.

        Raises:
            ApiNotAvailable: this protocol makes no calls over this connection
                (the official gateway: calls go over HTTPS).
        """
        raise NotImplementedError

    def classify(self, obj: Dict[str, Any]) -> Inbound:
        """Sort one inbound JSON object (reader thread; must not block).

        Raises:
            AuthenticationError: the peer says the credentials are wrong
                (a rejection frame right after a successful upgrade).
            Reconnect: the peer asks for a reconnect (official op 7, op 9).
        """
        raise NotImplementedError

    #: Optional, for the reader's batches: ``event_payload(obj)`` gives the event to
    #: deliver when ``obj`` is a plain pushed event inside an envelope (what
    #: :meth:`classify` would call ``Inbound.event(payload)`` with no notes and no
    #: side effects), else ``None``, and :meth:`classify` sorts the object. Must
    #: agree with :meth:`classify`; one call and no :class:`Inbound` per event
    #: instead of three calls. A protocol without an envelope returns :data:`EVENT`
    #: from :meth:`classify` instead.
    event_payload: Optional[Callable[[Dict[str, Any]], Any]] = None

    def heartbeat_frame(self) -> Optional[Dict[str, Any]]:
        """The application heartbeat to send now, or ``None`` (WebSocket pings only).

        Called by the watchdog once per announced heartbeat interval (see
        :attr:`Inbound.interval_ms`) while the link is up. The answer (an ACK)
        comes back through :meth:`classify`, typically as ``CONTROL`` with
        ``heartbeat=True``; a link that stops answering goes stale and is
        reconnected.
        """
        return None

    def closed(self, code: Optional[int], reason: str) -> None:
        """The connection ended: ``code`` is the peer's close code (None: no close frame).

        Called once for every connection :meth:`opened` was called for (a
        handshake that failed with :class:`Reconnect` included), before the
        backoff; not when the end is already final.

        Raises:
            AuthenticationError, ConnectionLost: do not reconnect (official
                4004 repeated, 4914, 4915 ...).
        """
