"""FakeOneBot: a real OneBot v11 server on localhost, with faults on demand.

One TCP port serves the HTTP API and the three forward-WebSocket paths
(``/`` universal, ``/api``, ``/event``). Each accepted connection gets a
thread that reads the request head and routes it: an upgrade becomes a
WebSocket, anything else is an HTTP API request (keep-alive supported).
Every WebSocket API request runs on a worker thread of its own, so a delayed
or stalled action never holds up other calls or event delivery; replies may
therefore leave out of order, as with go-cqhttp.

The server keeps what a test wants to assert on: every call received
(:attr:`FakeOneBot.calls`), every message really delivered
(:attr:`FakeOneBot.sent_messages`) and a per-chat message history that the
history actions also serve. Faults (:meth:`FakeOneBot.drop_connections`,
:meth:`FakeOneBot.half_open`, :meth:`FakeOneBot.down`,
:meth:`FakeOneBot.delay`, :meth:`FakeOneBot.stall`,
:meth:`FakeOneBot.fail_next`, :meth:`FakeOneBot.script`,
:meth:`FakeOneBot.drop_after`, :meth:`FakeOneBot.disable_actions`,
:meth:`FakeOneBot.risk_control`, :meth:`FakeOneBot.set_account_online` …) can be
switched on at any time from the test thread. See ``docs/testing.md`` for a guide.

Threads are all named ``fakeonebot:…``, wait on sockets or events that
:meth:`FakeOneBot.stop` interrupts, and are joined by it with a timeout.
"""

from __future__ import annotations

import collections
import copy
import hmac
import itertools
import json
import logging
import random
import re
import selectors
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Optional, Set, Tuple, Union
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from .onebot_reverse import ReverseClient, WebhookPoster

from ..transport.wsserver import (
    OP_BINARY,
    OP_TEXT,
    HandshakeError,
    RequestHead,
    WebSocketClosed,
    accept_websocket,
    send_http_response,
)
from ._server import _CLOSE_TIMEOUT, FailRule, FakeServer, FaultPlan, FaultRules, _BaseConn, _Rule, carry_out, read_body
from .media import MediaHost
from .outbound import SentMedia

__all__ = ["FakeOneBot", "FakeActionError", "DEFAULT_FAIL_MESSAGE"]

log = logging.getLogger(__name__)

DEFAULT_FAIL_MESSAGE = (
    "Timeout: NTEvent serviceAndMethod:NodeIKernelMsgService/sendMsg "
    "ListenerName:NodeIKernelMsgListener/onMsgInfoListUpdate "
    'EventRet: {"result": 0, "errMsg": ""}'
)
"""The ``message`` NapCat answers when the QQ kernel did not confirm a send in time."""

_INT32_MAX = 2**31 - 1
_MAX_BODY = 64 * 1024 * 1024
_WORKER_IDLE = 5.0  # seconds an idle WebSocket call worker waits for the next call
_AUTH_FAILED_FRAME = {
    "status": "failed",
    "retcode": 1403,
    "data": None,
    "message": "token验证失败",
    "wording": "token验证失败",
    "echo": None,
}
# Actions that only have an effect on a real QQ account: accepted, recorded, answered with null.
_NOOP_ACTIONS = (
    "send_like",
    "set_group_kick",
    "set_group_ban",
    "set_group_whole_ban",
    "set_group_admin",
    "set_group_card",
    "set_group_name",
    "set_group_leave",
    "set_group_special_title",
    "set_friend_add_request",
    "set_group_add_request",
    "mark_msg_as_read",
)

MessageInput = Union[str, Dict[str, Any], List[Dict[str, Any]]]
ActionHandler = Callable[[Dict[str, Any]], Any]


class FakeActionError(Exception):
    """Raise from a :meth:`FakeOneBot.set_action` handler to answer with a failure.

    Args:
        retcode: the ``retcode`` of the answer (non-zero). NapCat's catch-all
            ``1200`` is answered ``200`` over HTTP, as NapCat and LLOneBot do.
        message: the ``message`` of the answer.
        wording: the ``wording`` (defaults to ``message``).
        data: the ``data`` of the answer (usually None).
    """

    def __init__(self, retcode: int, message: str = "", wording: Optional[str] = None, data: Any = None) -> None:
        super().__init__(f"retcode {retcode}: {message}")
        self.retcode = retcode
        self.message = message
        self.wording = message if wording is None else wording
        self.data = data


class _BadParams(Exception):
    """Parameters missing or of the wrong type: 1400 over WebSocket, 400 over HTTP (NapCat)."""


def _transport_retcode(retcode: int, transport: str) -> int:
    """NapCat and LLOneBot answer their catch-all failure with retcode 1200 over a
    WebSocket and 200 over HTTP: the same failure, told apart by transport."""
    if retcode == 1200 and transport == "http":
        return 200
    return retcode


# Suffixes go-cqhttp, NapCat and LLOneBot accept on every action (OneBot v11):
# run the action, answer {"status": "async", "retcode": 1} without its result.
_ACTION_SUFFIXES = ("_async", "_rate_limited")


# --------------------------------------------------------------------------- CQ codes


_CQ_CODE = re.compile(r"\[CQ:([A-Za-z0-9_.\-]+)((?:,[^,\]]*)*)\]")


def _cq_unescape(text: str) -> str:
    return text.replace("&#44;", ",").replace("&#91;", "[").replace("&#93;", "]").replace("&amp;", "&")


def _cq_escape(text: str, *, comma: bool = False) -> str:
    text = text.replace("&", "&amp;").replace("[", "&#91;").replace("]", "&#93;")
    return text.replace(",", "&#44;") if comma else text


def _cq_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def parse_cq(text: str) -> List[Dict[str, Any]]:
    """Split a CQ-code string into array-form segments (values unescaped, kept as strings)."""
    segments: List[Dict[str, Any]] = []
    pos = 0
    for match in _CQ_CODE.finditer(text):
        if match.start() > pos:
            segments.append({"type": "text", "data": {"text": _cq_unescape(text[pos : match.start()])}})
        data: Dict[str, Any] = {}
        for part in match.group(2).split(",")[1:]:
            key, _, value = part.partition("=")
            data[key] = _cq_unescape(value)
        segments.append({"type": match.group(1), "data": data})
        pos = match.end()
    if pos < len(text):
        segments.append({"type": "text", "data": {"text": _cq_unescape(text[pos:])}})
    return segments


def render_cq(segments: List[Dict[str, Any]]) -> str:
    """Render array-form segments as a CQ-code string (escaped as OneBot does)."""
    out: List[str] = []
    for segment in segments:
        kind = segment.get("type")
        data = segment.get("data") or {}
        if kind == "text":
            out.append(_cq_escape(str(data.get("text", ""))))
        else:
            params = "".join(
                f",{key}={_cq_escape(_cq_value(value), comma=True)}" for key, value in data.items() if value is not None
            )
            out.append(f"[CQ:{kind}{params}]")
    return "".join(out)


def _normalize_message(message: Any, auto_escape: bool = False) -> List[Dict[str, Any]]:
    """Any accepted ``message`` value → a fresh list of array-form segments."""
    if isinstance(message, str):
        if auto_escape:
            segments = [{"type": "text", "data": {"text": message}}] if message else []
        else:
            segments = parse_cq(message)
    elif isinstance(message, dict):
        segments = [message]
    elif isinstance(message, list):
        segments = message
    else:
        raise _BadParams("message must be a string, a segment or a list of segments")
    result: List[Dict[str, Any]] = []
    for segment in segments:
        if not isinstance(segment, dict) or not isinstance(segment.get("type"), str):
            raise _BadParams("every message segment needs a string 'type'")
        data = segment.get("data")
        if data is not None and not isinstance(data, dict):
            raise _BadParams("segment 'data' must be an object")
        result.append({"type": segment["type"], "data": copy.deepcopy(data) if data else {}})
    if not result:
        raise _BadParams("message is empty")
    return result


# --------------------------------------------------------------------------- parameters


def _int_param(params: Dict[str, Any], name: str, default: Optional[int] = None, *, required: bool = True) -> int:
    value = params.get(name)
    if value is None or value == "":
        if default is not None or not required:
            return default if default is not None else 0
        raise _BadParams(f"missing parameter {name}")
    if isinstance(value, bool):
        raise _BadParams(f"{name} must be a number")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _BadParams(f"{name} must be a number, not {value!r}") from None


