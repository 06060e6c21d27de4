"""FakeOneBot in the modes where the *implementation* connects to the bot.

:class:`ReverseClient` dials a bot's reverse-WebSocket URL the way NapCat or
go-cqhttp do (``X-Self-ID``, ``X-Client-Role``, ``Authorization``), reconnects
when the connection ends, and runs every API request it receives through the
FakeOneBot's own action machinery (so faults such as ``delay``, ``stall`` and
``fail_next`` apply, and calls are recorded in ``onebot.calls``). While
connected it is one of the FakeOneBot's WebSocket connections: events
(``push_event``, ``emit_*``), ``send_garbage``, ``drop_connections``,
``close_connections`` and ``half_open`` all reach it.

:class:`WebhookPoster` POSTs every event the FakeOneBot emits to a URL, in
order, signed with ``X-Signature`` when a secret is set, and retries a post
whose answer did not arrive (connection error or timeout), as go-cqhttp does
(``max-retries`` 3, ``retries-interval``). A quick operation in the answer
(``reply``, ``delete``, ``kick``, ``ban``, ``approve`` ...) is carried out like a
real implementation would (:meth:`FakeOneBot.quick_operation`).

Use them through :meth:`FakeOneBot.connect_reverse` and
:meth:`FakeOneBot.post_events`; they stop with the FakeOneBot.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import http.client
import itertools
import json
import logging
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Deque, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

import websocket

from ..transport.wsserver import OP_BINARY, OP_TEXT, WebSocketClosed

if TYPE_CHECKING:
    from .onebot import FakeOneBot

__all__ = ["ReverseClient", "WebhookPoster"]

log = logging.getLogger(__name__)

_ids = itertools.count(1)


class _ClientSocket:
    """The ``ServerWebSocket`` surface FakeOneBot uses, over a websocket-client socket."""

    def __init__(self, ws: websocket.WebSocket, frozen: threading.Event, closed: threading.Event) -> None:
        self._ws = ws
        self._frozen = frozen
        self._closed = closed

    def send(self, opcode: int, payload: bytes) -> None:
        if self._frozen.is_set():
            return
        if self._closed.is_set():
            raise WebSocketClosed(1006, "closed")
        try:
            ws_opcode = websocket.ABNF.OPCODE_BINARY if opcode == OP_BINARY else websocket.ABNF.OPCODE_TEXT
            self._ws.send(payload, opcode=ws_opcode)
        except Exception as exc:  # any send failure: the connection is gone
            raise WebSocketClosed(1006, str(exc)) from exc

    def send_text(self, text: str) -> None:
        self.send(OP_TEXT, text.encode("utf-8"))

    def send_close(self, code: int = 1000, reason: str = "") -> bool:
        try:
            self._ws.send_close(code, reason.encode("utf-8"))
        except Exception:  # already gone
            self.abort()
        return True

    def wait_closed(self, timeout: Optional[float] = None) -> bool:
        return self._closed.wait(timeout)

    def abort(self) -> None:
        self._closed.set()
        sock = getattr(self._ws, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _ReverseConn:
    """What FakeOneBot keeps per WebSocket connection, for a connection we dialled."""

    def __init__(self, ws: websocket.WebSocket, role: str) -> None:
        self.id = f"r{next(_ids)}"
        self.closed = threading.Event()
        self.frozen = threading.Event()
        self.ws = _ClientSocket(ws, self.frozen, self.closed)
        self.path = "reverse"
        self.events = role in ("universal", "event")
        self.api = role in ("universal", "api")
        self.muted = False  # FakeOneBot.mute_events(): no more events, API still answered

    def abort(self) -> None:
        self.ws.abort()

    def send_json(self, obj: Any) -> None:
        try:
            self.ws.send_text(json.dumps(obj, ensure_ascii=False))
        except WebSocketClosed:
            pass


class ReverseClient:
    """One reverse-WebSocket link from a FakeOneBot to a bot (see the module docs).

    Args:
        onebot: the FakeOneBot whose account and actions this link carries.
        url: the bot's ``listen=`` URL.
        role: ``X-Client-Role`` as sent (``"Universal"``, ``"API"``, ``"Api"``, ``"Event"``).
        self_id: ``X-Self-ID``; default the FakeOneBot's; ``""`` or None sends none.
        access_token: sent as ``<auth_scheme> <token>`` (None: no header).
        auth_scheme: ``"Bearer"`` (NapCat, spec) or ``"Token"`` (go-cqhttp);
            ``"query"`` sends ``?access_token=`` instead.
        reconnect_interval: seconds between connection attempts.
    """

    def __init__(
        self,
        onebot: "FakeOneBot",
        url: str,
        *,
        role: str = "Universal",
        self_id: Any = "default",
        access_token: Optional[str] = None,
        auth_scheme: str = "Bearer",
        reconnect_interval: float = 0.05,
    ) -> None:
        self.onebot = onebot
        self.url = url
        self.role = role
        self.self_id = onebot.self_id if self_id == "default" else self_id
        self.access_token = access_token
        self.auth_scheme = auth_scheme
        self.reconnect_interval = reconnect_interval
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._conn: Optional[_ReverseConn] = None
        self.connects = 0
        self.refusals: List[int] = []  # HTTP statuses of refused handshakes
        self.close_codes: List[Optional[int]] = []

    # -- control ------------------------------------------------------------

    def start(self) -> "ReverseClient":
        if self.onebot._spawn(f"fakeonebot:reverse:{id(self):x}", self._loop) is None:
            raise RuntimeError("the FakeOneBot is stopped")
        return self

    def stop(self) -> None:
        """Close the link for good (the thread ends; FakeOneBot.stop joins it)."""
        self._stop.set()
        self._drop()

    def pause(self) -> None:
        """Drop the link and stay away until :meth:`resume` (an outage)."""
        self._paused.set()
        self._drop()

    def resume(self) -> None:
        self._paused.clear()
        with self._cond:
            self._cond.notify_all()

    def drop(self) -> None:
        """Drop the link abruptly (no close frame); it reconnects."""
        self._drop()

    def _drop(self) -> None:
        with self._cond:
            conn = self._conn
            self._cond.notify_all()
        if conn is not None:
            conn.abort()

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def wait_connects(self, n: int, timeout: float = 5.0) -> None:
        """Block until the link has connected ``n`` times in total."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.connects >= n, timeout):
                raise TimeoutError(f"reverse link connected {self.connects} time(s) in {timeout}s, expected {n}")

    def wait_refusals(self, n: int, timeout: float = 5.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.refusals) >= n, timeout):
                raise TimeoutError(f"{len(self.refusals)} refusal(s) in {timeout}s, expected {n}")

    # -- the link thread ----------------------------------------------------

    def _headers(self) -> Tuple[str, List[str]]:
        url = self.url
        headers = [f"X-Client-Role: {self.role}"]
        if self.self_id not in (None, ""):
            headers.append(f"X-Self-ID: {self.self_id}")
        if self.access_token is not None:
            if self.auth_scheme == "query":
                url += ("&" if "?" in url else "?") + f"access_token={self.access_token}"
            else:
                headers.append(f"Authorization: {self.auth_scheme} {self.access_token}")
        return url, headers

    def _should_run(self) -> bool:
        return not self._stop.is_set() and not self.onebot._stop_event.is_set()

    def _wait(self, seconds: float) -> None:
        with self._cond:
            self._cond.wait(seconds)

    def _loop(self) -> None:
        while self._should_run():
            if self._paused.is_set():
                with self._cond:
                    self._cond.wait_for(lambda: not self._paused.is_set() or not self._should_run(), 0.1)
                continue
            url, headers = self._headers()
            ws = websocket.WebSocket(enable_multithread=True, skip_utf8_validation=True)
            try:
                ws.connect(url, header=headers, timeout=2.0, suppress_origin=True)
            except websocket.WebSocketBadStatusException as exc:
                with self._cond:
                    self.refusals.append(int(getattr(exc, "status_code", 0) or 0))
                    self._cond.notify_all()
                self._wait(self.reconnect_interval)
                continue
            except (OSError, websocket.WebSocketException, ValueError):
                self._wait(self.reconnect_interval)
                continue
            ws.settimeout(None)
            self._serve(ws)
            self._wait(self.reconnect_interval)

    def _serve(self, ws: websocket.WebSocket) -> None:
        conn = _ReverseConn(ws, self.role.lower())
        onebot = self.onebot
        with onebot._cond:
            if onebot._stopping:
                ws.shutdown()
                return
            onebot._conns.add(conn)  # type: ignore[arg-type]
            onebot._ws_conns.append(conn)  # type: ignore[arg-type]
            onebot._total_connections += 1
            if conn.events and onebot.send_lifecycle:
                conn.send_json(onebot._meta_event("lifecycle", sub_type="connect"))
            onebot._cond.notify_all()
        with self._cond:
            self._conn = conn
            self.connects += 1
            self._cond.notify_all()
        if self._paused.is_set() or not self._should_run():
            conn.abort()
        code: Optional[int] = None
        try:
            while True:
                try:
                    # recv_frame, not recv_data: no automatic pong, so half_open() silences pings too.
                    frame = ws.recv_frame()
                except Exception:  # EOF, reset, abort: the link is over
                    break
                if conn.frozen.is_set():
                    continue  # half-open: read and ignore everything until the bot hangs up
                opcode, data = frame.opcode, frame.data
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                    try:
                        ws.send_close(code or 1000)
                    except Exception:  # already gone
                        pass
                    break
                if opcode == websocket.ABNF.OPCODE_PING:
                    try:
                        ws.pong(data)
                    except Exception:  # already gone
                        break
                    continue
                if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY) and conn.api:
                    onebot._on_ws_request(conn, data)  # type: ignore[arg-type]
        finally:
            conn.closed.set()
            with onebot._cond:
                onebot._conns.discard(conn)  # type: ignore[arg-type]
                if conn in onebot._ws_conns:
                    onebot._ws_conns.remove(conn)  # type: ignore[arg-type]
                onebot._cond.notify_all()
            with self._cond:
                self._conn = None
                self.close_codes.append(code)
                self._cond.notify_all()
            try:
                ws.shutdown()
            except Exception:  # nothing left to close
                pass


