"""FakeMirai: a real mirai-api-http v2 server on localhost, with faults on demand.

One TCP port serves, as MAH's default setup does, the WebSocket adapter
(``/all``, ``/message``, ``/event``) and the HTTP adapter (``/verify``,
``/bind``, ``/release``, ``/fetchMessage`` ... and every command as a path).
Each accepted connection gets a thread that reads the request head and routes
it: an upgrade becomes a WebSocket, anything else an HTTP request (keep-alive
supported). Every WebSocket command runs on a worker thread of its own, so a
delayed or stalled command never holds up other calls or pushed events.

What it does as MAH does (reference ``mirai-api-http.md``):

* WebSocket: credentials from headers or query (header wins), checked in MAH's
  order; the first frame is the handshake ``{"syncId": "", "data": {"code":
  0, "session": ...}}``; on failure the same shape with the code, then a clean
  close 1000 with the message as reason. A session created by a socket dies
  with it. Pushed events carry the reserved syncId (``"-1"``). A frame that is
  not JSON or has no ``command`` gets the bare ``{"code": 400, "msg": ...}``.
* HTTP: ``/verify`` → session, ``/bind`` (code 6 in singleMode), the session
  key from the ``sessionKey`` header, ``Authorization: session``, the query or
  the body; codes 3/4 for unknown/unbound sessions; an unread queue per bound
  session capped at ``unread_queue_max_size`` (overflow silently dropped);
  uploads as multipart only (code 6 as WebSocket commands).
* Sends: chains checked (unknown element → 400, a local ``path`` → 6, empty →
  500), ``quote`` must be in the message cache (else 5), every delivered
  message kept in :attr:`FakeMirai.sent_messages`, the per-chat history
  (``roamingMessages``: friends, and groups from 2.10) and the message cache
  (``messageFromId``, 1024 entries, forgotten by :meth:`FakeMirai.restart`).
* ``recall`` and ``messageFromId`` read the request shape of the configured
  ``version`` (<= 2.5: ``target`` = message id / ``id``; 2.6: ``id`` +
  ``target``; >= 2.7: ``messageId`` + ``target``).

Faults: :meth:`FakeMirai.drop_connections` (1006), :meth:`FakeMirai.half_open`,
:meth:`FakeMirai.down` / :meth:`FakeMirai.up`, :meth:`FakeMirai.restart`,
:meth:`FakeMirai.set_account_online` (code 2), a wrong key (code 1),
:meth:`FakeMirai.fail_next`, :meth:`FakeMirai.not_delivered` (``messageId:
-1``), :meth:`FakeMirai.delay`, :meth:`FakeMirai.stall`,
:meth:`FakeMirai.drop_after`, :meth:`FakeMirai.send_garbage`.

Threads are all named ``fakemirai:…``, wait on sockets or events that
:meth:`FakeMirai.stop` interrupts, and are joined by it with a timeout.
"""

from __future__ import annotations

import base64
import binascii
import collections
import copy
import email.parser
import email.policy
import hmac
import itertools
import json
import logging
import random
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple, Union

from ..transport.wsserver import (
    OP_BINARY,
    OP_TEXT,
    HandshakeError,
    RequestHead,
    WebSocketClosed,
    accept_websocket,
    send_http_response,
)
from ._server import _CLOSE_TIMEOUT, FakeServer, FaultPlan, FaultRules, _BaseConn, carry_out, read_body

__all__ = ["FakeMirai", "MahError"]

log = logging.getLogger(__name__)

_MAX_BODY = 64 * 1024 * 1024
_INT32_MAX = 2**31 - 1
_KEY_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_JSON = {"Content-Type": "application/json; charset=utf-8"}

#: The messages MAH puts in ``msg`` for each code (StateCode.kt), for realism.
STATE_MESSAGES: Dict[int, str] = {
    0: "success",
    1: "Auth Key错误",
    2: "指定Bot不存在",
    3: "Session失效或不存在",
    4: "Session未认证",
    5: "指定对象不存在",
    6: "指定操作不支持",
    10: "无操作权限",
    20: "Bot被禁言",
    30: "消息过长",
    400: "无效参数",
    500: "服务器内部错误",
}

_SENDABLE = frozenset((
    "Plain", "At", "AtAll", "Face", "Image", "FlashImage", "Voice", "ShortVideo", "Xml", "Json", "App",
    "Poke", "Dice", "MarketFace", "MusicShare", "Forward", "MiraiCode",
))
_RECEIVE_ONLY = frozenset(("Source", "Quote", "File"))
_WS_PATHS = ("/all", "/message", "/event")
_HTTP_ONLY = frozenset((
    "uploadImage", "uploadVoice", "uploadShortVideo", "file_upload", "verify", "bind", "release",
    "countMessage", "fetchMessage", "fetchLatestMessage", "peekMessage", "peekLatestMessage",
))
_QUEUE_COMMANDS = ("countMessage", "fetchMessage", "fetchLatestMessage", "peekMessage", "peekLatestMessage")
_NO_SESSION = frozenset(("about", "verify", "bind"))
_NOOP_COMMANDS = (
    "mute", "unmute", "kick", "quit", "muteAll", "unmuteAll", "setEssence", "memberAdmin", "deleteFriend",
    "resp_newFriendRequestEvent", "resp_memberJoinRequestEvent", "resp_botInvitedJoinGroupRequestEvent",
    "cmd_execute", "cmd_register", "anno_delete", "file_delete", "file_move", "file_rename",
)

MessageInput = Union[str, Dict[str, Any], List[Any]]
CommandHandler = Callable[[Dict[str, Any]], Dict[str, Any]]


class MahError(Exception):
    """Raise from a :meth:`FakeMirai.set_command` handler to answer ``{"code": code, "msg": msg}``."""

    def __init__(self, code: int, msg: Optional[str] = None) -> None:
        self.code = int(code)
        self.msg = STATE_MESSAGES.get(self.code, "error") if msg is None else msg
        super().__init__(f"code {self.code}: {self.msg}")


def _state(code: int, msg: Optional[str] = None) -> Dict[str, Any]:
    return {"code": code, "msg": STATE_MESSAGES.get(code, "") if msg is None else msg}


def _ok(data: Any = None, *, with_data: bool = True) -> Dict[str, Any]:
    answer: Dict[str, Any] = {"code": 0, "msg": ""}
    if with_data:
        answer["data"] = data
    return answer


def _int(content: Dict[str, Any], *names: str, default: Optional[int] = None) -> int:
    """The first of ``names`` present in ``content``, as an int; 400 when missing or not a number."""
    for name in names:
        value = content.get(name)
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            raise MahError(400, f"{name} must be a number")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise MahError(400, f"{name} must be a number, not {value!r}") from None
    if default is not None:
        return default
    raise MahError(400, f"missing field {names[0]}")


# --------------------------------------------------------------------------- connections