def _bool_param(params: Dict[str, Any], name: str, default: bool = False) -> bool:
    value = params.get(name, default)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _ok(data: Any) -> Dict[str, Any]:
    return {"status": "ok", "retcode": 0, "data": data, "message": "", "wording": ""}


def _failed(retcode: int, message: str, wording: Optional[str] = None, data: Any = None) -> Dict[str, Any]:
    return {
        "status": "failed",
        "retcode": retcode,
        "data": data,
        "message": message,
        "wording": message if wording is None else wording,
    }


# --------------------------------------------------------------------------- connections


class _Conn(_BaseConn):
    """One accepted TCP connection (HTTP, then possibly a WebSocket)."""

    def __init__(self, conn_id: int, sock: socket.socket, peer: Any) -> None:
        super().__init__(conn_id, sock)
        self.peer = peer
        self.events = False
        self.api = False
        self.muted = False  # zombie: no more events on this connection, API still answered


@dataclass
class _Failure:
    """What a :meth:`FakeOneBot.fail_next` failure answers."""

    retcode: int
    message: str
    wording: Optional[str]


@dataclass
class _Plan:
    action: str
    params: Dict[str, Any]
    echo: Any
    has_echo: bool
    transport: str
    faults: FaultPlan[_Failure]  # drop: True executes, then drops the connection; False just drops
    record: Optional[Dict[str, Any]] = None  # the entry in FakeOneBot.calls


# --------------------------------------------------------------------------- the server