class WebhookPoster:
    """POSTs a FakeOneBot's events to a bot's HTTP POST endpoint (see the module docs).

    Args:
        onebot: the FakeOneBot whose events are posted.
        url: the bot's ``listen=`` URL.
        secret: signs each body: ``X-Signature: sha1=<hmac-sha1 hex>``.
        timeout: seconds to wait for an answer before the post counts as failed.
        retries: extra attempts after a failed post (go-cqhttp: 3).
        retry_interval: seconds between attempts (go-cqhttp: 1.5).
    """

    def __init__(
        self,
        onebot: "FakeOneBot",
        url: str,
        *,
        secret: Optional[str] = None,
        timeout: float = 5.0,
        retries: int = 3,
        retry_interval: float = 0.05,
    ) -> None:
        parts = urlsplit(url)
        self.onebot = onebot
        self.url = url
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.secret = secret
        self.timeout = timeout
        self.retries = retries
        self.retry_interval = retry_interval
        self._cond = threading.Condition()
        self._queue: Deque[bytes] = collections.deque()
        self._busy = False
        self._stop = threading.Event()
        self._lose = 0
        self.attempts = 0
        self.delivered = 0
        self.given_up = 0
        self.statuses: List[int] = []
        self.latencies: List[float] = []
        self.quick_answers: List[Tuple[Dict[str, Any], Dict[str, Any]]] = []

    def start(self) -> "WebhookPoster":
        if self.onebot._spawn(f"fakeonebot:webhook:{id(self):x}", self._loop) is None:
            raise RuntimeError("the FakeOneBot is stopped")
        return self

    def stop(self) -> None:
        """Stop posting (events from now on are not posted); the thread ends."""
        with self.onebot._lock:
            if self.enqueue in self.onebot._event_sinks:
                self.onebot._event_sinks.remove(self.enqueue)
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def lose_responses(self, n: int = 1) -> None:
        """The next ``n`` posts are sent but their answers are never read: each
        counts as a timeout and is posted again (go-cqhttp's duplicate)."""
        with self._cond:
            self._lose += n

    def enqueue(self, text: str) -> None:
        """Called by FakeOneBot.push_event with each event's JSON text."""
        with self._cond:
            self._queue.append(text.encode("utf-8"))
            self._cond.notify_all()

    def post_raw(self, body: bytes, headers: Optional[Dict[str, str]] = None) -> Tuple[int, bytes]:
        """One POST with exactly these bytes and headers (no signing, no retry)."""
        return self._post(body, dict(headers or {}), lose=False)

    def wait_idle(self, timeout: float = 5.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: not self._queue and not self._busy, timeout):
                raise TimeoutError(f"{len(self._queue)} event(s) still to post after {timeout}s")

    def sign(self, body: bytes) -> str:
        assert self.secret is not None
        return "sha1=" + hmac.new(self.secret.encode("utf-8"), body, hashlib.sha1).hexdigest()

    def _running(self) -> bool:
        return not self._stop.is_set() and not self.onebot._stop_event.is_set()

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
                while not self._queue and self._running():
                    self._cond.wait(0.1)
                if not self._running():
                    return
                body = self._queue.popleft()
                self._busy = True
            self._deliver(body)

    def _deliver(self, body: bytes) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "CQHttp/4.15.0"}
        try:
            headers["X-Self-ID"] = str(json.loads(body).get("self_id", ""))
        except ValueError:
            pass
        if self.secret:
            headers["X-Signature"] = self.sign(body)
        for attempt in range(self.retries + 1):
            if not self._running():
                return
            with self._cond:
                lose = self._lose > 0
                if lose:
                    self._lose -= 1
            try:
                status, answer = self._post(body, headers, lose=lose)
            except (OSError, http.client.HTTPException) as exc:
                log.debug("webhook post attempt %d failed: %s", attempt + 1, exc)
                self.onebot._stop_event.wait(self.retry_interval)
                continue
            self.statuses.append(status)
            self.delivered += 1
            if status == 200 and answer.strip():
                self._quick(body, answer)
            return
        self.given_up += 1

    def _post(self, body: bytes, headers: Dict[str, str], *, lose: bool) -> Tuple[int, bytes]:
        self.attempts += 1
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            started = time.monotonic()
            conn.request("POST", self.path, body=body, headers=headers)
            if lose:
                raise socket.timeout("answer lost (fault injected)")
            response = conn.getresponse()
            data = response.read()
            self.latencies.append(time.monotonic() - started)
            return response.status, data
        finally:
            conn.close()

    def _quick(self, body: bytes, answer: bytes) -> None:
        try:
            event, operation = json.loads(body), json.loads(answer)
        except ValueError:
            return
        if not isinstance(operation, dict):
            return
        self.quick_answers.append((event, operation))
        if isinstance(event, dict):
            self.onebot.quick_operation(event, operation)