class _Conn(_BaseConn):
    """One accepted TCP connection (HTTP requests, or one WebSocket)."""

    def __init__(self, conn_id: int, sock: socket.socket) -> None:
        super().__init__(conn_id, sock)
        self.session: Optional[str] = None

    def wants(self, is_message: bool) -> bool:
        if self.path == "/message":
            return is_message
        if self.path == "/event":
            return not is_message
        return True


@dataclass
class _Session:
    key: str
    channel: str  # "ws" or "http"
    qq: Optional[int] = None  # the bot it is bound to
    conn: Optional[_Conn] = None  # the socket that created it (ws sessions die with it)
    unread: Deque[Dict[str, Any]] = field(default_factory=collections.deque)
    created: float = field(default_factory=time.time)


@dataclass
class _Failure:
    """What a :meth:`FakeMirai.fail_next` (or :meth:`FakeMirai.not_delivered`) answers."""

    code: int
    msg: Optional[str]
    not_delivered: bool = False


@dataclass
class _Plan:
    command: str
    sub_command: Optional[str]
    content: Dict[str, Any]
    transport: str
    session: Optional[str] = None
    faults: FaultPlan[_Failure] = field(default_factory=FaultPlan)  # drop: True executes first


# --------------------------------------------------------------------------- the server


class FakeMirai(FakeServer):
    """A real mirai-api-http v2 server on localhost for tests, with faults on demand.

    The WebSocket and HTTP adapters share one port::

        with FakeMirai(verify_key="key", qq=10001) as mirai:
            bot = MiraiBot(mirai.ws_url, verify_key="key", qq=10001)
            ...
            mirai.emit_group_message(123, 456, "ping")
            mirai.wait_for_message()

    Every public method is thread-safe.

    Args:
        host: interface to bind.
        port: TCP port; 0 picks a free one (see :attr:`port` after :meth:`start`).
        verify_key: MAH's ``verifyKey``.
        qq: the bot account logged in to this mirai.
        enable_verify: False accepts any verifyKey (MAH ``enableVerify``).
        single_mode: MAH ``singleMode``: no bind step, no session key needed.
        version: what ``about`` reports; decides the ``recall`` /
            ``messageFromId`` shapes and whether ``roamingMessages`` serves groups.
        reserved_sync_id: the syncId of pushed events (``adapterSettings.ws.reservedSyncId``).
        unread_queue_max_size: the HTTP unread-queue cap per session.
        cache_size: the message cache (``messageFromId``, ``quote``) size.
        nickname: the bot's nickname.
    """

    NAME = "FakeMirai"
    THREAD_PREFIX = "fakemirai"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        verify_key: str = "1234567890",
        qq: int = 10001,
        enable_verify: bool = True,
        single_mode: bool = False,
        version: str = "2.10.0",
        reserved_sync_id: str = "-1",
        unread_queue_max_size: int = 100,
        cache_size: int = 1024,
        nickname: str = "FakeMirai",
    ) -> None:
        self._init_server(host, port)
        self.verify_key = verify_key
        self.qq = int(qq)
        self.enable_verify = enable_verify
        self.single_mode = single_mode
        self.version = version
        self.reserved_sync_id = str(reserved_sync_id)
        self.unread_queue_max_size = int(unread_queue_max_size)
        self.cache_size = int(cache_size)
        self.nickname = nickname

        self._sessions_created = 0
        self._handshakes: List[Dict[str, Any]] = []

        self._account_online = True
        self._sessions: Dict[str, _Session] = {}
        self._calls: List[Dict[str, Any]] = []
        self._call_counts: Counter[str] = Counter()
        self._last_call: Dict[str, Dict[str, Any]] = {}
        self._faults: FaultRules[_Failure, CommandHandler] = FaultRules()  # per-command faults, set_command

        self._message_id = random.randint(1_000, 1_000_000)
        self._cache: "collections.OrderedDict[Tuple[str, int, int], Dict[str, Any]]" = collections.OrderedDict()
        self._history: Dict[Tuple[str, int], List[Dict[str, Any]]] = {}
        self._sent: List[Dict[str, Any]] = []
        self._recalled: List[Dict[str, Any]] = []
        self._uploads: List[Dict[str, Any]] = []
        self._images: Dict[str, Tuple[bytes, str]] = {}
        self._image_gets: Counter[str] = Counter()
        self._mah_files: Dict[str, bytes] = {}
        self._groups: Dict[int, str] = {}
        self._members: Dict[int, Dict[int, Dict[str, Any]]] = {}
        self._friends: Dict[int, Dict[str, Any]] = {}
        self.unread_dropped = 0
        """Events an HTTP unread queue silently dropped because it was full."""

        self._builtin: Dict[str, Callable[[_Plan], Dict[str, Any]]] = {
            "about": lambda plan: _ok({"version": self.version}),
            "botList": lambda plan: _ok([self.qq] if self._account_online else []),
            "sendGroupMessage": self._cmd_send_group,
            "sendFriendMessage": self._cmd_send_friend,
            "sendTempMessage": self._cmd_send_temp,
            "sendOtherClientMessage": self._cmd_send_other_client,
            "sendNudge": lambda plan: _state(0),
            "recall": self._cmd_recall,
            "messageFromId": self._cmd_message_from_id,
            "roamingMessages": self._cmd_roaming,
            "friendList": lambda plan: _ok(self._friend_list()),
            "groupList": lambda plan: _ok(self._group_list()),
            "memberList": self._cmd_member_list,
            "latestMemberList": self._cmd_member_list,
            "botProfile": lambda plan: self._profile(self.nickname),
            "friendProfile": lambda plan: self._profile(f"user{_int(plan.content, 'target')}"),
            "memberProfile": lambda plan: self._profile(f"user{_int(plan.content, 'memberId')}"),
            "userProfile": lambda plan: self._profile(f"user{_int(plan.content, 'target')}"),
            "groupConfig": self._cmd_group_config,
            "memberInfo": self._cmd_member_info,
            "file_list": lambda plan: _ok([]),
            "file_info": lambda plan: _state(5, "file not found"),
            "file_mkdir": lambda plan: _ok({"id": uuid.uuid4().hex, "name": str(plan.content.get("directoryName", "")),
                                            "isFile": False, "isDirectory": True}),
            "anno_list": lambda plan: _ok([]),
            "anno_publish": lambda plan: _ok({"fid": uuid.uuid4().hex, "content": plan.content.get("content", "")}),
        }
        for name in _NOOP_COMMANDS:
            self._builtin[name] = lambda plan: _state(0)
        for name in _QUEUE_COMMANDS:
            self._builtin[name] = lambda plan: self._http_queue(plan.command, plan.session, plan.content)

    # ------------------------------------------------------------------ URLs

    @property
    def ws_url(self) -> str:
        """The WebSocket adapter's base, ``ws://127.0.0.1:<port>`` (connect to ``/all``)."""
        return f"ws://{self._url_host}:{self.port}"

    @property
    def ws_all_url(self) -> str:
        """``ws://127.0.0.1:<port>/all``."""
        return self.ws_url + "/all"

    # ------------------------------------------------------------------ lifecycle

    def __repr__(self) -> str:
        state = "stopped" if self._stopping else ("running" if self._started else "new")
        return f"<FakeMirai {state} {self.url} qq={self.qq} version={self.version}>"

    def _new_conn(self, conn_id: int, sock: socket.socket, peer: Any) -> _Conn:
        return _Conn(conn_id, sock)

    def _on_conn_end(self, conn: _Conn) -> None:
        session = self._sessions.get(conn.session or "")
        if session is not None and session.conn is conn:
            del self._sessions[session.key]  # a ws-created session dies with its socket

    # ---- sessions

    def _key_ok(self, key: Optional[str]) -> bool:
        if not self.enable_verify:
            return True
        return key is not None and hmac.compare_digest(key.encode("utf-8"), self.verify_key.encode("utf-8"))

    def _ws_auth(self, head: RequestHead) -> Tuple[Dict[str, Any], Optional[_Session]]:
        """MAH's order of checks (reference §4.1); returns the handshake data and the session."""
        def value(name: str) -> Optional[str]:
            found = head.header(name)
            return found if found is not None else head.query_value(name)

        if not self._key_ok(value("verifyKey")):
            return _state(1), None
        if self.single_mode:
            return {"code": 0, "session": "SINGLE_SESSION"}, None
        session_key, qq_text = value("sessionKey"), value("qq")
        with self._lock:
            if not session_key:
                if qq_text is None or qq_text == "":
                    return _state(400), None
                try:
                    qq = int(qq_text)
                except ValueError:
                    return _state(400, "qq must be a number"), None
                if qq != self.qq or not self._account_online:
                    return _state(2), None
                session = _Session(key=self._new_key(), channel="ws", qq=qq)
                self._sessions[session.key] = session
                self._sessions_created += 1
                return {"code": 0, "session": session.key}, session
            existing = self._sessions.get(session_key)
            if existing is None:
                return _state(3), None
            if existing.qq is None:
                return _state(4), None
            return {"code": 0, "session": existing.key}, existing

    def _new_key(self) -> str:
        return "".join(random.choice(_KEY_CHARS) for _ in range(8))

    # ---- WebSocket

    def _serve_websocket(self, conn: _Conn, head: RequestHead, buffer: bytearray) -> None:
        path = head.path.rstrip("/")
        if path not in _WS_PATHS:
            send_http_response(conn.io, 404, f"no WebSocket endpoint at {head.path}")
            return
        conn.path = path
        with self._cond:
            if self._stopping or conn.closed.is_set():
                return
            try:
                ws = accept_websocket(conn.io, head, buffered=bytes(buffer), close_timeout=_CLOSE_TIMEOUT)
            except HandshakeError as exc:
                log.debug("bad upgrade on connection %s: %s", conn.id, exc)
                return
            buffer.clear()
            conn.ws = ws
            self._total_connections += 1
        data, session = self._ws_auth(head)
        with self._cond:
            self._handshakes.append({"path": path, "headers": dict(head.headers), "target": head.target,
                                     "code": data.get("code"), "time": time.time()})
            if data.get("code") == 0:
                if session is not None and session.conn is None and session.channel == "ws":
                    session.conn = conn
                conn.session = data["session"]
                # Registered under the lock with the handshake written: no event can overtake it.
                self._ws_conns.append(conn)
                conn.send_json({"syncId": "", "data": data})
            self._cond.notify_all()
        if data.get("code") != 0:
            try:
                ws.send_text(json.dumps({"syncId": "", "data": data}, ensure_ascii=False))
                ws.close(1000, str(data.get("msg", "")), timeout=1.0)
            except WebSocketClosed:
                pass
            return
        while True:
            try:
                _, payload = ws.recv()
            except WebSocketClosed:
                return
            self._on_ws_frame(conn, payload)

    def _on_ws_frame(self, conn: _Conn, payload: bytes) -> None:
        try:
            frame = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            frame = None
        if not isinstance(frame, dict) or not isinstance(frame.get("command"), str):
            conn.send_json(_state(400))  # bare: no syncId, no data wrapper
            return
        sync_id = frame.get("syncId")
        sync_out = str(sync_id) if sync_id is not None else None
        command = frame["command"]
        sub = frame.get("subCommand")
        content = frame.get("content")
        if content is None:
            content = {}
        plan = self._admit(command, sub if isinstance(sub, str) else None, content if isinstance(content, dict) else {},
                           "ws", conn.session, sync_out)
        if not isinstance(content, dict):
            conn.send_json({"syncId": sync_out, "data": _state(400, "content must be an object")})
            return
        if command in _HTTP_ONLY:
            conn.send_json({"syncId": sync_out, "data": _state(6)})
            return
        self._spawn(f"fakemirai:call:{command[:40]}", self._ws_call, conn, plan, sync_out)

    def _ws_call(self, conn: _Conn, plan: _Plan, sync_id: Optional[str]) -> None:
        answer = self._run(plan, conn.wait_open)
        if answer is not None:
            conn.send_json({"syncId": sync_id, "data": answer})
        elif plan.faults.drop is not None:
            conn.abort()

    # ---- HTTP

    def _serve_http(self, conn: _Conn, head: RequestHead, buffer: bytearray) -> bool:
        if head.header("Transfer-Encoding"):
            send_http_response(conn.io, 411, "only Content-Length bodies are supported")
            return False
        body = read_body(conn, head, buffer, _MAX_BODY)
        if body is None:
            return False
        path = head.path.rstrip("/") or "/"
        if head.method == "GET" and path.startswith("/_image/"):
            with self._cond:
                image_id = path[len("/_image/"):]
                image = self._images.get(image_id)
                self._image_gets[image_id] += 1
                self._cond.notify_all()
            if image is None:
                send_http_response(conn.io, 404, "no such image", keep_alive=head.keep_alive)
            else:
                data, content_type = image
                send_http_response(conn.io, 200, data, headers={"Content-Type": content_type},
                                   keep_alive=head.keep_alive)
            return head.keep_alive
        status, answer = self._http_request(conn, head, path, body)
        if answer is None:
            return False
        send_http_response(conn.io, status, json.dumps(answer, ensure_ascii=False).encode("utf-8"),
                           headers=_JSON, keep_alive=head.keep_alive)
        return head.keep_alive

    def _http_request(self, conn: _Conn, head: RequestHead, path: str,
                      body: bytes) -> Tuple[int, Optional[Dict[str, Any]]]:
        if head.method not in ("GET", "POST"):
            return 405, _state(400, f"method {head.method} not allowed")
        command = path.strip("/").replace("/", "_")
        content: Dict[str, Any] = {k: v[0] for k, v in head.query.items()}
        files: Dict[str, Tuple[Optional[str], bytes]] = {}
        content_type = (head.header("Content-Type") or "").split(";")[0].strip().lower()
        if body.strip():
            if content_type == "multipart/form-data":
                try:
                    fields, files = _parse_multipart(head.header("Content-Type") or "", body)
                except ValueError as exc:
                    return 200, _state(400, str(exc))
                content.update(fields)
            else:
                try:
                    parsed = json.loads(body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    return 200, _state(400)
                if not isinstance(parsed, dict):
                    return 200, _state(400)
                content.update(parsed)
        if command in ("verify", "bind", "release"):
            self._record(command, None, content, "http", None, None)
            return 200, getattr(self, f"_http_{command}")(content)
        if command not in self._builtin and self._faults.handler(command) is None and command not in _HTTP_ONLY:
            return 404, {"code": 404, "msg": f"no route {path}"}  # not a MAH handler at all
        key = self._http_session_key(head, content)
        content.pop("sessionKey", None)
        if command not in _NO_SESSION and not self.single_mode:
            with self._lock:
                session = self._sessions.get(key or "")
                problem = 3 if session is None else (4 if session.qq is None else 0)
            if problem:
                self._record(command, None, content, "http", key, None)
                return 200, _state(problem)
        sub = None
        if command in ("groupConfig", "memberInfo"):
            sub = "get" if head.method == "GET" else "update"
        plan = self._admit(command, sub, content, "http", key, None)
        if command in ("uploadImage", "uploadVoice", "uploadShortVideo", "file_upload"):
            plan.content["_files"] = files
            if content_type != "multipart/form-data":
                return 200, _state(400, "uploads must be multipart/form-data")
        answer = self._run(plan, conn.wait_open)
        if answer is None:
            if plan.faults.drop is not None:
                conn.abort()
            return 0, None
        return 200, answer

    @staticmethod
    def _http_session_key(head: RequestHead, content: Dict[str, Any]) -> Optional[str]:
        key = head.header("sessionKey")
        if key:
            return key
        auth = (head.header("Authorization") or "").strip()
        scheme, _, rest = auth.partition(" ")
        if scheme.lower() in ("session", "sessionkey") and rest.strip():
            return rest.strip()
        value = content.get("sessionKey")
        return str(value) if value else None

    def _http_verify(self, content: Dict[str, Any]) -> Dict[str, Any]:
        if not self._key_ok(content.get("verifyKey") if isinstance(content.get("verifyKey"), str) else None):
            return _state(1)
        with self._lock:
            if self.single_mode:
                return {"code": 0, "session": "SINGLE_SESSION"}
            session = _Session(key=self._new_key(), channel="http")
            self._sessions[session.key] = session
            self._sessions_created += 1
            self._cond.notify_all()
            return {"code": 0, "session": session.key}

    def _http_bind(self, content: Dict[str, Any]) -> Dict[str, Any]:
        if self.single_mode:
            return _state(6)
        try:
            qq = _int(content, "qq")
        except MahError as exc:
            return _state(exc.code, exc.msg)
        with self._lock:
            session = self._sessions.get(str(content.get("sessionKey") or ""))
            if session is None:
                return _state(3)
            if qq != self.qq or not self._account_online:
                return _state(2)
            session.qq = qq
            self._cond.notify_all()
        return _state(0)

    def _http_release(self, content: Dict[str, Any]) -> Dict[str, Any]:
        with self._lock:
            session = self._sessions.get(str(content.get("sessionKey") or ""))
            if session is None:
                return _state(3)
            try:
                qq = _int(content, "qq")
            except MahError as exc:
                return _state(exc.code, exc.msg)
            if session.qq is not None and qq != session.qq:
                return _state(2)
            del self._sessions[session.key]
            self._cond.notify_all()
        return _state(0)

    def _http_queue(self, command: str, key: Optional[str], content: Dict[str, Any]) -> Dict[str, Any]:
        with self._lock:
            session = self._sessions.get(key or "") if not self.single_mode else self._single_http_session()
            if session is None:
                return _state(3)
            if command == "countMessage":
                return _ok(len(session.unread))
            try:
                count = _int(content, "count", default=10)
            except MahError as exc:
                return _state(exc.code, exc.msg)
            queue = session.unread
            if command in ("fetchMessage", "peekMessage"):
                items = list(itertools.islice(queue, 0, max(0, count)))
            else:
                items = list(itertools.islice(queue, max(0, len(queue) - count), len(queue)))
            if command.startswith("fetch"):
                for item in items:
                    queue.remove(item)
            return _ok(copy.deepcopy(items))

    def _single_http_session(self) -> _Session:
        session = self._sessions.get("SINGLE_SESSION")
        if session is None:
            session = _Session(key="SINGLE_SESSION", channel="http", qq=self.qq)
            self._sessions[session.key] = session
        return session

    # ------------------------------------------------------------------ calls and faults

    def _record(self, command: str, sub: Optional[str], content: Dict[str, Any], transport: str,
                session: Optional[str], sync_id: Optional[str]) -> None:
        """Record a call; the caller must NOT hold the lock."""
        with self._cond:
            record = {
                "command": command,
                "subCommand": sub,
                "content": copy.deepcopy(content),
                "transport": transport,
                "session": session,
                "syncId": sync_id,
                "time": time.time(),
            }
            self._calls.append(record)
            self._call_counts[command] += 1
            self._last_call[command] = record
            self._cond.notify_all()

    def _admit(self, command: str, sub: Optional[str], content: Dict[str, Any], transport: str,
               session: Optional[str], sync_id: Optional[str]) -> _Plan:
        self._record(command, sub, content, transport, session, sync_id)
        return _Plan(command, sub, content, transport, session, self._faults.take(command))

    def _run(self, plan: _Plan, wait: Callable[[Optional[float]], bool]) -> Optional[Dict[str, Any]]:
        """Carry out an admitted call; None when no answer is to be sent."""

        def failure(fail: _Failure) -> Dict[str, Any]:
            if fail.not_delivered:
                return {"code": 0, "msg": "success", "messageId": -1}
            return _state(fail.code, fail.msg)

        return carry_out(plan.faults, lambda: self._execute(plan), failure, wait)

    def _execute(self, plan: _Plan) -> Dict[str, Any]:
        custom = self._faults.handler(plan.command)
        try:
            if custom is not None:
                return custom(dict(plan.content))
            handler = self._builtin.get(plan.command)
            if plan.command in ("uploadImage", "uploadVoice", "uploadShortVideo", "file_upload"):
                return self._cmd_upload(plan)
            if handler is None:
                return _state(6)
            return handler(plan)
        except MahError as exc:
            return _state(exc.code, exc.msg)
        except Exception as exc:  # a broken custom handler answers like MAH's catch-all
            log.exception("FakeMirai command %s raised", plan.command)
            return _state(500, f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ commands

    def _next_message_id(self) -> int:
        self._message_id = self._message_id + 1 if self._message_id < _INT32_MAX else 1
        return self._message_id

    def _check_chain(self, chain: Any, kind: str) -> List[Dict[str, Any]]:
        """What MAH would send of ``chain``; raises MahError as MAH answers."""
        if not isinstance(chain, list):
            raise MahError(400, "messageChain must be a list")
        out: List[Dict[str, Any]] = []
        for element in chain:
            if not isinstance(element, dict) or not isinstance(element.get("type"), str):
                raise MahError(400, "every element needs a type")
            t = element["type"]
            if t in _RECEIVE_ONLY:
                continue
            if t not in _SENDABLE:
                raise MahError(400, f"unknown message type {t}")
            if t == "Voice" and kind == "temp":
                continue
            if t in ("Image", "FlashImage", "Voice"):
                id_key = "voiceId" if t == "Voice" else "imageId"
                if not any(element.get(k) for k in (id_key, "url", "path", "base64")):
                    raise MahError(400, f"{t} needs {id_key}, url, path or base64")
                if not element.get(id_key) and not element.get("url") and element.get("path"):
                    with self._lock:
                        if element["path"] not in self._mah_files:
                            raise MahError(6, f"file not found on the mirai host: {element['path']}")
                if not element.get(id_key) and not element.get("url") and element.get("base64"):
                    try:
                        base64.b64decode(element["base64"], validate=True)
                    except (binascii.Error, ValueError):
                        raise MahError(400, f"{t} base64 is not valid base64") from None
            if t == "At":
                target: Any = element.get("target")
                try:
                    int(target)
                except (TypeError, ValueError):
                    raise MahError(400, "At needs a numeric target") from None
            out.append(copy.deepcopy(element))
        if not out:
            raise MahError(500, "java.lang.IllegalArgumentException: message is empty")
        return out

    def _cmd_send_group(self, plan: _Plan) -> Dict[str, Any]:
        target = _int(plan.content, "target", "group")
        return self._send(plan, "group", target)

    def _cmd_send_friend(self, plan: _Plan) -> Dict[str, Any]:
        target = _int(plan.content, "target", "qq")
        return self._send(plan, "friend", target)

    def _cmd_send_temp(self, plan: _Plan) -> Dict[str, Any]:
        qq = _int(plan.content, "qq")
        group = _int(plan.content, "group")
        return self._send(plan, "temp", qq, group)

    def _cmd_send_other_client(self, plan: _Plan) -> Dict[str, Any]:
        return self._send(plan, "other_client", _int(plan.content, "target"))

    def _send(self, plan: _Plan, kind: str, target: int, group: Optional[int] = None) -> Dict[str, Any]:
        chain = self._check_chain(plan.content.get("messageChain"), kind)
        contact = "group" if kind == "group" else "friend"
        quote = plan.content.get("quote")
        with self._cond:
            if quote is not None:
                try:
                    quote_id = int(quote)
                except (TypeError, ValueError):
                    raise MahError(400, "quote must be a message id") from None
                if (contact, target, quote_id) not in self._cache:
                    raise MahError(5, "quoted message not in the cache")
            mid = self._next_message_id()
            now = int(time.time())
            full = [{"type": "Source", "id": mid, "time": now}] + chain
            if quote is not None:
                quoted = self._cache[(contact, target, int(quote))]
                full.insert(1, {"type": "Quote", "id": int(quote), "groupId": target if contact == "group" else 0,
                                "senderId": _sender_id(quoted), "targetId": target,
                                "origin": [e for e in quoted.get("messageChain", []) if e.get("type") != "Source"]})
            event = self._own_message(kind, target, group, full)
            self._store(contact, target, event)
            record = {"messageId": mid, "type": kind, "target": target, "group": group,
                      "messageChain": copy.deepcopy(chain), "quote": quote, "command": plan.command,
                      "transport": plan.transport, "time": time.time()}
            self._sent.append(record)
            self._cond.notify_all()
        return {"code": 0, "msg": "success", "messageId": mid}

    def _own_message(self, kind: str, target: int, group: Optional[int], chain: List[Dict[str, Any]]) -> Dict[str, Any]:
        if kind == "group":
            return {"type": "GroupSyncMessage", "subject": self._group_obj(target), "messageChain": chain}
        if kind == "temp":
            member = self._member_obj(group or 0, target)
            return {"type": "TempSyncMessage", "subject": member, "messageChain": chain}
        return {"type": "FriendSyncMessage", "subject": self._friend_obj(target), "messageChain": chain}

    def _store(self, contact: str, target: int, event: Dict[str, Any]) -> None:
        """Cache (messageFromId, quote) and history (roamingMessages); caller holds the lock."""
        mid = int(event["messageChain"][0]["id"])
        self._cache[(contact, target, mid)] = event
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        self._history.setdefault((contact, target), []).append(event)

    def _version(self) -> Tuple[int, int, int]:
        parts = (self.version.lstrip("v").split(".") + ["0", "0"])[:3]
        try:
            return int(parts[0]), int(parts[1]), int(parts[2])
        except ValueError:
            return 2, 10, 0

    def _cmd_recall(self, plan: _Plan) -> Dict[str, Any]:
        with self._cond:
            if self._version() < (2, 6, 0):
                mid = _int(plan.content, "target")
                found = [k for k in self._cache if k[2] == mid]
            else:
                target = _int(plan.content, "target")
                mid = _int(plan.content, "messageId")
                found = [k for k in self._cache if k[1] == target and k[2] == mid]
            if not found:
                raise MahError(5, "message not in the cache")
            key = found[0]
            self._recalled.append({"contact": key[0], "target": key[1], "messageId": key[2], "time": time.time()})
            self._cond.notify_all()
        return _state(0)

    def _cmd_message_from_id(self, plan: _Plan) -> Dict[str, Any]:
        version = self._version()
        with self._lock:
            if version < (2, 6, 0):
                mid = _int(plan.content, "id")
                found = [v for k, v in self._cache.items() if k[2] == mid]
            else:
                mid = _int(plan.content, "id" if version < (2, 7, 0) else "messageId")
                target = _int(plan.content, "target")
                found = [v for k, v in self._cache.items() if k[1] == target and k[2] == mid]
            if not found:
                raise MahError(5, "message not in the cache")
            return _ok(copy.deepcopy(found[0]))

    def _cmd_roaming(self, plan: _Plan) -> Dict[str, Any]:
        target = _int(plan.content, "target")
        start = _int(plan.content, "timeStart", default=0)
        end = _int(plan.content, "timeEnd", default=_INT32_MAX)
        with self._lock:
            key: Optional[Tuple[str, int]] = None
            if ("friend", target) in self._history or target in self._friends:
                key = ("friend", target)
            elif self._version() >= (2, 10, 0) and (("group", target) in self._history or target in self._groups):
                key = ("group", target)
            if key is None:
                raise MahError(5, "friend not found")
            items = [e for e in self._history.get(key, []) if start <= int(e["messageChain"][0]["time"]) <= end]
            return _ok(copy.deepcopy(items))

    def _cmd_member_list(self, plan: _Plan) -> Dict[str, Any]:
        group = _int(plan.content, "target")
        with self._lock:
            if group not in self._groups:
                raise MahError(5, "group not found")
            return _ok([self._member_obj(group, m) for m in self._members.get(group, {}) if m != self.qq])

    def _cmd_group_config(self, plan: _Plan) -> Dict[str, Any]:
        group = _int(plan.content, "target")
        with self._lock:
            if group not in self._groups:
                raise MahError(5, "group not found")
            if plan.sub_command == "update":
                config = plan.content.get("config") or {}
                if isinstance(config, dict) and config.get("name"):
                    self._groups[group] = str(config["name"])
                return _state(0)
            return {"name": self._groups[group], "announcement": "", "confessTalk": False,
                    "allowMemberInvite": False, "autoApprove": False, "anonymousChat": False, "muteAll": False}

    def _cmd_member_info(self, plan: _Plan) -> Dict[str, Any]:
        group = _int(plan.content, "target")
        member = _int(plan.content, "memberId")
        with self._lock:
            if member not in self._members.get(group, {}):
                raise MahError(5, "member not found")
            if plan.sub_command == "update":
                info = plan.content.get("info") or {}
                if isinstance(info, dict):
                    if info.get("name") is not None:
                        self._members[group][member]["memberName"] = str(info["name"])
                    if info.get("specialTitle") is not None:
                        self._members[group][member]["specialTitle"] = str(info["specialTitle"])
                return _state(0)
            obj = self._member_obj(group, member)
            obj["active"] = {"rank": 1, "point": 0, "honors": [], "temperature": 1}
            return obj

    def _profile(self, nickname: str) -> Dict[str, Any]:
        return {"nickname": nickname, "email": "", "age": 0, "level": 1, "sign": "", "sex": "UNKNOWN"}

    def _cmd_upload(self, plan: _Plan) -> Dict[str, Any]:
        files: Dict[str, Tuple[Optional[str], bytes]] = plan.content.get("_files") or {}
        field_name = {"uploadImage": "img", "uploadVoice": "voice", "uploadShortVideo": "video",
                      "file_upload": "file"}[plan.command]
        kind = str(plan.content.get("type", ""))
        if plan.command != "file_upload" and kind not in ("friend", "group", "temp"):
            raise MahError(400, "type must be friend, group or temp")
        if field_name in files:
            filename, data = files[field_name]
        elif plan.content.get("url") and plan.command in ("uploadImage", "uploadVoice"):
            filename, data = None, b""
        else:
            raise MahError(400, f"missing field {field_name}")
        record = {"command": plan.command, "type": kind, "filename": filename, "data": data,
                  "url": plan.content.get("url"), "target": plan.content.get("target"),
                  "path": plan.content.get("path"), "session": plan.session, "time": time.time()}
        with self._cond:
            self._uploads.append(record)
            self._cond.notify_all()
            if plan.command == "uploadImage":
                image_id = "{" + str(uuid.uuid4()).upper() + "}.jpg"
                self._images[image_id] = (data, "image/png")
                return {"imageId": image_id, "url": f"{self.url}/_image/{image_id}"}
            if plan.command == "uploadVoice":
                return {"voiceId": uuid.uuid4().hex.upper() + ".amr"}
            if plan.command == "uploadShortVideo":
                return {"videoId": uuid.uuid4().hex}
            return _ok({"id": "/" + uuid.uuid4().hex, "name": filename or "file", "path": "/" + (filename or "file"),
                        "parent": None, "contact": {"id": _int(plan.content, "target", default=0)},
                        "isFile": True, "isDictionary": False, "isDirectory": False, "size": len(data)})

    # ------------------------------------------------------------------ test data (callers of the *_obj hold the lock)

    def _group_obj(self, group: int) -> Dict[str, Any]:
        self._groups.setdefault(group, f"group{group}")
        return {"id": group, "name": self._groups[group], "permission": "MEMBER"}

    def _member_obj(self, group: int, qq: int) -> Dict[str, Any]:
        members = self._members.setdefault(group, {})
        info = members.setdefault(qq, {"memberName": f"user{qq}", "specialTitle": "", "permission": "MEMBER"})
        return {
            "id": qq,
            "memberName": info["memberName"],
            "specialTitle": info["specialTitle"],
            "permission": info["permission"],
            "joinTimestamp": 0,
            "lastSpeakTimestamp": int(time.time()),
            "muteTimeRemaining": 0,
            "group": self._group_obj(group),
        }

    def _friend_obj(self, qq: int) -> Dict[str, Any]:
        info = self._friends.get(qq) or {"nickname": f"user{qq}", "remark": ""}
        return {"id": qq, "nickname": info["nickname"], "remark": info["remark"]}

    def _friend_list(self) -> List[Dict[str, Any]]:
        with self._lock:
            return [self._friend_obj(qq) for qq in self._friends]

    def _group_list(self) -> List[Dict[str, Any]]:
        with self._lock:
            return [self._group_obj(g) for g in list(self._groups)]

    def add_group(self, group: int, name: Optional[str] = None) -> None:
        """Make ``group`` known (``groupList``, ``memberList``), optionally with a name."""
        with self._lock:
            self._groups[int(group)] = name or self._groups.get(int(group), f"group{group}")

    def add_member(self, group: int, qq: int, *, name: Optional[str] = None, permission: str = "MEMBER") -> None:
        """Add (or update) a group member."""
        with self._lock:
            self._group_obj(int(group))
            self._member_obj(int(group), int(qq))
            info = self._members[int(group)][int(qq)]
            if name is not None:
                info["memberName"] = name
            info["permission"] = permission

    def add_friend(self, qq: int, *, nickname: Optional[str] = None, remark: str = "") -> None:
        """Add (or update) a friend (``friendList``, roamingMessages)."""
        with self._lock:
            self._friends[int(qq)] = {"nickname": nickname or f"user{qq}", "remark": remark}

    def add_image(self, data: bytes, *, content_type: str = "image/png") -> Dict[str, Any]:
        """Host ``data`` as an image (what QQ's image servers do for received images).

        Returns:
            A MAH ``Image`` element, ``{"type": "Image", "imageId", "url"}``, with a
            url on this server; put it in an emitted message. The url serves
            ``data`` with ``content_type`` (``"text/html"`` makes an expired-link page).
        """
        image_id = "{" + str(uuid.uuid4()).upper() + "}.jpg"
        with self._lock:
            self._images[image_id] = (bytes(data), content_type)
        return {"type": "Image", "imageId": image_id, "url": f"{self.url}/_image/{image_id}"}

    def image_downloads(self, image_id: str) -> int:
        """How many times the url of ``image_id`` was requested."""
        with self._lock:
            return self._image_gets[image_id]

    def add_mah_file(self, path: str, data: bytes = b"") -> None:
        """Make ``path`` exist on the mirai host (an Image ``path`` then works instead of code 6)."""
        with self._lock:
            self._mah_files[path] = bytes(data)

    # ------------------------------------------------------------------ events

    def push(self, event: Dict[str, Any]) -> Dict[str, Any]:
        """Send ``event`` to every WebSocket (by path) and every bound HTTP session's queue.

        Returns once the frame is written to every socket (half-open ones drop it).
        """
        is_message = str(event.get("type", "")).endswith("Message")
        frame = json.dumps({"syncId": self.reserved_sync_id, "data": event}, ensure_ascii=False)
        with self._lock:
            targets = [c for c in self._ws_conns if c.wants(is_message)]
            for session in self._sessions.values():
                if session.channel == "http" and session.qq is not None:
                    if len(session.unread) >= self.unread_queue_max_size:
                        self.unread_dropped += 1
                    else:
                        session.unread.append(copy.deepcopy(event))
        for conn in targets:
            ws = conn.ws
            if ws is not None:
                try:
                    ws.send_text(frame)
                except WebSocketClosed:
                    pass
        return event

    def _chain(self, message: MessageInput) -> List[Dict[str, Any]]:
        if isinstance(message, str):
            return [{"type": "Plain", "text": message}]
        if isinstance(message, dict):
            return [copy.deepcopy(message)]
        if isinstance(message, list):
            return [{"type": "Plain", "text": e} if isinstance(e, str) else copy.deepcopy(e) for e in message]
        raise TypeError("message must be a str, an element or a list of elements")

    def _incoming(self, contact: str, chat: int, event: Dict[str, Any], message: MessageInput,
                  message_id: Optional[int]) -> Dict[str, Any]:
        chain = [e for e in self._chain(message) if e.get("type") != "Source"]
        with self._lock:
            mid = self._next_message_id() if message_id is None else int(message_id)
            event["messageChain"] = [{"type": "Source", "id": mid, "time": int(time.time())}] + chain
            self._store(contact, chat, event)
            out = copy.deepcopy(event)
        return self.push(out)

    def emit_group_message(self, group: int, sender: int, message: MessageInput, *,
                           message_id: Optional[int] = None, member_name: Optional[str] = None,
                           permission: Optional[str] = None) -> Dict[str, Any]:
        """Deliver a ``GroupMessage`` from ``sender`` in ``group`` (kept in the cache and history).

        ``message``: a str (one Plain), an element, or a list of elements and strs.

        Returns:
            The event as pushed.
        """
        with self._lock:
            self._member_obj(int(group), int(sender))
            info = self._members[int(group)][int(sender)]
            if member_name is not None:
                info["memberName"] = member_name
            if permission is not None:
                info["permission"] = permission
            event = {"type": "GroupMessage", "sender": self._member_obj(int(group), int(sender))}
        return self._incoming("group", int(group), event, message, message_id)

    def emit_friend_message(self, sender: int, message: MessageInput, *,
                            message_id: Optional[int] = None) -> Dict[str, Any]:
        """Deliver a ``FriendMessage`` from ``sender``."""
        with self._lock:
            event = {"type": "FriendMessage", "sender": self._friend_obj(int(sender))}
        return self._incoming("friend", int(sender), event, message, message_id)

    def emit_temp_message(self, sender: int, group: int, message: MessageInput, *,
                          message_id: Optional[int] = None) -> Dict[str, Any]:
        """Deliver a ``TempMessage`` from ``sender`` through ``group``."""
        with self._lock:
            event = {"type": "TempMessage", "sender": self._member_obj(int(group), int(sender))}
        return self._incoming("friend", int(sender), event, message, message_id)

    def emit_stranger_message(self, sender: int, message: MessageInput, *,
                              message_id: Optional[int] = None) -> Dict[str, Any]:
        """Deliver a ``StrangerMessage`` from ``sender``."""
        event = {"type": "StrangerMessage", "sender": {"id": int(sender), "nickname": f"user{sender}", "remark": ""}}
        return self._incoming("friend", int(sender), event, message, message_id)

    def emit_sync_message(self, kind: str, target: int, message: MessageInput, *, group: Optional[int] = None,
                          message_id: Optional[int] = None) -> Dict[str, Any]:
        """Deliver a ``GroupSyncMessage`` / ``FriendSyncMessage`` / ``TempSyncMessage``
        / ``StrangerSyncMessage``: the bot's own message sent from another client.

        Args:
            kind: ``"group"``, ``"friend"``, ``"temp"`` or ``"stranger"``.
            target: the chat (group id, or the friend's qq).
            group: the group of a temp chat.
        """
        if kind not in ("group", "friend", "temp", "stranger"):
            raise ValueError(f"kind must be group, friend, temp or stranger, not {kind!r}")
        with self._lock:
            if kind == "group":
                subject = self._group_obj(int(target))
            elif kind == "temp":
                subject = self._member_obj(int(group or 0), int(target))
            else:
                subject = self._friend_obj(int(target))
        event = {"type": kind.capitalize() + "SyncMessage", "subject": subject}
        return self._incoming("group" if kind == "group" else "friend", int(target), event, message, message_id)

    def emit_event(self, event_type: str, **fields: Any) -> Dict[str, Any]:
        """Push any non-message event, e.g.
        ``emit_event("MemberJoinRequestEvent", eventId=1, fromId=2, groupId=3, groupName="g", nick="n",
        message="hi", invitorId=None)``."""
        event = {"type": event_type}
        event.update(fields)
        return self.push(event)

    def send_garbage(self, data: Union[str, bytes] = "not json{", *, binary: bool = False) -> None:
        """Send a frame that is not a MAH frame to every WebSocket."""
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        with self._lock:
            targets = list(self._ws_conns)
        for conn in targets:
            if conn.ws is not None:
                try:
                    conn.ws.send(OP_BINARY if binary else OP_TEXT, payload)
                except WebSocketClosed:
                    pass

    # ------------------------------------------------------------------ observation

    @property
    def calls(self) -> List[Dict[str, Any]]:
        """Every command received, oldest first: ``{"command", "subCommand",
        "content", "transport": "ws" | "http", "session", "syncId", "time"}``
        (``verify`` / ``bind`` / ``release`` and polling included)."""
        with self._lock:
            return copy.deepcopy(self._calls)

    def wait_for_call(self, command: str, timeout: float = 5.0, count: int = 1) -> Dict[str, Any]:
        """Block until ``count`` calls of ``command`` have arrived in total; return the latest.

        Raises:
            TimeoutError: fewer arrived within ``timeout`` seconds.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._call_counts[command] >= count, timeout):
                raise TimeoutError(f"{command} was called {self._call_counts[command]} time(s) in {timeout}s, "
                                   f"expected {count}")
            return copy.deepcopy(self._last_call[command])

    @property
    def sent_messages(self) -> List[Dict[str, Any]]:
        """Messages really delivered, oldest first: ``{"messageId", "type": "group" |
        "friend" | "temp" | "other_client", "target", "group" (temp), "messageChain"
        (as sent, without Source), "quote", "command", "transport", "time"}``."""
        with self._lock:
            return copy.deepcopy(self._sent)

    def wait_for_message(self, timeout: float = 5.0, count: int = 1) -> Dict[str, Any]:
        """Block until ``count`` messages were delivered in total; return the latest.

        Raises:
            TimeoutError: fewer were within ``timeout`` seconds.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._sent) >= count, timeout):
                raise TimeoutError(f"{len(self._sent)} message(s) delivered in {timeout}s, expected {count}")
            return copy.deepcopy(self._sent[-1])

    @property
    def recalled(self) -> List[Dict[str, Any]]:
        """Messages recalled: ``{"contact": "group" | "friend", "target", "messageId", "time"}``."""
        with self._lock:
            return copy.deepcopy(self._recalled)

    @property
    def uploads(self) -> List[Dict[str, Any]]:
        """Uploads received: ``{"command", "type", "filename", "data" (bytes), "url", "target",
        "path", "session", "time"}``."""
        with self._lock:
            return copy.deepcopy(self._uploads)

    def history(self, *, group: Optional[int] = None, friend: Optional[int] = None) -> List[Dict[str, Any]]:
        """The messages of one chat, received and sent (the bot's as ``*SyncMessage``), oldest first."""
        if (group is None) == (friend is None):
            raise ValueError("give exactly one of group or friend")
        key = ("group", int(group)) if group is not None else ("friend", int(friend))  # type: ignore[arg-type]
        with self._lock:
            return copy.deepcopy(self._history.get(key, []))

    @property
    def sessions(self) -> List[Dict[str, Any]]:
        """Live sessions: ``{"key", "channel": "ws" | "http", "qq" (None: not bound), "unread"}``."""
        with self._lock:
            return [{"key": s.key, "channel": s.channel, "qq": s.qq, "unread": len(s.unread)}
                    for s in self._sessions.values()]

    @property
    def sessions_created(self) -> int:
        """Sessions created since start (ws handshakes and ``/verify``)."""
        with self._lock:
            return self._sessions_created

    @property
    def handshakes(self) -> List[Dict[str, Any]]:
        """Every WebSocket handshake: ``{"path", "headers", "target", "code", "time"}``."""
        with self._lock:
            return copy.deepcopy(self._handshakes)

    def wait_for_connections(self, n: int, timeout: float = 5.0) -> None:
        """Block until ``n`` authenticated WebSocket sessions were opened in total.

        Raises:
            TimeoutError: fewer within ``timeout`` seconds.
        """
        def opened() -> int:
            return sum(1 for h in self._handshakes if h["code"] == 0)

        with self._cond:
            if not self._cond.wait_for(lambda: opened() >= n, timeout):
                raise TimeoutError(f"{opened()} WebSocket session(s) in {timeout}s, expected {n}")

    def wait_for_handshakes(self, n: int, timeout: float = 5.0) -> Dict[str, Any]:
        """Block until ``n`` WebSocket handshakes (successful or not) happened; return the latest.

        Raises:
            TimeoutError: fewer within ``timeout`` seconds.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._handshakes) >= n, timeout):
                raise TimeoutError(f"{len(self._handshakes)} handshake(s) in {timeout}s, expected {n}")
            return copy.deepcopy(self._handshakes[-1])

    # ------------------------------------------------------------------ faults

    def restart(self) -> None:
        """A MAH restart: every connection dropped (1006), every session and unread
        queue forgotten (old keys now get code 3), the message cache emptied."""
        with self._cond:
            conns = list(self._conns)
            self._ws_conns.clear()
            self._sessions.clear()
            self._cache.clear()
            self._cond.notify_all()
        for conn in conns:
            conn.abort()

    def set_account_online(self, online: bool) -> None:
        """Log the bot account in or out of this mirai: while out, the ws handshake and
        ``/bind`` answer code 2 (an already open session keeps working)."""
        with self._lock:
            self._account_online = bool(online)

    def down(self) -> None:
        """Stop listening and drop every connection; connects are refused until :meth:`up`.
        Sessions survive (use :meth:`restart` as well for a MAH restart).

        Raises:
            RuntimeError: the server is not running.
        """
        super().down()

    def fail_next(self, command: str, code: int = 500, msg: Optional[str] = None, *, deliver: bool = False,
                  times: int = 1) -> None:
        """Answer the next ``times`` calls of ``command`` with ``{"code": code, "msg": msg}``.

        Args:
            deliver: run the command first (a send is really delivered), then
                answer with the failure: MAH's code 500 after a send that went out.
        """
        self._faults.fail(command, _Failure(int(code), msg), times=int(times), deliver=deliver)

    def not_delivered(self, command: str = "sendGroupMessage", *, times: int = 1) -> None:
        """Answer the next ``times`` sends with ``code 0, messageId -1`` without delivering
        them (mirai took them, QQ gave no receipt: risk control)."""
        self._faults.fail(command, _Failure(0, None, not_delivered=True), times=int(times))

    def delay(self, command: str, seconds: float, *, times: Optional[int] = None, deliver: bool = False) -> None:
        """Answer ``command`` only after ``seconds`` (``deliver=True``: run it at once, answer late)."""
        self._faults.delay(command, seconds, times=times, deliver=deliver)

    def stall(self, command: str, *, times: Optional[int] = None, deliver: bool = False) -> None:
        """Never answer ``command`` (until the connection closes); ``deliver=True`` still runs it."""
        self._faults.stall(command, times=times, deliver=deliver)

    def drop_after(self, command: str, *, deliver: bool = True, times: int = 1) -> None:
        """Drop the connection instead of answering the next ``times`` calls of ``command``,
        after running them (``deliver=True``) or without."""
        self._faults.drop(command, times=int(times), deliver=deliver)

    def set_command(self, command: str, handler: Optional[CommandHandler]) -> None:
        """Implement (or override) ``command`` with ``handler(content) -> answer dict``;
        raise :class:`MahError` to answer a code. ``None`` removes it."""
        self._faults.set_handler(command, handler)

    def reset_faults(self) -> None:
        """Forget every delay, stall, drop and pending failure."""
        self._faults.reset()


def _sender_id(event: Dict[str, Any]) -> int:
    sender = event.get("sender") or {}
    try:
        return int(sender.get("id", 0))
    except (TypeError, ValueError):
        return 0


def _parse_multipart(content_type: str, body: bytes) -> Tuple[Dict[str, str], Dict[str, Tuple[Optional[str], bytes]]]:
    """Fields and files of a ``multipart/form-data`` body.

    Raises:
        ValueError: no boundary, or not multipart.
    """
    if "boundary=" not in content_type:
        raise ValueError("multipart body without a boundary")
    raw = b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    if not message.is_multipart():
        raise ValueError("not a multipart body")
    fields: Dict[str, str] = {}
    files: Dict[str, Tuple[Optional[str], bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        decoded: Any = part.get_payload(decode=True)
        payload = decoded if isinstance(decoded, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files[str(name)] = (filename, payload)
        else:
            fields[str(name)] = payload.decode("utf-8", "replace")
    return fields, files