class FakeOneBot(FakeServer):
    """A real OneBot v11 implementation on localhost for tests, with faults on demand.

    The HTTP API and the forward-WebSocket paths share one port. Use it as a
    context manager, or call :meth:`start` and :meth:`stop`::

        with FakeOneBot(heartbeat_interval=0.5) as onebot:
            bot = Bot(onebot.ws_url)
            ...
            onebot.emit_group_message(123, 456, "ping")
            onebot.wait_for_call("send_group_msg")

    Every public method is thread-safe.

    Args:
        host: interface to bind.
        port: TCP port; 0 picks a free one (see :attr:`port` after :meth:`start`).
        access_token: when set, every HTTP request and WebSocket upgrade must
            carry it (``Authorization: Bearer <token>`` or ``?access_token=``).
        auth_style: how a bad token is refused on a WebSocket. ``"http"``
            (go-cqhttp): 401 when missing, 403 when wrong, before the upgrade.
            ``"frame"`` (NapCat, LLOneBot): the upgrade succeeds, one frame with
            ``retcode 1403`` is sent, then the connection is closed. The HTTP
            API answers 401/403 (``"http"``) or 403 for both (``"frame"``).
        self_id: the bot's QQ number.
        nickname: the bot's nickname.
        heartbeat_interval: seconds between heartbeat events on every
            event-capable connection; None sends none. The event's
            ``interval`` field is in milliseconds.
        report_self_messages: emit a ``message_sent`` event for every message
            the bot sends (NapCat ``reportSelfMessage``), carrying the same
            ``message_id`` as the send's answer. May be changed at any time.
            :attr:`self_report_delay` (seconds, default 0) makes them late.
        message_format: ``"array"`` or ``"string"``: the form of ``message`` in
            emitted events, ``get_msg`` and the history actions.
        app_name: ``app_name`` of ``get_version_info``.
        app_version: ``app_version`` of ``get_version_info``.
    """

    #: Send ``meta_event.lifecycle.connect`` on each new event connection. Some
    #: implementations (and NapCat after an auto-update) do not: set it False
    #: to test a bot that must not depend on it (faults.md LIVE-01).
    send_lifecycle: bool = True

    NAME = "FakeOneBot"
    THREAD_PREFIX = "fakeonebot"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_token: Optional[str] = None,
        auth_style: str = "http",
        self_id: int = 10001,
        nickname: str = "FakeBot",
        heartbeat_interval: Optional[float] = None,
        report_self_messages: bool = False,
        message_format: str = "array",
        app_name: str = "FakeOneBot",
        app_version: str = "1.0",
    ) -> None:
        if auth_style not in ("http", "frame"):
            raise ValueError(f"auth_style must be 'http' or 'frame', not {auth_style!r}")
        if message_format not in ("array", "string"):
            raise ValueError(f"message_format must be 'array' or 'string', not {message_format!r}")
        if heartbeat_interval is not None and heartbeat_interval <= 0:
            raise ValueError("heartbeat_interval must be positive (or None for no heartbeats)")
        self._init_server(host, port)
        self.access_token = access_token or None
        self.auth_style = auth_style
        self.self_id = int(self_id)
        self.nickname = nickname
        self.heartbeat_interval = heartbeat_interval
        self.report_self_messages = report_self_messages
        self.message_format = message_format
        self.app_name = app_name
        self.app_version = app_version

        # WebSocket call workers (_hand_off): jobs handed to idle workers.
        self._pool_lock = threading.Lock()
        self._pool_cond = threading.Condition(self._pool_lock)
        self._jobs: Deque[Tuple[_Conn, _Plan]] = collections.deque()
        self._idle_workers = 0
        self._worker_seq = 0

        self._calls: List[Dict[str, Any]] = []
        self._call_counts: Counter[str] = Counter()  # calls received
        self._settled_counts: Counter[str] = Counter()  # calls whose effects are all visible
        self._last_call: Dict[str, Dict[str, Any]] = {}  # the latest settled call per action
        self._last_arrived: Dict[str, Dict[str, Any]] = {}  # the latest received call per action
        self._faults: FaultRules[_Failure, ActionHandler] = FaultRules()  # delay, stall, fail_next, set_action
        # send faults (script, disable_actions, risk_control, set_account_online)
        self._scripts: Dict[str, List[Tuple[str, float]]] = {}
        self._disabled: Set[str] = set()
        self._risk: Dict[Tuple[str, Optional[int]], Optional[int]] = {}
        self._account_online = True
        self._status_online = True
        self.self_report_delay = 0.0

        self._message_id = random.randint(100_000, 1_000_000_000)
        self._seq: Dict[Tuple[str, int], int] = {}
        self._history: Dict[Tuple[str, int], List[Dict[str, Any]]] = {}
        self._by_id: Dict[int, Dict[str, Any]] = {}
        self._sent: List[Dict[str, Any]] = []
        self._groups: Dict[int, str] = {}
        self._members: Dict[int, Dict[int, Dict[str, Any]]] = {}
        self._friends: Dict[int, Dict[str, Any]] = {}
        self._started_at = int(time.time())
        self._event_sinks: List[Callable[[str], None]] = []  # HTTP POST posters (testing/reverse.py)

        self._builtin: Dict[str, ActionHandler] = {
            "get_login_info": self._act_get_login_info,
            "get_version_info": self._act_get_version_info,
            "get_status": self._act_get_status,
            "send_msg": self._act_send_msg,
            "send_group_msg": self._act_send_group_msg,
            "send_private_msg": self._act_send_private_msg,
            "send_group_forward_msg": self._act_send_group_forward_msg,
            "delete_msg": self._act_delete_msg,
            "get_msg": self._act_get_msg,
            "get_group_msg_history": self._act_get_group_msg_history,
            "get_friend_msg_history": self._act_get_friend_msg_history,
            "get_group_info": self._act_get_group_info,
            "get_group_list": self._act_get_group_list,
            "get_friend_list": self._act_get_friend_list,
            "get_stranger_info": self._act_get_stranger_info,
            "get_group_member_info": self._act_get_group_member_info,
            "get_group_member_list": self._act_get_group_member_list,
            "can_send_image": lambda params: {"yes": True},
            ".handle_quick_operation": self._act_handle_quick_operation,
            "can_send_record": lambda params: {"yes": True},
        }
        for name in _NOOP_ACTIONS:
            self._builtin[name] = lambda params: None
        self._builtin["set_group_kick"] = self._act_set_group_kick
        self._builtin["set_group_ban"] = self._act_set_group_ban
        self._forward_ids = itertools.count(1)
        self.media = MediaHost(self)
        """Image hosting and get_image faults: see :mod:`qqreliable.testing.media`."""
        media_actions = self.media.actions()
        self._builtin.update(media_actions)
        # Built-in actions answered at once, on the connection's thread (see _on_ws_request):
        # not a send (it may fetch media), not a quick operation (it runs sends), not a
        # media action (get_image and friends wait out their set_api_mode delays).
        self._quick_actions = frozenset(
            name for name in self._builtin
            if not name.startswith("send_") and name != ".handle_quick_operation" and name not in media_actions
        )
        self.sent_media = SentMedia(self)
        """Media the bot sends: forms received, and implementation-side media faults
        (another container, voice conversion, rich media upload, request size): see
        :mod:`qqreliable.testing.outbound`."""

    # ------------------------------------------------------------------ URLs

    @property
    def ws_url(self) -> str:
        """The universal WebSocket (events and API), ``ws://127.0.0.1:<port>/``."""
        return f"ws://{self._url_host}:{self.port}/"

    @property
    def api_ws_url(self) -> str:
        """The API-only WebSocket, ``ws://127.0.0.1:<port>/api``."""
        return f"ws://{self._url_host}:{self.port}/api"

    @property
    def event_ws_url(self) -> str:
        """The events-only WebSocket, ``ws://127.0.0.1:<port>/event``."""
        return f"ws://{self._url_host}:{self.port}/event"

    # ------------------------------------------------------------------ lifecycle

    def _on_started(self) -> None:
        if self.heartbeat_interval is not None:
            self._spawn(f"fakeonebot:heartbeat:{self.port}", self._heartbeat_loop)

    def _on_stopped(self) -> None:
        self.media.close()

    def _on_stopping(self) -> None:
        with self._pool_lock:
            self._pool_cond.notify_all()  # idle call workers leave

    def _new_conn(self, conn_id: int, sock: socket.socket, peer: Any) -> _Conn:
        return _Conn(conn_id, sock, peer)

    def __repr__(self) -> str:
        state = "stopped" if self._stopping else ("running" if self._started else "new")
        return f"<FakeOneBot {state} {self.url} self_id={self.self_id}>"

    def _heartbeat_loop(self) -> None:
        assert self.heartbeat_interval is not None
        while not self._stop_event.wait(self.heartbeat_interval):
            self.emit_heartbeat()

    # ------------------------------------------------------------------ connection handling

    def _auth_status(self, head: RequestHead) -> int:
        """0 when authorised, 401 when no token was given, 403 when a wrong one was.

        ``auth_style="http"`` (go-cqhttp) reads the token after any scheme
        (``Bearer x``, ``Token x``); ``"frame"`` (NapCat, LLOneBot) reads only
        ``Bearer x``, so ``Token x`` is a wrong token. Either way an empty
        ``Bearer`` is no token: the ``access_token`` query parameter is read
        instead, and a request with neither is refused as missing.
        """
        if not self.access_token:
            return 0
        header = (head.header("Authorization") or "").strip()
        token = ""
        if header:
            scheme, _, value = header.partition(" ")
            if self.auth_style == "frame" and scheme != "Bearer":
                token = header  # NapCat compares the whole header: never equal
            else:
                token = value.strip() if value.strip() or scheme.lower() in ("bearer", "token") else scheme
        if not token:
            token = head.query_value("access_token") or ""
        if not token:
            return 401
        return 0 if hmac.compare_digest(token.encode("utf-8"), self.access_token.encode("utf-8")) else 403

    # ---- WebSocket

    def _serve_websocket(self, conn: _Conn, head: RequestHead, buffer: bytearray) -> None:
        path = head.path.rstrip("/")
        if path not in ("", "/api", "/event"):
            send_http_response(conn.io, 404, f"no WebSocket endpoint at {head.path}")
            return
        auth = self._auth_status(head)
        if auth and self.auth_style == "http":
            headers = {"Content-Type": "application/json; charset=utf-8"}
            if auth == 401:
                headers["WWW-Authenticate"] = "Bearer"
            body = _failed(1401 if auth == 401 else 1403, "token verify failed")
            send_http_response(conn.io, auth, json.dumps(body), headers=headers)
            return
        conn.events = not auth and path in ("", "/event")
        conn.api = not auth and path in ("", "/api")
        conn.path = path or "/"
        # The 101 answer and the registration happen under one lock: once the
        # client sees its handshake complete, events and faults reach it.
        with self._cond:
            if self._stopping or conn.closed.is_set():  # aborted by stop()/down()
                return
            try:
                ws = accept_websocket(conn.io, head, buffered=bytes(buffer), close_timeout=_CLOSE_TIMEOUT,
                                      max_message_size=self.sent_media.max_message_size)
            except HandshakeError as exc:
                log.debug("bad upgrade on connection %s: %s", conn.id, exc)
                return
            buffer.clear()
            conn.ws = ws
            self._total_connections += 1
            if not auth:
                self._ws_conns.append(conn)
                if conn.events and self.send_lifecycle:
                    # Under the lock: no event can overtake the lifecycle event on this connection.
                    conn.send_json(self._meta_event("lifecycle", sub_type="connect"))
            self._cond.notify_all()
        if auth:  # NapCat style: accept, say why in one frame, close.
            try:
                ws.send_text(json.dumps(_AUTH_FAILED_FRAME, ensure_ascii=False))
                ws.close(None, timeout=1.0)
            except WebSocketClosed:
                pass
            return
        log.debug("websocket connection %s on %s", conn.id, conn.path)
        while True:
            try:
                _, payload = ws.recv()
            except WebSocketClosed:
                return
            if conn.api:
                self._on_ws_request(conn, payload)

    def _on_ws_request(self, conn: _Conn, payload: bytes) -> None:
        try:
            request = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            conn.send_json(dict(_failed(1400, "json解析失败,请检查数据格式"), echo=None))
            return
        echo = request.get("echo") if isinstance(request, dict) else None
        if not isinstance(request, dict) or not isinstance(request.get("action"), str):
            conn.send_json(dict(_failed(1400, "请求缺少 action"), echo=echo))
            return
        params = request.get("params")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            conn.send_json(dict(_failed(1400, "params 必须是对象"), echo=echo))
            return
        plan = self._admit(request["action"], params, echo, "echo" in request, "ws")
        if plan.faults.empty and plan.action in self._quick_actions and self._faults.handler(plan.action) is None:
            self._ws_call(conn, plan)  # a quick built-in answer: given on this thread
        else:
            self._hand_off(conn, plan)

    # A WebSocket call that may take time runs on a thread of its own, so that a stalled
    # or delayed call never holds up the next: one with a fault, one with a custom
    # handler (the test's code), one not among _quick_actions (a send, a quick operation,
    # a media action; an unknown action too, answered "unsupported"). The threads are kept for
    # the next calls (idle for at most _WORKER_IDLE s) rather than started per call:
    # starting a thread cost more than answering the call. Any other call is a quick
    # built-in answer, given on the connection's thread: handing it to a worker cost
    # more (a thread wake-up per call) than answering it.

    def _hand_off(self, conn: _Conn, plan: _Plan) -> None:
        """Run ``plan`` on an idle call worker, or a new one when none is idle."""
        with self._pool_lock:
            if self._stopping:
                return
            if self._idle_workers:
                self._idle_workers -= 1
                self._jobs.append((conn, plan))
                self._pool_cond.notify()
                return
            self._worker_seq += 1
            number = self._worker_seq
        self._spawn(f"fakeonebot:call-worker:{number}", self._call_worker, conn, plan)

    def _call_worker(self, conn: _Conn, plan: _Plan) -> None:
        job: Optional[Tuple[_Conn, _Plan]] = (conn, plan)
        while job is not None:
            self._ws_call(*job)
            job = None
            with self._pool_lock:
                if self._stopping:
                    return
                self._idle_workers += 1
                deadline = time.monotonic() + _WORKER_IDLE
                while not self._jobs and not self._stopping:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._pool_cond.wait(remaining)
                if self._jobs:
                    job = self._jobs.popleft()  # counted out of the idle ones by _hand_off
                else:
                    self._idle_workers -= 1  # idle too long, or stopping: leave

    def _ws_call(self, conn: _Conn, plan: _Plan) -> None:
        def wait(seconds: Optional[float]) -> bool:
            if seconds is None:
                conn.closed.wait()
                return False
            return not conn.closed.wait(seconds)

        result = self._run(plan, wait)
        if result is not None:
            conn.send_json(result[1])
        elif plan.faults.drop is not None:
            conn.abort()

    # ---- HTTP

    def _serve_http(self, conn: _Conn, head: RequestHead, buffer: bytearray) -> bool:
        """Answer one HTTP request; True when the connection stays open for the next one."""
        if self.media.handles(head):
            return self.media.serve(conn, head)
        json_headers = {"Content-Type": "application/json; charset=utf-8"}
        if head.header("Transfer-Encoding"):
            send_http_response(conn.io, 411, "only Content-Length bodies are supported")
            return False
        body = read_body(conn, head, buffer, _MAX_BODY,
                         refuse=lambda length: self.sent_media.refuse_body(conn, length, len(buffer)))
        if body is None:
            return False
        status, response = self._http_request(conn, head, body)
        if response is None:
            return False
        send_http_response(
            conn.io,
            status,
            json.dumps(response, ensure_ascii=False).encode("utf-8"),
            headers=json_headers,
            keep_alive=head.keep_alive,
        )
        return head.keep_alive

    def _http_request(self, conn: _Conn, head: RequestHead, body: bytes) -> Tuple[int, Optional[Dict[str, Any]]]:
        if head.method not in ("GET", "POST"):
            return 405, _failed(405, f"method {head.method} not allowed")
        auth = self._auth_status(head)
        if auth:
            if self.auth_style == "frame":
                auth = 403  # NapCat answers 403 to a missing token too
            return auth, _failed(auth, "token verify failed")
        params: Dict[str, Any] = {k: v[0] for k, v in head.query.items() if k != "access_token"}
        if body.strip():
            content_type = (head.header("Content-Type") or "").split(";")[0].strip().lower()
            if content_type == "application/x-www-form-urlencoded":
                form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
                params.update({k: v[0] for k, v in form.items()})
            else:
                try:
                    parsed = json.loads(body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    return 400, _failed(400, "Invalid JSON")
                if not isinstance(parsed, dict):
                    return 400, _failed(400, "the body must be a JSON object")
                params.update(parsed)
        action = head.path.strip("/")
        echo: Any = None
        has_echo = False
        if not action:
            if "action" not in params:
                return 200, dict(_ok(None), message=f"{self.app_name} is running")
            # go-cqhttp: POST / with {"action": ..., "params": {...}}
            action = str(params["action"])
            has_echo = "echo" in params
            echo = params.get("echo")
            inner = params.get("params")
            if inner is None:
                inner = {}
            if not isinstance(inner, dict):
                return 400, _failed(400, "params must be an object")
            params = inner
        plan = self._admit(action, params, echo, has_echo, "http")
        result = self._run(plan, lambda seconds: self._http_wait(conn, seconds))
        if result is None:
            return 0, None
        return result

    def _http_wait(self, conn: _Conn, seconds: Optional[float]) -> bool:
        """Hold an HTTP answer back; False when the client left or the server is closing.

        Waits on the socket itself, so a client that gives up (closes the
        connection) releases the thread at once instead of at stop().
        """
        deadline = None if seconds is None else time.monotonic() + seconds
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(conn.sock, selectors.EVENT_READ)
                while True:
                    if conn.closed.is_set():
                        return False
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return True
                    if not selector.select(remaining):
                        continue
                    if not conn.sock.recv(1, socket.MSG_PEEK):
                        return False  # EOF: the client is gone, or stop() shut the socket
                    break  # a pipelined request: the socket cannot signal us any more
        except (OSError, ValueError):
            return False
        if deadline is None:
            conn.closed.wait()
            return False
        return not conn.closed.wait(max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------------ calls and faults

    def _admit(self, action: str, params: Dict[str, Any], echo: Any, has_echo: bool, transport: str) -> _Plan:
        """Record a call and take the faults that apply to it, in arrival order."""
        with self._cond:
            record = {
                "action": action,
                "params": copy.deepcopy(params),
                "echo": echo,
                "transport": transport,
                "time": time.time(),
            }
            self._calls.append(record)
            self._call_counts[action] += 1
            self._last_arrived[action] = record
            self._cond.notify_all()
            faults = self._faults.take(action)
            if faults.empty and self._scripts.get(action):
                faults = self._script_step(action)
        return _Plan(action, params, echo, has_echo, transport, faults, record)

    def _settle(self, plan: _Plan) -> None:
        """The call has had every effect it will have before its answer: wake wait_for_call."""
        with self._cond:
            self._settled_counts[plan.action] += 1
            if plan.record is not None:
                self._last_call[plan.action] = plan.record
            self._cond.notify_all()

    def _run(self, plan: _Plan, wait: Callable[[Optional[float]], bool]) -> Optional[Tuple[int, Dict[str, Any]]]:
        """Carry out an admitted call; None when no answer is to be sent.

        The call is *settled* (see :meth:`wait_for_call`) once its effects are
        visible: right after it ran, or, when a fault means it will not run (or
        not before an indefinite wait), as soon as that is decided.
        """

        def failure(fail: _Failure) -> Tuple[int, Dict[str, Any]]:
            return 200, _failed(_transport_retcode(fail.retcode, plan.transport), fail.message, fail.wording)

        result = carry_out(plan.faults, lambda: self._execute(plan), failure, wait, lambda: self._settle(plan))
        if result is None:
            return None
        status, response = result
        if plan.has_echo:
            response["echo"] = plan.echo
        return status, response

    def _execute(self, plan: _Plan) -> Tuple[int, Dict[str, Any]]:
        """Run the action itself; returns (HTTP status, response body)."""
        ws = plan.transport == "ws"
        refusal = self._send_refusal(plan)
        if refusal is None:
            refusal = self.sent_media.check(plan)  # outbound media: forms and faults
        if refusal is not None:
            return refusal
        suffixed = False
        with self._lock:
            handler = self._faults.handler(plan.action) or self._builtin.get(plan.action)
            if handler is None:
                for suffix in _ACTION_SUFFIXES:
                    base = plan.action[: -len(suffix)] if plan.action.endswith(suffix) else ""
                    handler = (self._faults.handler(base) or self._builtin.get(base)) if base else None
                    if handler is not None:
                        suffixed = True
                        break
        if handler is None:
            if ws:
                return 200, _failed(1404, f"不支持的Api {plan.action}")
            return 404, _failed(404, "API_NOT_FOUND", f"没有找到API {plan.action}")
        try:
            data = handler(dict(plan.params))
        except FakeActionError as exc:
            return 200, _failed(_transport_retcode(exc.retcode, plan.transport), exc.message, exc.wording, exc.data)
        except _BadParams as exc:
            return 200, _failed(1400 if ws else 400, str(exc))
        except Exception as exc:  # a broken custom handler answers like NapCat's catch-all
            log.exception("FakeOneBot action %s raised", plan.action)
            return 200, _failed(1200 if ws else 200, f"{type(exc).__name__}: {exc}")
        if suffixed:
            return 200, {"status": "async", "retcode": 1, "data": None, "message": "", "wording": ""}
        return 200, _ok(data)

    # ------------------------------------------------------------------ events

    def push_event(self, event: Dict[str, Any]) -> Dict[str, Any]:
        """Send ``event`` to every event-capable WebSocket connection (``/`` and ``/event``).

        Fills ``time`` and ``self_id`` in place when missing. Returns once the
        frame is written to every connection (half-open ones silently drop it).

        Returns:
            ``event`` itself.
        """
        event.setdefault("time", int(time.time()))
        event.setdefault("self_id", self.self_id)
        text = json.dumps(event, ensure_ascii=False)
        with self._lock:
            targets = [conn for conn in self._ws_conns if conn.events and not conn.muted]
        for conn in targets:
            ws = conn.ws
            if ws is not None:
                try:
                    ws.send_text(text)
                except WebSocketClosed:
                    pass
        for sink in list(self._event_sinks):
            sink(text)
        return event

    def _meta_event(self, meta_event_type: str, **fields: Any) -> Dict[str, Any]:
        event: Dict[str, Any] = {
            "time": int(time.time()),
            "self_id": self.self_id,
            "post_type": "meta_event",
            "meta_event_type": meta_event_type,
        }
        event.update(fields)
        return event

    def emit_heartbeat(self) -> Dict[str, Any]:
        """Send one heartbeat meta event now.

        ``interval`` is :attr:`heartbeat_interval` in milliseconds (30000, NapCat's
        default, when heartbeats are off).
        """
        interval = 30000 if self.heartbeat_interval is None else int(round(self.heartbeat_interval * 1000))
        status = {"online": self._status_online, "good": True}
        return self.push_event(self._meta_event("heartbeat", status=status, interval=interval))

    def emit_notice(self, notice_type: str, **fields: Any) -> Dict[str, Any]:
        """Send a notice event, e.g. ``emit_notice("group_increase", sub_type="approve", group_id=1, user_id=2)``."""
        return self.push_event({"post_type": "notice", "notice_type": notice_type, **fields})

    def emit_request(self, request_type: str, **fields: Any) -> Dict[str, Any]:
        """Send a request event, e.g. ``emit_request("friend", user_id=2, comment="hi", flag="f1")``."""
        return self.push_event({"post_type": "request", "request_type": request_type, **fields})

    def emit_group_message(
        self,
        group_id: int,
        user_id: int,
        message: MessageInput,
        *,
        message_id: Optional[int] = None,
        sender: Optional[Dict[str, Any]] = None,
    ) -> Dict[str, Any]:
        """Deliver a group message from ``user_id`` to the bot, and record it in the group's history.

        Args:
            group_id: the group.
            user_id: the sender.
            message: a CQ-code string or array-form segments.
            message_id: the id to use; by default the next id of the server's counter.
            sender: fields merged into the default ``sender`` object
                (``user_id``, ``nickname``, ``card``, ``role``).

        Returns:
            The event as sent (``message`` in the configured format).
        """
        segments = _normalize_message(message)
        group_id, user_id = int(group_id), int(user_id)
        with self._lock:
            info = self._member(group_id, user_id)
            for key in ("nickname", "card", "role", "title"):
                if sender and key in sender:
                    info[key] = sender[key]
            sender_obj = {"user_id": user_id, "nickname": info["nickname"], "card": info["card"], "role": info["role"]}
            sender_obj.update(sender or {})
            event = self._store_message(
                "message", "group", group_id, user_id, segments, message_id, sender_obj, sub_type="normal"
            )
        return self.push_event(self._render(event))

    def emit_private_message(
        self, user_id: int, message: MessageInput, *, message_id: Optional[int] = None
    ) -> Dict[str, Any]:
        """Deliver a private (friend) message from ``user_id``, and record it in that chat's history.

        Returns:
            The event as sent (``message`` in the configured format).
        """
        segments = _normalize_message(message)
        user_id = int(user_id)
        with self._lock:
            friend = self._friend(user_id)
            sender_obj = {"user_id": user_id, "nickname": friend["nickname"], "sex": "unknown", "age": 0}
            event = self._store_message(
                "message", "private", user_id, user_id, segments, message_id, sender_obj, sub_type="friend"
            )
        return self.push_event(self._render(event))

    def send_garbage(self, data: Union[str, bytes] = "not json{", *, binary: Optional[bool] = None) -> None:
        """Send a frame that is not a valid OneBot frame to every event-capable connection.

        ``str`` goes out as a text frame. ``bytes`` go out as a text frame when
        they are valid UTF-8 and as a binary frame otherwise; ``binary`` forces
        the choice (``binary=False`` with non-UTF-8 bytes makes an invalid text
        frame, which a strict client treats as a protocol error).
        """
        if isinstance(data, str):
            payload, opcode = data.encode("utf-8"), OP_TEXT
        else:
            payload = bytes(data)
            if binary is None:
                try:
                    payload.decode("utf-8")
                    opcode = OP_TEXT
                except UnicodeDecodeError:
                    opcode = OP_BINARY
            else:
                opcode = OP_BINARY if binary else OP_TEXT
        with self._lock:
            targets = [conn for conn in self._ws_conns if conn.events]
        for conn in targets:
            ws = conn.ws
            if ws is not None:
                try:
                    ws.send(opcode, payload)
                except WebSocketClosed:
                    pass

    # ------------------------------------------------------------------ messages and chats (callers hold _lock)

    def _next_message_id(self) -> int:
        self._message_id = self._message_id + 1 if self._message_id < _INT32_MAX else 1
        return self._message_id

    def _member(self, group_id: int, user_id: int) -> Dict[str, Any]:
        self._groups.setdefault(group_id, f"group{group_id}")
        members = self._members.setdefault(group_id, {})
        if self.self_id not in members:
            members[self.self_id] = self._new_member(group_id, self.self_id, self.nickname)
        if user_id not in members:
            members[user_id] = self._new_member(group_id, user_id, self._nickname_of(user_id))
        return members[user_id]

    def _new_member(self, group_id: int, user_id: int, nickname: str) -> Dict[str, Any]:
        return {
            "group_id": group_id,
            "user_id": user_id,
            "nickname": nickname,
            "card": "",
            "sex": "unknown",
            "age": 0,
            "area": "",
            "join_time": self._started_at,
            "last_sent_time": 0,
            "level": "1",
            "role": "member",
            "unfriendly": False,
            "title": "",
            "title_expire_time": 0,
            "card_changeable": True,
        }

    def _friend(self, user_id: int) -> Dict[str, Any]:
        if user_id not in self._friends:
            self._friends[user_id] = {"user_id": user_id, "nickname": self._nickname_of(user_id), "remark": ""}
        return self._friends[user_id]

    def _nickname_of(self, user_id: int) -> str:
        if user_id == self.self_id:
            return self.nickname
        if user_id in self._friends:
            return str(self._friends[user_id]["nickname"])
        for members in self._members.values():
            if user_id in members:
                return str(members[user_id]["nickname"])
        return f"user{user_id}"

    def _store_message(
        self,
        post_type: str,
        message_type: str,
        chat_id: int,
        user_id: int,
        segments: List[Dict[str, Any]],
        message_id: Optional[int],
        sender: Dict[str, Any],
        *,
        sub_type: str,
    ) -> Dict[str, Any]:
        key = (message_type, chat_id)
        seq = self._seq.get(key, 0) + 1
        self._seq[key] = seq
        mid = self._next_message_id() if message_id is None else int(message_id)
        now = int(time.time())
        event: Dict[str, Any] = {
            "time": now,
            "self_id": self.self_id,
            "post_type": post_type,
            "message_type": message_type,
            "sub_type": sub_type,
            "message_id": mid,
            "message_seq": seq,
            "real_id": mid,
            "user_id": user_id,
        }
        if message_type == "group":
            event["group_id"] = chat_id
            event["anonymous"] = None
            if chat_id in self._members and user_id in self._members[chat_id]:
                self._members[chat_id][user_id]["last_sent_time"] = now
        else:
            event["target_id"] = chat_id if post_type == "message_sent" else self.self_id
        event.update(
            {
                "message": segments,
                "raw_message": render_cq(segments),
                "font": 14,
                "sender": sender,
            }
        )
        if post_type == "message_sent":
            event["message_sent_type"] = "self"
        self._history.setdefault(key, []).append(event)
        self._by_id[mid] = event
        return event

    def _render(self, event: Dict[str, Any]) -> Dict[str, Any]:
        """A copy of a stored message event, ``message`` in the configured format."""
        out = copy.deepcopy(event)
        out["message_format"] = self.message_format
        if self.message_format == "string":
            out["message"] = out["raw_message"]
        return out

    def _deliver(self, message_type: str, target: int, segments: List[Dict[str, Any]]) -> int:
        """Really send a message: sent_messages, history, and message_sent when enabled."""
        with self._lock:
            if message_type == "group":
                self._member(target, self.self_id)
                sender = {"user_id": self.self_id, "nickname": self.nickname, "card": "", "role": "member"}
                event = self._store_message(
                    "message_sent", "group", target, self.self_id, segments, None, sender, sub_type="normal"
                )
            else:
                sender = {"user_id": self.self_id, "nickname": self.nickname, "sex": "unknown", "age": 0}
                event = self._store_message(
                    "message_sent", "private", target, self.self_id, segments, None, sender, sub_type="friend"
                )
            record: Dict[str, Any] = {"message_id": event["message_id"], "message_type": message_type}
            record["group_id" if message_type == "group" else "user_id"] = target
            record.update(
                {"message": copy.deepcopy(segments), "raw_message": event["raw_message"], "time": time.time()}
            )
            self._sent.append(record)
            rendered = self._render(event)
            self._cond.notify_all()  # wait_for_message
        if self.report_self_messages:
            self._report_self(rendered)
        return int(event["message_id"])

    # ------------------------------------------------------------------ built-in actions

    def _act_get_login_info(self, params: Dict[str, Any]) -> Any:
        return {"user_id": self.self_id, "nickname": self.nickname}

    def _act_get_version_info(self, params: Dict[str, Any]) -> Any:
        return {"app_name": self.app_name, "app_version": self.app_version, "protocol_version": "v11"}

    def _act_get_status(self, params: Dict[str, Any]) -> Any:
        return {"online": self._status_online, "good": True, "stat": {}}

    def _act_send_msg(self, params: Dict[str, Any]) -> Any:
        message_type = params.get("message_type")
        if message_type not in ("group", "private"):
            # Inferred from the ids; NapCat picks the group when both are present.
            message_type = "group" if params.get("group_id") not in (None, "") else "private"
        if message_type == "group":
            return self._act_send_group_msg(params)
        return self._act_send_private_msg(params)

    def _act_send_group_msg(self, params: Dict[str, Any]) -> Any:
        group_id = _int_param(params, "group_id")
        if "message" not in params:
            raise _BadParams("missing parameter message")
        segments = _normalize_message(params["message"], _bool_param(params, "auto_escape"))
        return {"message_id": self._deliver("group", group_id, segments)}

    def _act_send_private_msg(self, params: Dict[str, Any]) -> Any:
        user_id = _int_param(params, "user_id")
        if "message" not in params:
            raise _BadParams("missing parameter message")
        segments = _normalize_message(params["message"], _bool_param(params, "auto_escape"))
        return {"message_id": self._deliver("private", user_id, segments)}

    def _act_send_group_forward_msg(self, params: Dict[str, Any]) -> Any:
        """A merged-forward message: one ``forward`` segment lands in the group."""
        group_id = _int_param(params, "group_id")
        nodes = params.get("messages")
        if not isinstance(nodes, list) or not nodes:
            raise _BadParams("missing parameter messages")
        forward_id = f"fwd{next(self._forward_ids)}"
        message_id = self._deliver("group", group_id, [{"type": "forward", "data": {"id": forward_id}}])
        return {"message_id": message_id, "forward_id": forward_id}

    def _act_delete_msg(self, params: Dict[str, Any]) -> Any:
        message_id = _int_param(params, "message_id")
        with self._lock:
            event = self._by_id.pop(message_id, None)
            if event is None:
                raise FakeActionError(1200, "消息不存在")
            chat = self._history.get((event["message_type"], self._chat_of(event)), [])
            self._history[(event["message_type"], self._chat_of(event))] = [e for e in chat if e is not event]
        return None

    def _act_get_msg(self, params: Dict[str, Any]) -> Any:
        message_id = _int_param(params, "message_id")
        with self._lock:
            event = self._by_id.get(message_id)
            if event is None:
                raise FakeActionError(1200, "消息不存在")
            return self._render(event)

    def _act_get_group_msg_history(self, params: Dict[str, Any]) -> Any:
        return self._history_page("group", _int_param(params, "group_id"), params)

    def _act_get_friend_msg_history(self, params: Dict[str, Any]) -> Any:
        return self._history_page("private", _int_param(params, "user_id"), params)

    def _history_page(self, message_type: str, chat_id: int, params: Dict[str, Any]) -> Any:
        seq = _int_param(params, "message_seq", required=False)
        count = _int_param(params, "count", 20)
        with self._lock:
            events = self._history.get((message_type, chat_id), [])
            if seq:
                events = [e for e in events if e["message_seq"] <= seq]
            page = events[-count:] if count > 0 else []
            return {"messages": [self._render(e) for e in page]}

    def _act_get_group_info(self, params: Dict[str, Any]) -> Any:
        group_id = _int_param(params, "group_id")
        with self._lock:
            return self._group_info(group_id)

    def _group_info(self, group_id: int) -> Dict[str, Any]:
        return {
            "group_id": group_id,
            "group_name": self._groups.get(group_id, f"group{group_id}"),
            "member_count": max(1, len(self._members.get(group_id, {}))),
            "max_member_count": 500,
        }

    def _act_get_group_list(self, params: Dict[str, Any]) -> Any:
        with self._lock:
            return [self._group_info(group_id) for group_id in sorted(self._groups)]

    def _act_get_friend_list(self, params: Dict[str, Any]) -> Any:
        with self._lock:
            return [dict(friend) for _, friend in sorted(self._friends.items())]

    def _act_get_stranger_info(self, params: Dict[str, Any]) -> Any:
        user_id = _int_param(params, "user_id")
        with self._lock:
            return {"user_id": user_id, "nickname": self._nickname_of(user_id), "sex": "unknown", "age": 0}

    def _act_get_group_member_info(self, params: Dict[str, Any]) -> Any:
        group_id = _int_param(params, "group_id")
        user_id = _int_param(params, "user_id")
        with self._lock:
            return dict(self._member(group_id, user_id))

    def _act_get_group_member_list(self, params: Dict[str, Any]) -> Any:
        group_id = _int_param(params, "group_id")
        with self._lock:
            self._member(group_id, self.self_id)
            return [dict(m) for _, m in sorted(self._members[group_id].items())]

    def _act_set_group_kick(self, params: Dict[str, Any]) -> Any:
        group_id = _int_param(params, "group_id")
        user_id = _int_param(params, "user_id")
        with self._lock:
            self._members.get(group_id, {}).pop(user_id, None)
        return None

    def _act_set_group_ban(self, params: Dict[str, Any]) -> Any:
        group_id = _int_param(params, "group_id")
        user_id = _int_param(params, "user_id")
        duration = _int_param(params, "duration", 30 * 60, required=False)
        with self._lock:
            member = self._member(group_id, user_id)
            member["shut_up_timestamp"] = int(time.time()) + duration if duration > 0 else 0
        return None

    def _act_handle_quick_operation(self, params: Dict[str, Any]) -> Any:
        context, operation = params.get("context"), params.get("operation")
        if not isinstance(context, dict) or not isinstance(operation, dict):
            raise _BadParams("context and operation must be objects")
        self.quick_operation(context, operation)
        return None

    def quick_operation(self, event: Dict[str, Any], operation: Dict[str, Any], *, transport: str = "quick") -> None:
        """Carry out a quick operation on ``event``, as go-cqhttp, NapCat and LLOneBot do.

        This is what the ``.handle_quick_operation`` action (and its ``_async``
        form) and an HTTP POST answer with a JSON body do. Messages: ``reply``
        (with ``auto_escape``; in a group ``at_sender``, default true), and in a
        group ``delete``, ``kick``, ``ban`` (``ban_duration``, default 30 min).
        Requests: ``approve`` (with ``remark`` for a friend, ``reason`` for a
        group). Each effect runs as the action it stands for (``send_msg``,
        ``delete_msg``, ``set_group_kick``, ``set_group_ban``,
        ``set_friend_add_request``, ``set_group_add_request``), recorded in
        :attr:`calls` with ``transport`` ``"quick"``, faults included.

        Blocking until the effects are done; thread-safe.
        """

        def wait(seconds: Optional[float]) -> bool:
            if seconds is None:
                self._stop_event.wait()
                return False
            return not self._stop_event.wait(seconds)

        def call(action: str, **call_params: Any) -> None:
            plan = self._admit(action, call_params, None, False, transport)
            self._run(plan, wait)

        post_type = event.get("post_type")
        group = event.get("message_type") == "group" and event.get("group_id") is not None
        if post_type == "message":
            reply = operation.get("reply")
            if reply not in (None, "", []):
                segments = _normalize_message(reply, bool(operation.get("auto_escape")))
                if group:
                    if operation.get("at_sender", True):
                        at = {"type": "at", "data": {"qq": str(event.get("user_id"))}}
                        segments = [at] + segments
                    call("send_msg", message_type="group", group_id=event["group_id"], message=segments)
                else:
                    call("send_msg", message_type="private", user_id=event.get("user_id"), message=segments)
            if group and operation.get("delete") and event.get("message_id") is not None:
                call("delete_msg", message_id=event["message_id"])
            if group and operation.get("kick"):
                call(
                    "set_group_kick", group_id=event["group_id"], user_id=event.get("user_id"), reject_add_request=False
                )
            if group and operation.get("ban"):
                duration = operation.get("ban_duration", 30 * 60)
                call("set_group_ban", group_id=event["group_id"], user_id=event.get("user_id"), duration=duration)
        elif post_type == "request" and "approve" in operation:
            approve = bool(operation.get("approve"))
            if event.get("request_type") == "friend":
                remark = operation.get("remark", "")
                call("set_friend_add_request", flag=event.get("flag"), approve=approve, remark=remark)
            elif event.get("request_type") == "group":
                call(
                    "set_group_add_request",
                    flag=event.get("flag"),
                    sub_type=event.get("sub_type"),
                    approve=approve,
                    reason=operation.get("reason", ""),
                )

    def _chat_of(self, event: Dict[str, Any]) -> int:
        if event["message_type"] == "group":
            return int(event["group_id"])
        return int(event["target_id"] if event["post_type"] == "message_sent" else event["user_id"])

    # ------------------------------------------------------------------ test data

    def add_group(self, group_id: int, group_name: Optional[str] = None) -> None:
        """Make ``group_id`` known (``get_group_list``), optionally with a name."""
        with self._lock:
            self._member(int(group_id), self.self_id)
            if group_name is not None:
                self._groups[int(group_id)] = group_name

    def add_member(
        self, group_id: int, user_id: int, *, nickname: Optional[str] = None, card: str = "", role: str = "member"
    ) -> None:
        """Add (or update) a member of a group, as ``get_group_member_*`` will report it."""
        with self._lock:
            member = self._member(int(group_id), int(user_id))
            if nickname is not None:
                member["nickname"] = nickname
            member["card"] = card
            member["role"] = role

    def add_friend(self, user_id: int, *, nickname: Optional[str] = None, remark: str = "") -> None:
        """Add (or update) a friend, as ``get_friend_list`` will report it."""
        with self._lock:
            friend = self._friend(int(user_id))
            if nickname is not None:
                friend["nickname"] = nickname
            friend["remark"] = remark

    # ------------------------------------------------------------------ observation

    @property
    def calls(self) -> List[Dict[str, Any]]:
        """A snapshot of every API call received, oldest first.

        Each is ``{"action", "params", "echo", "transport": "ws" | "http", "time"}``
        (``time`` is ``time.time()`` at arrival). Calls on ``/event`` are not
        processed and not recorded.
        """
        with self._lock:
            return [dict(call) for call in self._calls]

    def wait_for_call(
        self, action: str, timeout: float = 5.0, count: int = 1, *, handled: bool = True
    ) -> Dict[str, Any]:
        """Block until ``count`` calls of ``action`` have been received *and handled*.

        A call is handled once its effects are visible: a ``send_*`` that
        delivers is in :attr:`sent_messages` and the history when this returns.
        A call that a fault keeps from running (``fail_next``, ``stall``,
        ``drop_after`` without delivery) counts as soon as that is decided; a
        ``delay`` without ``deliver`` counts when it has run, after the delay.
        The answer itself may still be on its way to the bot.

        ``handled=False`` returns as soon as the calls have *arrived*: for an
        action whose handler (``set_action``) blocks until the test lets it go.

        Returns:
            The latest handled call of ``action`` (see :attr:`calls`).

        Raises:
            TimeoutError: fewer than ``count`` were handled within ``timeout`` seconds.

        Thread-safe; blocks at most ``timeout`` seconds.
        """
        counts, last = (self._settled_counts, self._last_call) if handled else (self._call_counts, self._last_arrived)
        with self._cond:
            if not self._cond.wait_for(lambda: counts[action] >= count, timeout):
                raise TimeoutError(
                    f"{action} was called {self._call_counts[action]} time(s) in {timeout}s "
                    f"({self._settled_counts[action]} handled), expected {count}"
                )
            return dict(last[action])

    def wait_for_message(
        self,
        timeout: float = 5.0,
        *,
        count: int = 1,
        group_id: Optional[int] = None,
        user_id: Optional[int] = None,
        text: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Block until ``count`` messages have been delivered (see :attr:`sent_messages`).

        ``group_id`` / ``user_id`` count only the messages sent to that group or
        friend, ``text`` only those whose ``raw_message`` equals it. Messages
        delivered before the call count too, so a test can emit, then wait.

        Returns:
            The latest matching delivered message (a :attr:`sent_messages` entry).

        Raises:
            TimeoutError: fewer than ``count`` matching messages within ``timeout``
                seconds; the message lists what was delivered.

        Thread-safe; blocks at most ``timeout`` seconds.
        """
        if group_id is not None and user_id is not None:
            raise ValueError("give group_id or user_id, not both")

        def matching() -> List[Dict[str, Any]]:
            found = []
            for sent in self._sent:
                if group_id is not None and (sent["message_type"] != "group" or sent["group_id"] != int(group_id)):
                    continue
                if user_id is not None and (sent["message_type"] != "private" or sent["user_id"] != int(user_id)):
                    continue
                if text is not None and sent["raw_message"] != text:
                    continue
                found.append(sent)
            return found

        with self._cond:
            if not self._cond.wait_for(lambda: len(matching()) >= count, timeout):
                filters = (("group_id", group_id), ("user_id", user_id), ("text", text))
                what = ", ".join(f"{k}={v!r}" for k, v in filters if v is not None)
                delivered = [sent["raw_message"] for sent in self._sent[-5:]]
                raise TimeoutError(
                    f"{len(matching())} message(s){' with ' + what if what else ''} delivered in {timeout}s, "
                    f"expected {count}; the last delivered: {delivered!r}"
                )
            return copy.deepcopy(matching()[-1])

    @property
    def sent_messages(self) -> List[Dict[str, Any]]:
        """A snapshot of the messages really delivered by ``send_*`` actions, oldest first.

        Each is ``{"message_id", "message_type", "group_id" or "user_id",
        "message" (array-form segments), "raw_message", "time"}``.
        """
        with self._lock:
            return copy.deepcopy(self._sent)

    def history(self, *, group_id: Optional[int] = None, user_id: Optional[int] = None) -> List[Dict[str, Any]]:
        """The message events of one chat (received and sent), oldest first.

        Give exactly one of ``group_id`` or ``user_id`` (a private chat). Messages
        sent by the bot appear with ``post_type`` ``message_sent``.
        """
        if (group_id is None) == (user_id is None):
            raise ValueError("give exactly one of group_id or user_id")
        key = ("group", int(group_id)) if group_id is not None else ("private", int(user_id))  # type: ignore[arg-type]
        with self._lock:
            return [self._render(event) for event in self._history.get(key, [])]

    def wait_for_connections(self, n: int, timeout: float = 5.0) -> None:
        """Block until :attr:`total_connections` is at least ``n``.

        Raises:
            TimeoutError: it was not within ``timeout`` seconds.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._total_connections >= n, timeout):
                raise TimeoutError(f"{self._total_connections} WebSocket connection(s) in {timeout}s, expected {n}")

    # ------------------------------------------------------------------ faults

    def mute_events(self) -> None:
        """Turn every open WebSocket into a zombie: no more heartbeats or events on
        it, while API calls and pings are still answered (NapCat after a WebUI
        reload, Lagrange after repeated reconnects). New connections behave normally.
        """
        with self._cond:
            for conn in self._ws_conns:
                conn.muted = True

    def delay(self, action: str, seconds: float, *, times: Optional[int] = None, deliver: bool = False) -> None:
        """Answer ``action`` only after ``seconds``.

        Other calls and events are not held up. By default the action itself
        runs when the answer is sent (a message is delivered late); with
        ``deliver=True`` it runs at once and only the answer is late (a send
        that succeeded but whose reply outlives the client's timeout).

        Args:
            action: the action name.
            seconds: the delay.
            times: how many of the next calls are delayed; None: all of them.
            deliver: run the action at once instead of after the delay.
        """
        self._faults.delay(action, seconds, times=times, deliver=deliver)

    def stall(self, action: str, *, times: Optional[int] = None, deliver: bool = False) -> None:
        """Accept ``action`` and never answer (until the connection closes).

        Args:
            action: the action name.
            times: how many of the next calls stall; None: all of them.
            deliver: still run the action (the message is delivered, the
                answer never comes); by default nothing happens.
        """
        self._faults.stall(action, times=times, deliver=deliver)

    def fail_next(
        self,
        action: str,
        retcode: int = 1200,
        message: str = DEFAULT_FAIL_MESSAGE,
        *,
        deliver: bool = False,
        times: int = 1,
        wording: Optional[str] = None,
    ) -> None:
        """Answer the next ``times`` calls of ``action`` with ``status: failed``.

        Args:
            action: the action name.
            retcode: the ``retcode`` of the failure (NapCat's 1200 by default).
            message: the ``message``; by default NapCat's send timeout.
            deliver: run the action first (a send is really delivered, recorded,
                and reported by ``message_sent``), then answer with the failure.
            times: how many calls fail. Repeated ``fail_next`` calls queue up.
            wording: the ``wording`` (defaults to ``message``).
        """
        self._faults.fail(action, _Failure(retcode, message, wording), times=times, deliver=deliver)

    def set_action(self, action: str, handler: Optional[ActionHandler]) -> None:
        """Implement (or override) ``action`` with ``handler(params) -> data``.

        The handler runs on a worker thread; raise :class:`FakeActionError` to
        answer with a failure. Any other exception answers ``retcode`` 1200
        (WebSocket) / 200 (HTTP), as NapCat does. ``None`` removes the handler.
        """
        self._faults.set_handler(action, handler)

    def reset_faults(self) -> None:
        """Forget every delay, stall and pending failure (calls already held keep waiting)."""
        self._faults.reset()
        self.reset_send_faults()

    # ------------------------------------------------------------------ send faults

    #: The steps :meth:`script` understands.
    SCRIPT_STEPS = ("ok", "fail", "deliver_fail", "late", "drop", "drop_before", "stall", "stall_deliver")

    def script(self, action: str, steps: Any, *, delay: float = 0.0) -> None:
        """Decide the fate of the next calls of ``action``, one step per call, in order.

        Steps (strings):

        * ``"ok"``: answered normally.
        * ``"fail"``: not executed; answered retcode 1200 with NapCat's send timeout
          (after ``delay``).
        * ``"deliver_fail"``: executed (the message is delivered and reported), then
          after ``delay`` answered with that 1200: NapCat/LLOneBot's "timeout" on a
          message that went out (faults SEND-01).
        * ``"late"``: executed at once, answered ``ok`` only after ``delay`` (an
          answer after the client's timeout, faults SEND-06).
        * ``"drop"``: executed, then the connection is dropped without an answer
          (faults SEND-07); ``"drop_before"``: dropped without executing.
        * ``"stall"``: never answered, not executed; ``"stall_deliver"``: never
          answered, executed.

        Scripts queue after each other; faults set by :meth:`stall`, :meth:`delay`
        and :meth:`fail_next` take precedence over a script step.
        """
        items = [steps] if isinstance(steps, str) else list(steps)
        for step in items:
            if step not in self.SCRIPT_STEPS:
                raise ValueError(f"unknown script step {step!r}; use one of {self.SCRIPT_STEPS}")
        with self._lock:
            self._scripts.setdefault(action, []).extend((step, float(delay)) for step in items)

    def drop_after(self, action: str, *, times: int = 1, deliver: bool = True) -> None:
        """Drop the connection of the next ``times`` calls of ``action`` instead of answering,
        after executing them (``deliver=True``) or without (``deliver=False``)."""
        self.script(action, ["drop" if deliver else "drop_before"] * times)

    def _script_step(self, action: str) -> FaultPlan[_Failure]:
        """Pop the next script step of ``action`` (caller holds the lock)."""
        step, seconds = self._scripts[action].pop(0)
        if not self._scripts[action]:
            del self._scripts[action]
        delay = _Rule(seconds, 1, True) if seconds > 0 else None
        if step in ("fail", "deliver_fail"):
            return FaultPlan(delay=delay, fail=FailRule(_Failure(1200, DEFAULT_FAIL_MESSAGE, None), step != "fail"))
        if step == "late":
            return FaultPlan(delay=delay)
        if step in ("drop", "drop_before"):
            return FaultPlan(drop=step == "drop")
        if step in ("stall", "stall_deliver"):
            return FaultPlan(stall=_Rule(0.0, 1, step == "stall_deliver"))
        return FaultPlan()

    def disable_actions(self, *actions: str) -> None:
        """Answer ``actions`` as unknown (WS 1404, HTTP 404), e.g. the history actions
        of an implementation without them."""
        with self._lock:
            self._disabled.update(actions)

    def enable_actions(self, *actions: str) -> None:
        """Undo :meth:`disable_actions`."""
        with self._lock:
            self._disabled.difference_update(actions)

    def risk_control(
        self, *, group_id: Optional[int] = None, user_id: Optional[int] = None, times: Optional[int] = None
    ) -> None:
        """Refuse sends as go-cqhttp does under risk control (retcode 100 "账号可能被风控").

        Applies to sends to ``group_id``, or to ``user_id``; with neither, to every
        group send. ``times``: how many sends are refused (None: until
        :meth:`reset_send_faults`). Nothing is delivered.
        """
        key: Tuple[str, Optional[int]] = (
            ("private", int(user_id)) if user_id is not None else ("group", None if group_id is None else int(group_id))
        )
        with self._lock:
            self._risk[key] = times

    def set_account_online(self, online: bool, *, notice: bool = True, status: bool = False) -> None:
        """Take the QQ account offline (kicked) or bring it back.

        Offline, every send answers NapCat's ``EventChecker Failed … "result": 1006514,
        "errMsg": "网络连接异常!"`` (retcode 1200 over WS, 200 over HTTP) and delivers
        nothing. ``notice`` pushes ``bot_offline`` / ``bot_online``. ``status``: heartbeats
        and ``get_status`` report ``online`` truthfully; by default they keep saying
        ``true``, as NapCat does.
        """
        with self._lock:
            self._account_online = bool(online)
            self._status_online = bool(online) or not status
        if notice:
            if online:
                self.emit_notice("bot_online", reason="login")
            else:
                self.emit_notice(
                    "bot_offline", user_id=self.self_id, tag="KickedOffLine",
                    message="[KickedOffLine] [下线通知] 你的帐号当前登录已失效，请重新登录。",
                )

    def reset_send_faults(self) -> None:
        """Forget scripts, disabled actions and risk control; bring the account online
        (silently); self reports without delay."""
        with self._lock:
            self._scripts.clear()
            self._disabled.clear()
            self._risk.clear()
            self._account_online = True
            self._status_online = True
            self.self_report_delay = 0.0

    def _send_refusal(self, plan: _Plan) -> Optional[Tuple[int, Dict[str, Any]]]:
        """The answer of a disabled action or a refused send, or None to run it."""
        ws = plan.transport == "ws"
        with self._lock:
            if plan.action in self._disabled:
                if ws:
                    return 200, _failed(1404, f"不支持的Api {plan.action}")
                return 404, _failed(404, "API_NOT_FOUND", f"没有找到API {plan.action}")
            if not plan.action.startswith("send_"):
                return None
            if not self._account_online:
                message = (
                    "EventChecker Failed: NTEvent serviceAndMethod:NodeIKernelMsgService/sendMsg "
                    'ListenerName:NodeIKernelMsgListener/onMsgInfoListUpdate EventRet: {"result": 1006514, '
                    '"errMsg": "网络连接异常!"}'
                )
                return 200, _failed(1200 if ws else 200, message)
            group = plan.params.get("group_id")
            if group is not None and group != "" and plan.params.get("message_type") != "private":
                keys: List[Tuple[str, Optional[int]]] = [("group", None)]
                try:
                    keys.append(("group", int(group)))
                except (TypeError, ValueError):
                    pass
            else:
                try:
                    keys = [("private", int(plan.params.get("user_id")))]  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    keys = []
            for key in keys:
                if key in self._risk:
                    remaining = self._risk[key]
                    if remaining is not None:
                        if remaining <= 1:
                            del self._risk[key]
                        else:
                            self._risk[key] = remaining - 1
                    return 200, _failed(100, "账号可能被风控", "群消息发送失败: 账号可能被风控.")
        return None

    def _report_self(self, event: Dict[str, Any]) -> None:
        """Push a ``message_sent`` event, after :attr:`self_report_delay` seconds if set."""
        delay = self.self_report_delay
        if delay <= 0:
            self.push_event(event)
            return

        def later() -> None:
            if not self._stop_event.wait(delay):
                self.push_event(event)

        self._spawn(f"fakeonebot:self-report:{self.port}", later)

    # ------------------------------------------------------------------ reverse modes (testing/reverse.py)

    def connect_reverse(self, url: str, **options: Any) -> "ReverseClient":
        """Dial a bot's reverse-WebSocket ``url`` as this account, reconnecting until stopped.

        Options are those of :class:`~qqreliable.testing.onebot_reverse.ReverseClient`
        (``role``, ``self_id``, ``access_token``, ``auth_scheme``,
        ``reconnect_interval``). The link is one of this server's WebSocket
        connections: events and connection faults reach it. Returns the started link.
        """
        from .onebot_reverse import ReverseClient

        return ReverseClient(self, url, **options).start()

    def post_events(self, url: str, **options: Any) -> "WebhookPoster":
        """POST every event from now on to ``url`` (HTTP POST mode), like go-cqhttp.

        Options are those of :class:`~qqreliable.testing.onebot_reverse.WebhookPoster`
        (``secret``, ``timeout``, ``retries``, ``retry_interval``). Returns the started poster.
        """
        from .onebot_reverse import WebhookPoster

        poster = WebhookPoster(self, url, **options).start()
        with self._lock:
            self._event_sinks.append(poster.enqueue)
        return poster

