"""FakeOfficial: the official QQ Bot API on localhost (token, gateway, REST), with faults on demand.

One TCP port serves everything a bot talks to (qq-official.md):

* ``POST /app/getAppAccessToken`` - the AccessToken (``expires_in`` a string; the
  same token until its last 60 s, then a new one while the old stays valid);
* ``GET /gateway``, ``GET /gateway/bot``, ``GET /users/@me``;
* the gateway WebSocket at ``/websocket``: Hello, Identify (token, intents, shard),
  Resume (missed dispatches replayed, then ``RESUMED``), heartbeats and ACKs;
* REST sends: ``/v2/users/{openid}/messages``, ``/v2/groups/{group_openid}/messages``,
  ``/channels/{channel_id}/messages``, ``/dms/{guild_id}/messages``, uploads at
  ``/v2/users/{openid}/files`` and ``/v2/groups/{group_openid}/files``,
  ``PUT /interactions/{id}``;

with the platform's rules: ``msg_seq`` de-duplication (40054005), the passive
window (5 min group, 60 min C2C) and the 5-reply budget (22009), ``msg_id``
checked against the chat (40034024), proactive sends allowed or refused per
scene (40034102), the markdown grant (40034012 / 304041), stream validation
(C2C only, no ``stream.id: null``, the id of an open stream, the final chunk's
``"\\n"``), media ``file_info`` per scope with a ``ttl``.

Faults: :meth:`FakeOfficial.drop_connections`, :meth:`~FakeOfficial.half_open`,
:meth:`~FakeOfficial.no_heartbeat_ack`, :meth:`~FakeOfficial.close_connections`
(any code), :meth:`~FakeOfficial.send_reconnect` (op 7),
:meth:`~FakeOfficial.invalidate_session` (op 9), :meth:`~FakeOfficial.expire_tokens`,
:meth:`~FakeOfficial.reject_token` (401/11244), :meth:`~FakeOfficial.fail_next`
(5xx or any code, before or after delivery), :meth:`~FakeOfficial.delay` (timeouts),
:meth:`~FakeOfficial.drop_next`, :meth:`~FakeOfficial.rate_limit_token`,
:meth:`~FakeOfficial.advance` (the platform's clock). :meth:`~FakeOfficial.post_webhook`
signs events (ed25519) and POSTs them to a bot's webhook.

Codes the platform does not document (a null ``stream.id``, an unknown stream)
are this fake's own, in the FAILED class of :mod:`qqreliable.official.codes`.

Threads are named ``fakeofficial:…`` and joined by :meth:`FakeOfficial.stop`.
"""

from __future__ import annotations

import base64
import binascii
import collections
import copy
import hashlib
import http.client
import itertools
import json
import logging
import re
import secrets
import socket
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple
from urllib.parse import urlsplit

from ..transport.wsserver import HandshakeError, RequestHead, WebSocketClosed, accept_websocket, send_http_response
from ._server import _CLOSE_TIMEOUT, FakeServer, RuleQueue, _BaseConn, read_body

__all__ = ["FakeOfficial", "ALL_INTENTS"]

log = logging.getLogger(__name__)

ALL_INTENTS = (1 << 0) | (1 << 1) | (1 << 9) | (1 << 10) | (1 << 12) | (1 << 18) | (1 << 19) | (1 << 25) | (
    1 << 26) | (1 << 27) | (1 << 28) | (1 << 29) | (1 << 30)
_INTENT_OF = {
    "C2C_MESSAGE_CREATE": 1 << 25, "GROUP_AT_MESSAGE_CREATE": 1 << 25, "GROUP_MESSAGE_CREATE": 1 << 25,
    "FRIEND_ADD": 1 << 25, "FRIEND_DEL": 1 << 25, "C2C_MSG_REJECT": 1 << 25, "C2C_MSG_RECEIVE": 1 << 25,
    "GROUP_ADD_ROBOT": 1 << 25, "GROUP_DEL_ROBOT": 1 << 25, "GROUP_MSG_REJECT": 1 << 25,
    "GROUP_MSG_RECEIVE": 1 << 25, "AT_MESSAGE_CREATE": 1 << 30, "MESSAGE_CREATE": 1 << 9,
    "DIRECT_MESSAGE_CREATE": 1 << 12, "INTERACTION_CREATE": 1 << 26,
}
WINDOWS = {"c2c": 3600.0, "group": 300.0, "guild": 300.0, "direct": 300.0}
_MAX_BODY = 32 * 1024 * 1024

ROUTES = (
    "token", "gateway", "me", "c2c", "group", "channel", "dms", "c2c_files", "group_files", "interaction",
    "c2c_prepare", "group_prepare", "c2c_part_finish", "group_part_finish", "cos",
)
_PATHS: List[Tuple[str, str, "re.Pattern[str]"]] = [
    ("POST", "token", re.compile(r"^/app/getAppAccessToken$")),
    ("GET", "gateway", re.compile(r"^/gateway(?:/bot)?$")),
    ("GET", "me", re.compile(r"^/users/@me$")),
    ("POST", "c2c", re.compile(r"^/v2/users/(?P<target>[^/]+)/messages$")),
    ("POST", "group", re.compile(r"^/v2/groups/(?P<target>[^/]+)/messages$")),
    ("POST", "channel", re.compile(r"^/channels/(?P<target>[^/]+)/messages$")),
    ("POST", "dms", re.compile(r"^/dms/(?P<target>[^/]+)/messages$")),
    ("POST", "c2c_files", re.compile(r"^/v2/users/(?P<target>[^/]+)/files$")),
    ("POST", "group_files", re.compile(r"^/v2/groups/(?P<target>[^/]+)/files$")),
    ("PUT", "interaction", re.compile(r"^/interactions/(?P<target>[^/]+)$")),
    ("POST", "c2c_prepare", re.compile(r"^/v2/users/(?P<target>[^/]+)/upload_prepare$")),
    ("POST", "group_prepare", re.compile(r"^/v2/groups/(?P<target>[^/]+)/upload_prepare$")),
    ("POST", "c2c_part_finish", re.compile(r"^/v2/users/(?P<target>[^/]+)/upload_part_finish$")),
    ("POST", "group_part_finish", re.compile(r"^/v2/groups/(?P<target>[^/]+)/upload_part_finish$")),
    ("PUT", "cos", re.compile(r"^/cos/(?P<target>[^/]+/\d+)$")),
]
_SCENE_OF_ROUTE = {"c2c": "c2c", "group": "group", "channel": "guild", "dms": "direct",
                   "c2c_files": "c2c", "group_files": "group", "c2c_prepare": "c2c", "group_prepare": "group",
                   "c2c_part_finish": "c2c", "group_part_finish": "group"}


class _Reject(Exception):
    """A platform refusal: HTTP status, code, message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class _Rule:
    kind: str  # "fail", "delay", "drop", "audit"
    deliver: bool
    status: int = 500
    code: Optional[int] = None
    message: str = ""
    seconds: float = 0.0
    retry_after: Optional[float] = None


def _shard_of(d: Dict[str, Any], count: int) -> int:
    """The shard a dispatch goes to (qq-official.md §3.8): guild events by
    ``(guild_id >> 22) % count`` (a non-numeric id by its CRC), everything else shard 0."""
    if count <= 1:
        return 0
    guild = d.get("guild_id")
    if guild in (None, ""):
        return 0
    text = str(guild)
    number = int(text) if text.isdigit() else zlib.crc32(text.encode("utf-8"))
    return (number >> 22) % count


@dataclass
class _Session:
    id: str
    intents: int
    shard: Tuple[int, int]
    seq: int = 0
    frames: Deque[Dict[str, Any]] = field(default_factory=lambda: collections.deque(maxlen=5000))
    conn: Optional[_BaseConn] = None


@dataclass
class _Inbound:
    scene: str
    target: str
    received: float
    seqs: Set[int] = field(default_factory=set)
    count: int = 0


@dataclass
class _Stream:
    id: str
    target: str
    record: Dict[str, Any]
    next_index: int
    closed: bool = False


class FakeOfficial(FakeServer):
    """The official QQ Bot API on 127.0.0.1 for tests. Every public method is thread-safe.

    ::

        with FakeOfficial() as official:
            bot = OfficialBot(app_id=official.app_id, secret=official.secret,
                              api_base=official.url, token_url=official.token_url)
            ...
            msg = official.emit_c2c_message("user1", "ping")
            official.wait_for_sent(1)

    Args:
        host: interface to bind.
        port: 0 picks a free port.
        app_id: the AppID accepted by the token endpoint.
        secret: the AppSecret accepted (and the webhook signing seed).
        bot_id: the bot's user id (READY, ``/users/@me``).
        heartbeat_interval: seconds, sent in Hello as milliseconds.
        token_ttl: seconds an access token lives.
        markdown: whether the bot holds the markdown grant.
        proactive: scenes where proactive messages are allowed.
        allowed_intents: intents the bot may ask for (others close with 4014).
        file_ttl: seconds a ``file_info`` stays usable.
        shards: the recommended shard count of ``/gateway/bot``.
    """

    NAME = "FakeOfficial"
    THREAD_PREFIX = "fakeofficial"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        app_id: str = "102000001",
        secret: str = "fake-official-secret",
        bot_id: str = "11843720987345621004",  # numeric, as the platform (qq-botpy int()s it)
        bot_name: str = "FakeOfficialBot",
        heartbeat_interval: float = 41.25,
        token_ttl: int = 7200,
        markdown: bool = True,
        proactive: Tuple[str, ...] = ("c2c", "group", "guild", "direct"),
        allowed_intents: int = ALL_INTENTS,
        file_ttl: int = 3600,
        shards: int = 1,
    ) -> None:
        self._init_server(host, port, reentrant=True)
        self.app_id = str(app_id)
        self.secret = secret
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.heartbeat_interval = heartbeat_interval
        self.token_ttl = token_ttl
        self.markdown = markdown
        self.proactive: Set[str] = set(proactive)
        self.allowed_intents = allowed_intents
        self.file_ttl = file_ttl
        self.shards = shards
        #: What ``/gateway`` and ``/gateway/bot`` answer as ``url`` (None: this fake's own
        #: WebSocket); set it to a dead URL to see a client find the gateway again.
        self.gateway_url: Optional[str] = None

        self._offset = 0.0

        self._tokens: Dict[str, float] = {}  # token -> expiry (platform clock)
        self._current_token: Optional[str] = None
        self._token_rate_limited = 0
        self._token_rejections = 0
        self._rules: RuleQueue[_Rule] = RuleQueue()  # per route, taken in order
        self._sessions: Dict[str, _Session] = {}
        self._no_ack = False
        self._resume_rejections: List[int] = []
        self._inbound: Dict[str, _Inbound] = {}
        self._streams: Dict[str, _Stream] = {}
        self._files: Dict[str, Dict[str, Any]] = {}
        self._chunked: Dict[str, Dict[str, Any]] = {}
        self._sent: List[Dict[str, Any]] = []
        self._uploads: List[Dict[str, Any]] = []
        self._calls: List[Dict[str, Any]] = []
        self._frames: List[Dict[str, Any]] = []
        self._interactions: List[Dict[str, Any]] = []
        self._audits: List[Dict[str, Any]] = []
        self._webhooks: List[Dict[str, Any]] = []
        self._ready_count = 0
        self._resumed_count = 0
        self._identify_count = 0
        self._msg_ids = itertools.count(1)

    # ------------------------------------------------------------------ URLs

    @property
    def token_url(self) -> str:
        """``http://127.0.0.1:<port>/app/getAppAccessToken`` (``token_url=`` of a bot)."""
        return f"{self.url}/app/getAppAccessToken"

    @property
    def ws_url(self) -> str:
        """The gateway, ``ws://127.0.0.1:<port>/websocket``."""
        return f"ws://{self._url_host}:{self.port}/websocket"

    # ------------------------------------------------------------------ lifecycle

    def __repr__(self) -> str:
        return f"FakeOfficial({self.url})"

    def _new_conn(self, conn_id: int, sock: socket.socket, peer: Any) -> _BaseConn:
        return _BaseConn(conn_id, sock)

    def _on_conn_end(self, conn: _BaseConn) -> None:
        for session in self._sessions.values():
            if session.conn is conn:
                session.conn = None

    # ------------------------------------------------------------------ clock

    def _now(self) -> float:
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the platform's clock forward: tokens, reply windows and ``file_info``
        age by ``seconds`` at once (the bot's own clock is not touched)."""
        with self._lock:
            self._offset += float(seconds)

    # ---- HTTP

    def _serve_http(self, conn: _BaseConn, head: RequestHead, buffer: bytearray) -> bool:
        body = read_body(conn, head, buffer, _MAX_BODY)
        if body is None:
            return False
        answer = self._http(conn, head, body)
        if answer is None:
            return False
        status, payload, extra = answer
        # Exactly "application/json", as the platform sends it (qq-botpy compares it verbatim).
        headers = {"Content-Type": "application/json", "X-Tps-trace-ID": uuid.uuid4().hex}
        headers.update(extra)
        data = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        send_http_response(conn.io, status, data, headers=headers, keep_alive=head.keep_alive)
        return head.keep_alive

    def _http(self, conn: _BaseConn, head: RequestHead, body: bytes) -> Optional[Tuple[int, Any, Dict[str, str]]]:
        path = head.path
        route, target = "", ""
        for method, name, pattern in _PATHS:
            match = pattern.match(path)
            if match and head.method == method:
                route, target = name, match.groupdict().get("target", "")
                break
        if route == "cos":
            obj: Any = {"bytes": len(body)}
        else:
            try:
                obj = json.loads(body.decode("utf-8")) if body.strip() else {}
            except (UnicodeDecodeError, ValueError):
                obj = None
        with self._cond:
            self._calls.append({
                "method": head.method, "path": path, "route": route, "target": target,
                "json": copy.deepcopy(obj), "authorization": head.header("Authorization"),
                "time": time.time(),
            })
            self._cond.notify_all()
            rule = self._rules.take(route) if route else None
        if not route:
            return 404, {"code": 404, "message": f"no API at {head.method} {path}"}, {}
        if obj is None or not isinstance(obj, dict):
            return 400, {"code": 40034001, "message": "body is not a JSON object"}, {}

        def run() -> Tuple[int, Any, Dict[str, str]]:
            try:
                if route == "cos":
                    return self._cos_put(target, body)
                return self._route(route, target, obj, head)
            except _Reject as exc:
                return exc.status, {"code": exc.code, "err_code": exc.code, "message": exc.message,
                                    "trace_id": uuid.uuid4().hex}, {}

        if rule is None:
            return run()
        if rule.kind == "drop":
            if rule.deliver:
                run()
            conn.abort()
            return None
        if rule.kind == "delay":
            result = run() if rule.deliver else None
            if conn.closed.wait(rule.seconds) or self._stop_event.is_set():
                return None
            return result if result is not None else run()
        if rule.kind == "audit":
            # Accepted, held for human review: not delivered (qq-official.md §2, §8).
            audit_id = f"audit-{uuid.uuid4().hex[:12]}"
            with self._lock:
                self._audits.append({"audit_id": audit_id, "route": route, "target": target,
                                     "json": copy.deepcopy(obj)})
            return rule.status, {"code": rule.code, "err_code": rule.code,
                                 "message": rule.message or "message is being audited",
                                 "data": {"message_audit": {"audit_id": audit_id}}}, {}
        # fail
        if rule.deliver:
            run()
        extra = {"Retry-After": f"{rule.retry_after:g}"} if rule.retry_after is not None else {}
        payload: Dict[str, Any] = {"message": rule.message or f"fake failure {rule.status}"}
        if rule.code is not None:
            payload.update(code=rule.code, err_code=rule.code)
        return rule.status, payload, extra

    def _check_auth(self, head: RequestHead) -> None:
        header = (head.header("Authorization") or "").strip()
        if header.startswith("Bot "):
            raise _Reject(401, 11245, "固定Token已禁用")
        token = header[len("QQBot "):].strip() if header.startswith("QQBot ") else ""
        if not token:
            raise _Reject(401, 11241, "token missing")
        expiry = self._tokens.get(token)
        if expiry is None or self._now() >= expiry:
            raise _Reject(401, 11244, "token not exist or expire")
        if self._token_rejections > 0:
            self._token_rejections -= 1
            self._tokens.pop(token, None)
            if self._current_token == token:
                self._current_token = None
            raise _Reject(401, 11244, "token not exist or expire")

    def _route(
        self, route: str, target: str, obj: Dict[str, Any], head: RequestHead
    ) -> Tuple[int, Any, Dict[str, str]]:
        with self._cond:
            if route == "token":
                return 200, self._issue_token(obj), {}
            self._check_auth(head)
            if route == "gateway":
                data: Dict[str, Any] = {"url": self.gateway_url or self.ws_url}
                if head.path.endswith("/bot"):
                    data.update(shards=self.shards, session_start_limit={
                        "total": 1000, "remaining": 999, "reset_after": 86400000, "max_concurrency": 1})
                return 200, data, {}
            if route == "me":
                return 200, {"id": self.bot_id, "username": self.bot_name, "avatar": "", "union_openid": ""}, {}
            if route == "interaction":
                self._interactions.append({"id": target, "code": obj.get("code")})
                self._cond.notify_all()
                return 204, None, {}
            if route.endswith("_files"):
                return 200, self._upload(_SCENE_OF_ROUTE[route], target, obj), {}
            if route.endswith("_prepare"):
                return 200, self._prepare(_SCENE_OF_ROUTE[route], target, obj), {}
            if route.endswith("_part_finish"):
                return 200, self._part_finish(obj), {}
            return 200, self._send(_SCENE_OF_ROUTE[route], target, obj), {}

    # ---- token

    def _issue_token(self, obj: Dict[str, Any]) -> Dict[str, Any]:
        if self._token_rate_limited > 0:
            self._token_rate_limited -= 1
            return {"code": 100001, "message": "Too many requests"}
        if str(obj.get("appId")) != self.app_id or obj.get("clientSecret") != self.secret:
            return {"code": 100016, "message": "invalid appid or secret"}
        now = self._now()
        current = self._current_token
        if current is not None and self._tokens.get(current, 0) - now > 60:
            remaining = self._tokens[current] - now
        else:
            current = "tok-" + secrets.token_hex(8)
            self._tokens[current] = now + self.token_ttl
            self._current_token = current
            remaining = self.token_ttl
        return {"access_token": current, "expires_in": str(int(remaining))}

    # ---- sends

    def _passive(self, scene: str, target: str, obj: Dict[str, Any], counts: bool) -> Tuple[Optional[_Inbound], int]:
        msg_id = obj.get("msg_id") or obj.get("event_id")
        seq = obj.get("msg_seq")
        if seq is None:
            seq = 1
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise _Reject(400, 40034003, "msg_seq must be an integer")
        if not msg_id:
            if scene not in self.proactive:
                raise _Reject(400, 40034102, "主动消息失败, 无权限")
            return None, seq
        inbound = self._inbound.get(str(msg_id))
        if inbound is None or inbound.scene != scene or inbound.target != target:
            raise _Reject(400, 40034024, "请求参数msg_id无效或越权")
        if self._now() - inbound.received > WINDOWS[scene]:
            raise _Reject(400, 304027, "回复消息msg_id已过期")
        if seq in inbound.seqs:
            raise _Reject(400, 40054005, "消息被去重，请检查请求msgseq")
        if counts and inbound.count >= 5 and scene in ("c2c", "group"):
            raise _Reject(400, 22009, "msg limit exceed")
        return inbound, seq

    def _text_of(self, scene: str, obj: Dict[str, Any], passive: bool) -> Tuple[str, bool, Optional[Dict[str, Any]]]:
        """(text, is markdown, media) of a body, validated."""
        markdown = obj.get("markdown")
        media = obj.get("media")
        if scene in ("c2c", "group"):
            msg_type = obj.get("msg_type")
            if not isinstance(msg_type, int) or isinstance(msg_type, bool) or msg_type not in (0, 2, 3, 4, 6, 7):
                raise _Reject(400, 40034004, f"invalid msg_type {msg_type!r}")
        else:
            msg_type = 2 if markdown else (7 if obj.get("image") else 0)
        if msg_type == 2 or (scene in ("guild", "direct") and markdown):
            if not self.markdown:
                if passive:
                    raise _Reject(400, 304041, "reply message not allow markdown")
                raise _Reject(400, 40034012, "不允许发送原生 markdown")
            if not isinstance(markdown, dict) or not (markdown.get("content") or markdown.get("custom_template_id")):
                raise _Reject(400, 50006, "markdown content is empty")
            return str(markdown.get("content", "")), True, None
        if msg_type == 7 and scene in ("c2c", "group"):
            info = media.get("file_info") if isinstance(media, dict) else None
            record = self._files.get(info) if isinstance(info, str) else None
            if record is None or record["scope"] != scene:
                raise _Reject(400, 40034006, "media file_info invalid")
            if record["expires"] is not None and self._now() >= record["expires"]:
                raise _Reject(400, 40034007, "media file_info expired")
            return str(obj.get("content") or ""), False, dict(record)
        content = obj.get("content")
        if scene in ("guild", "direct") and obj.get("image"):
            return str(content or ""), False, {"image": obj["image"]}
        if not isinstance(content, str) or not content:
            raise _Reject(400, 50006, "消息内容为空")
        return content, False, None

    def _send(self, scene: str, target: str, obj: Dict[str, Any]) -> Dict[str, Any]:
        stream = obj.get("stream")
        if stream is not None and scene != "c2c":
            raise _Reject(400, 40034120, "stream messages are C2C only")
        continuation = isinstance(stream, dict) and "id" in stream
        inbound, seq = self._passive(scene, target, obj, counts=not continuation)
        text, is_markdown, media = self._text_of(scene, obj, inbound is not None)
        now = self._now()
        if isinstance(stream, dict):
            record = self._stream_chunk(target, stream, text, is_markdown, obj, inbound, seq)
        else:
            record = {
                "id": f"ROBOT1.0_{next(self._msg_ids):08d}{secrets.token_hex(4)}",
                "scene": scene, "target": target, "text": text, "markdown": is_markdown, "media": media,
                "msg_type": obj.get("msg_type"), "msg_id": obj.get("msg_id"), "event_id": obj.get("event_id"),
                "msg_seq": seq, "passive": inbound is not None, "stream": None, "time": time.time(),
            }
            self._sent.append(record)
        if inbound is not None:
            inbound.seqs.add(seq)
            if not continuation:
                inbound.count += 1
        self._cond.notify_all()
        if scene in ("guild", "direct"):
            return {"id": record["id"], "channel_id": target, "guild_id": target, "content": text,
                    "author": {"id": self.bot_id, "username": self.bot_name, "bot": True},
                    "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+08:00")}
        return {"id": record["id"], "timestamp": int(now)}

    def _stream_chunk(self, target: str, stream: Dict[str, Any], text: str, is_markdown: bool,
                      obj: Dict[str, Any], inbound: Optional[_Inbound], seq: int) -> Dict[str, Any]:
        state = stream.get("state")
        index = stream.get("index")
        if state not in (1, 10, 11, 20):
            raise _Reject(400, 40034121, f"invalid stream.state {state!r}")
        if not isinstance(index, int) or isinstance(index, bool):
            raise _Reject(400, 40034122, "stream.index must be an integer")
        if "id" in stream and stream["id"] is None:
            raise _Reject(400, 40034123, "stream.id must not be null")
        if state in (10, 20) and not text.endswith("\n"):
            raise _Reject(400, 40034124, "流式消息md分片需要\\n结束")
        if "id" not in stream:
            sid = f"ROBOT1.0_{next(self._msg_ids):08d}{secrets.token_hex(4)}"
            record: Dict[str, Any] = {
                "id": sid, "scene": "c2c", "target": target, "text": "", "markdown": is_markdown, "media": None,
                "msg_type": obj.get("msg_type"), "msg_id": obj.get("msg_id"), "event_id": obj.get("event_id"),
                "msg_seq": seq, "passive": inbound is not None, "stream": "open", "chunks": [], "time": time.time(),
            }
            self._streams[sid] = _Stream(sid, target, record, index)
            self._sent.append(record)
        s = self._streams.get(str(stream["id"])) if "id" in stream else self._streams[sid]
        if s is None or s.target != target:
            raise _Reject(400, 40034125, "stream.id unknown")
        if s.closed:
            raise _Reject(400, 40034126, "stream already finished")
        if index != s.next_index:
            raise _Reject(400, 40034127, f"stream.index {index} out of order (expected {s.next_index})")
        s.next_index = index + 1
        s.record["text"] += text
        s.record["chunks"].append({"state": state, "index": index, "text": text, "msg_seq": seq})
        if state in (10, 20):
            s.closed = True
            s.record["stream"] = "closed"
        return s.record

    # ---- chunked uploads (upload_prepare, PUT parts, upload_part_finish, files)

    #: Part size of chunked uploads (the platform decides it; small here so tests stay small).
    chunk_block_size = 64 * 1024

    def _prepare(self, scene: str, target: str, obj: Dict[str, Any]) -> Dict[str, Any]:
        try:
            size = int(str(obj.get("file_size")))
        except ValueError:
            raise _Reject(400, 40034131, "file_size must be a number") from None
        if size <= 0 or not isinstance(obj.get("md5"), str):
            raise _Reject(400, 40034131, "file_size and md5 are required")
        upload_id = "up-" + secrets.token_hex(8)
        count = (size + self.chunk_block_size - 1) // self.chunk_block_size
        self._chunked[upload_id] = {"scope": scene, "target": target, "size": size, "md5": obj["md5"],
                                    "file_type": obj.get("file_type"), "parts": {}, "finished": set(),
                                    "count": count}
        parts = [{"index": i, "presigned_url": f"{self.url}/cos/{upload_id}/{i}"} for i in range(1, count + 1)]
        return {"upload_id": upload_id, "block_size": self.chunk_block_size, "parts": parts,
                "upload_config": {"concurrency": 1, "retry_timeout": 10, "retry_delay": 1}}

    def _cos_put(self, target: str, body: bytes) -> Tuple[int, Any, Dict[str, str]]:
        upload_id, _, index = target.partition("/")
        with self._cond:
            upload = self._chunked.get(upload_id)
            if upload is None:
                return 404, {"message": "no such upload"}, {}
            upload["parts"][int(index)] = body
            self._cond.notify_all()
        return 200, None, {"ETag": hashlib.md5(body).hexdigest()}

    def _part_finish(self, obj: Dict[str, Any]) -> Dict[str, Any]:
        upload = self._chunked.get(str(obj.get("upload_id")))
        if upload is None:
            raise _Reject(400, 40034132, "upload_id unknown")
        index = obj.get("part_index")
        part = upload["parts"].get(index)
        if part is None:
            raise _Reject(400, 40093001, "part not uploaded yet")
        if str(obj.get("block_size")) != str(len(part)) or obj.get("md5") != hashlib.md5(part).hexdigest():
            raise _Reject(400, 40034133, "part md5 or size mismatch")
        upload["finished"].add(index)
        return {}

    def _upload(self, scene: str, target: str, obj: Dict[str, Any]) -> Dict[str, Any]:
        file_type = obj.get("file_type")
        if file_type not in (1, 2, 3, 4):
            raise _Reject(400, 40034130, f"invalid file_type {file_type!r}")
        size = 0
        head = b""
        if obj.get("upload_id"):
            upload = self._chunked.get(str(obj["upload_id"]))
            if upload is None or upload["scope"] != scene:
                raise _Reject(400, 40034132, "upload_id unknown")
            if len(upload["finished"]) != upload["count"]:
                raise _Reject(400, 40034134, "not every part is finished")
            data = b"".join(upload["parts"][i] for i in sorted(upload["parts"]))
            if hashlib.md5(data).hexdigest() != upload["md5"] or len(data) != upload["size"]:
                raise _Reject(400, 40034133, "file md5 or size mismatch")
            size = len(data)
            head = data[:16]
        elif obj.get("file_data"):
            try:
                decoded = base64.b64decode(str(obj["file_data"]), validate=True)
            except (binascii.Error, ValueError):
                raise _Reject(400, 304021, "file_data is not base64") from None
            size = len(decoded)
            head = decoded[:16]
        elif not isinstance(obj.get("url"), str) or not obj["url"].startswith(("http://", "https://")):
            raise _Reject(400, 304021, "url or file_data required")
        info = "fi-" + secrets.token_hex(12)
        expires = None if not self.file_ttl else self._now() + self.file_ttl
        record = {"file_info": info, "scope": scene, "target": target, "file_type": file_type,
                  "url": obj.get("url"), "size": size, "expires": expires, "chunked": bool(obj.get("upload_id")),
                  # voice must be SILK (qq-official.md §6.8): what a test checks the client sent
                  "silk": head.startswith((b"\x02#!SILK_V3", b"#!SILK_V3")) if head else None}
        self._files[info] = record
        self._uploads.append(dict(record, time=time.time()))
        answer: Dict[str, Any] = {"file_uuid": uuid.uuid4().hex, "file_info": info, "ttl": self.file_ttl}
        if obj.get("srv_send_msg"):
            if scene not in self.proactive:
                raise _Reject(400, 40034102, "主动消息失败, 无权限")
            sent = {"id": f"ROBOT1.0_{next(self._msg_ids):08d}", "scene": scene, "target": target, "text": "",
                    "markdown": False, "media": dict(record), "msg_type": 7, "msg_id": None, "event_id": None,
                    "msg_seq": None, "passive": False, "stream": None, "time": time.time()}
            self._sent.append(sent)
            answer["id"] = sent["id"]
        self._cond.notify_all()
        return answer

    # ---- WebSocket

    def _serve_websocket(self, conn: _BaseConn, head: RequestHead, buffer: bytearray) -> None:
        if head.path.rstrip("/") != "/websocket":
            send_http_response(conn.io, 404, f"no WebSocket endpoint at {head.path}")
            return
        with self._cond:
            if self._stopping or conn.closed.is_set():
                return
            try:
                ws = accept_websocket(conn.io, head, buffered=bytes(buffer), close_timeout=_CLOSE_TIMEOUT)
            except HandshakeError:
                return
            buffer.clear()
            conn.ws = ws
            conn.path = "/websocket"
            self._ws_conns.append(conn)
            self._total_connections += 1
            conn.send_json({"op": 10, "d": {"heartbeat_interval": int(self.heartbeat_interval * 1000)}})
            self._cond.notify_all()
        session: Optional[_Session] = None
        while True:
            try:
                _, payload = ws.recv()
            except WebSocketClosed:
                return
            try:
                frame = json.loads(payload.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                ws.close(4002, "invalid payload", timeout=1.0)
                return
            if not isinstance(frame, dict):
                ws.close(4002, "invalid payload", timeout=1.0)
                return
            with self._cond:
                self._frames.append({"op": frame.get("op"), "d": copy.deepcopy(frame.get("d")), "conn": conn.id,
                                     "time": time.time()})
                self._cond.notify_all()
            op = frame.get("op")
            if op == 1:
                if not self._no_ack:
                    conn.send_json({"op": 11})
                continue
            if op == 2:
                if session is not None:
                    ws.close(4005, "already authenticated", timeout=1.0)
                    return
                session = self._identify(conn, frame.get("d"))
                if session is None:
                    return
                continue
            if op == 6:
                session = self._resume(conn, frame.get("d"))
                if session is None:
                    return
                continue
            ws.close(4001, "invalid opcode", timeout=1.0)
            return

    def _token_ok(self, d: Any) -> bool:
        token = d.get("token") if isinstance(d, dict) else None
        if not isinstance(token, str) or not token.startswith("QQBot "):
            return False
        expiry = self._tokens.get(token[6:].strip())
        return expiry is not None and self._now() < expiry

    def _close(self, conn: _BaseConn, code: int, reason: str) -> None:
        ws = conn.ws
        if ws is not None:
            try:
                ws.close(code, reason, timeout=1.0)
            except WebSocketClosed:
                pass

    def _identify(self, conn: _BaseConn, d: Any) -> Optional[_Session]:
        with self._cond:
            self._identify_count += 1
            ok = self._token_ok(d)
        if not ok:
            self._close(conn, 4004, "authentication failed")
            return None
        intents = d.get("intents")
        if not isinstance(intents, int) or isinstance(intents, bool) or intents < 0:
            self._close(conn, 4013, "invalid intents")
            return None
        if intents & ~self.allowed_intents:
            self._close(conn, 4014, "disallowed intents")
            return None
        shard = d.get("shard", [0, 1])
        if (not isinstance(shard, list) or len(shard) != 2 or not all(isinstance(x, int) for x in shard)
                or shard[1] < 1 or not 0 <= shard[0] < shard[1]):
            self._close(conn, 4010, "invalid shard")
            return None
        with self._cond:
            session = _Session("sess-" + uuid.uuid4().hex[:12], intents, (shard[0], shard[1]), conn=conn)
            self._sessions[session.id] = session
            ready = {"version": 1, "session_id": session.id,
                     "user": {"id": self.bot_id, "username": self.bot_name, "bot": True},
                     "shard": list(session.shard)}
            self._push(session, "READY", ready, event_id=None)
            self._ready_count += 1
            self._cond.notify_all()
        return session

    def _resume(self, conn: _BaseConn, d: Any) -> Optional[_Session]:
        if not self._token_ok(d):
            self._close(conn, 4004, "authentication failed")
            return None
        # Only a string can name a session (an unhashable id would make the lookups raise).
        session_id = d.get("session_id") if isinstance(d, dict) else None
        if not isinstance(session_id, str):
            session_id = None
        with self._cond:
            rejection = self._resume_rejections.pop(0) if self._resume_rejections else None
            if rejection is not None and session_id is not None:
                self._sessions.pop(session_id, None)  # "reset by resume": the session is gone
        if rejection is not None:
            self._close(conn, rejection, "reset by resume")
            return None
        with self._cond:
            session = self._sessions.get(session_id) if session_id is not None else None
            seq = d.get("seq") if isinstance(d, dict) else None
            if session is None or not isinstance(seq, int) or seq > session.seq:
                conn.send_json({"op": 9, "d": False})
                return None
            if session.conn is not None and session.conn is not conn:
                session.conn.abort()
            session.conn = conn
            for frame in list(session.frames):
                if frame["s"] > seq:
                    conn.send_json(frame)
            self._push(session, "RESUMED", "", event_id=None)
            self._resumed_count += 1
            self._cond.notify_all()
        return session

    def _push(self, session: _Session, t: str, d: Any, *, event_id: Optional[str]) -> Dict[str, Any]:
        """Number a dispatch for ``session``, keep it for resumes, send it if connected (lock held)."""
        session.seq += 1
        frame: Dict[str, Any] = {"op": 0, "s": session.seq, "t": t, "d": d}
        if event_id is not None:
            frame["id"] = event_id
        session.frames.append(frame)
        conn = session.conn
        if conn is not None:
            conn.send_json(frame)
        return frame

    # ------------------------------------------------------------------ events

    def dispatch(self, t: str, d: Dict[str, Any], *, event_id: Optional[str] = None) -> Dict[str, Any]:
        """Push one dispatch ``t`` to every session whose intents cover it (kept for a
        resume when its connection is down) and to every webhook of :meth:`post_events`.

        Returns the envelope ``{"op": 0, "t", "id", "d"}`` (``s`` differs per session).
        """
        eid = event_id or f"{t}:{uuid.uuid4().hex}"
        bit = _INTENT_OF.get(t, 0)
        with self._cond:
            for session in list(self._sessions.values()):
                if (bit == 0 or session.intents & bit) and _shard_of(d, session.shard[1]) == session.shard[0]:
                    self._push(session, t, copy.deepcopy(d), event_id=eid)
            hooks = list(self._webhooks)
        envelope = {"op": 0, "t": t, "id": eid, "d": d}
        for hook in hooks:
            status, _ = self.post_webhook(hook["url"], envelope, secret=hook["secret"])
            hook["statuses"].append(status)
        return envelope

    def _inbound_message(self, scene: str, target: str, t: str, d: Dict[str, Any], age: float) -> Dict[str, Any]:
        with self._cond:
            self._inbound[d["id"]] = _Inbound(scene, target, self._now() - age)
        self.dispatch(t, d)
        return d

    def _new_msg_id(self) -> str:
        return f"ROBOT1.0_in{next(self._msg_ids):06d}{secrets.token_hex(6)}"

    def emit_c2c_message(self, user_openid: str, content: str = "", *, msg_id: Optional[str] = None,
                         attachments: Optional[List[Dict[str, Any]]] = None, age: float = 0.0) -> Dict[str, Any]:
        """A user's C2C message to the bot (``C2C_MESSAGE_CREATE``). ``age``: seconds
        ago it was received, for the passive window. Returns its ``d`` (``d["id"]``)."""
        d = {"id": msg_id or self._new_msg_id(), "content": content,
             "author": {"id": user_openid, "user_openid": user_openid, "union_openid": ""},
             "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+08:00"), "message_type": 0,
             "message_scene": {"source": "default", "ext": []}}
        if attachments:
            d["attachments"] = attachments
        return self._inbound_message("c2c", user_openid, "C2C_MESSAGE_CREATE", d, age)

    def emit_group_at_message(self, group_openid: str, member_openid: str, content: str = "", *,
                              msg_id: Optional[str] = None, attachments: Optional[List[Dict[str, Any]]] = None,
                              age: float = 0.0, all_messages: bool = False) -> Dict[str, Any]:
        """A group message that @-mentions the bot (``GROUP_AT_MESSAGE_CREATE``; with
        ``all_messages`` a ``GROUP_MESSAGE_CREATE``). ``content`` gets the platform's
        leading space."""
        d = {"id": msg_id or self._new_msg_id(), "content": " " + content, "group_openid": group_openid,
             "group_id": group_openid,
             "author": {"id": member_openid, "member_openid": member_openid, "union_openid": ""},
             "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+08:00"), "message_type": 0,
             "message_scene": {"source": "default", "ext": []}}
        if attachments:
            d["attachments"] = attachments
        t = "GROUP_MESSAGE_CREATE" if all_messages else "GROUP_AT_MESSAGE_CREATE"
        return self._inbound_message("group", group_openid, t, d, age)

    def emit_guild_at_message(self, channel_id: str, guild_id: str, user_id: str, content: str = "", *,
                              msg_id: Optional[str] = None, age: float = 0.0) -> Dict[str, Any]:
        """A guild channel message @-mentioning the bot (``AT_MESSAGE_CREATE``);
        ``content`` is prefixed with ``<@!bot_id> ``."""
        d = {"id": msg_id or self._new_msg_id(), "channel_id": channel_id, "guild_id": guild_id,
             "content": f"<@!{self.bot_id}> {content}",
             "author": {"id": user_id, "username": f"user-{user_id}", "bot": False},
             "mentions": [{"id": self.bot_id, "username": self.bot_name, "bot": True}],
             "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+08:00"), "seq": 1, "seq_in_channel": "1"}
        return self._inbound_message("guild", channel_id, "AT_MESSAGE_CREATE", d, age)

    def emit_direct_message(self, guild_id: str, user_id: str, content: str = "", *,
                            msg_id: Optional[str] = None, age: float = 0.0) -> Dict[str, Any]:
        """A guild DM (``DIRECT_MESSAGE_CREATE``); replies go to ``/dms/{guild_id}``."""
        d = {"id": msg_id or self._new_msg_id(), "channel_id": f"dm-{guild_id}", "guild_id": guild_id,
             "content": content, "direct_message": True, "src_guild_id": "src-" + guild_id,
             "author": {"id": user_id, "username": f"user-{user_id}", "bot": False},
             "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+08:00")}
        return self._inbound_message("direct", guild_id, "DIRECT_MESSAGE_CREATE", d, age)

    def flood_c2c(self, n: int, user_openid: str = "flood-user", content: str = "flood") -> float:
        """Push ``n`` C2C messages to every session as fast as the socket takes them
        (benchmarks): the frames are built and encoded first, then written back to
        back. Returns ``time.monotonic()`` when the first frame was written. Each is a
        normal inbound message (repliable, kept for a resume)."""
        now = self._now()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+08:00")
        with self._cond:
            plans = []
            for session in self._sessions.values():
                if not session.intents & (1 << 25):
                    continue
                texts = []
                for i in range(n):
                    msg_id = f"ROBOT1.0_fl{next(self._msg_ids):08d}"
                    d = {"id": msg_id, "content": f"{content}{i}", "timestamp": stamp, "message_type": 0,
                         "author": {"id": user_openid, "user_openid": user_openid, "union_openid": ""},
                         "message_scene": {"source": "default", "ext": []}}
                    self._inbound[msg_id] = _Inbound("c2c", user_openid, now)
                    session.seq += 1
                    frame = {"op": 0, "s": session.seq, "t": "C2C_MESSAGE_CREATE",
                             "id": f"C2C_MESSAGE_CREATE:{msg_id}", "d": d}
                    session.frames.append(frame)
                    texts.append(json.dumps(frame, ensure_ascii=False))
                plans.append((session.conn, texts))
            started = time.monotonic()
            for conn, texts in plans:
                ws = conn.ws if conn is not None else None
                if ws is None:
                    continue
                try:
                    for text in texts:
                        ws.send_text(text)
                except WebSocketClosed:
                    pass
        return started

    def emit_event(self, t: str, **fields: Any) -> Dict[str, Any]:
        """Any other dispatch (``FRIEND_ADD``, ``GROUP_ADD_ROBOT``, ``INTERACTION_CREATE`` …).

        Its envelope id is usable as an ``event_id`` for ``FRIEND_ADD``,
        ``C2C_MSG_RECEIVE``, ``GROUP_ADD_ROBOT``, ``GROUP_MSG_RECEIVE`` and
        ``INTERACTION_CREATE``. Returns the envelope.
        """
        d = dict(fields)
        d.setdefault("timestamp", int(time.time()))
        eid = f"{t}:{uuid.uuid4().hex}"
        replyable = {"FRIEND_ADD": "c2c", "C2C_MSG_RECEIVE": "c2c", "GROUP_ADD_ROBOT": "group",
                     "GROUP_MSG_RECEIVE": "group", "INTERACTION_CREATE": None}
        if t in replyable:
            scene = replyable[t] or ("group" if d.get("group_openid") else "c2c")
            target = d.get("group_openid") if scene == "group" else (d.get("openid") or d.get("user_openid"))
            if target:
                with self._cond:
                    self._inbound[eid] = _Inbound(scene, str(target), self._now())
        return self.dispatch(t, d, event_id=eid)

    # ------------------------------------------------------------------ observation

    @property
    def calls(self) -> List[Dict[str, Any]]:
        """Every HTTP request, oldest first: ``{"method", "path", "route", "target", "json",
        "authorization", "time"}``; ``route`` is one of :data:`ROUTES` ("" if unknown)."""
        with self._lock:
            return copy.deepcopy(self._calls)

    @property
    def frames(self) -> List[Dict[str, Any]]:
        """Every gateway frame received from clients: ``{"op", "d", "conn", "time"}``."""
        with self._lock:
            return copy.deepcopy(self._frames)

    @property
    def sent_messages(self) -> List[Dict[str, Any]]:
        """Every message delivered, oldest first: ``{"id", "scene", "target", "text",
        "markdown", "media", "msg_type", "msg_id", "event_id", "msg_seq", "passive",
        "stream", "time"}``. A stream is one entry whose ``text`` grows with each
        chunk; ``stream`` is "open" or "closed", ``chunks`` lists them."""
        with self._lock:
            return copy.deepcopy(self._sent)

    @property
    def uploads(self) -> List[Dict[str, Any]]:
        """Every media upload: ``{"file_info", "scope", "target", "file_type", "url", "size", ...}``."""
        with self._lock:
            return copy.deepcopy(self._uploads)

    @property
    def interactions(self) -> List[Dict[str, Any]]:
        """Every ``PUT /interactions/{id}``: ``{"id", "code"}``."""
        with self._lock:
            return copy.deepcopy(self._interactions)

    @property
    def ready_count(self) -> int:
        """READY dispatches sent (successful Identifies)."""
        with self._lock:
            return self._ready_count

    @property
    def resumed_count(self) -> int:
        """RESUMED dispatches sent (successful Resumes)."""
        with self._lock:
            return self._resumed_count

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
        """Block until ``predicate()`` (evaluated under the server's lock) is true.

        Raises:
            TimeoutError: not within ``timeout`` seconds.
        """
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise TimeoutError(f"{what} not reached within {timeout}s")

    def wait_for_sent(self, count: int = 1, timeout: float = 5.0) -> List[Dict[str, Any]]:
        """Block until ``count`` messages were delivered in total; returns :attr:`sent_messages`."""
        self.wait_until(lambda: len(self._sent) >= count, timeout, f"{count} sent message(s) (have {len(self._sent)})")
        return self.sent_messages

    def wait_for_call(self, route: str, count: int = 1, timeout: float = 5.0) -> Dict[str, Any]:
        """Block until ``count`` requests of ``route`` arrived; returns the latest."""
        def enough() -> bool:
            return sum(1 for c in self._calls if c["route"] == route) >= count
        self.wait_until(enough, timeout, f"{count} call(s) of {route}")
        with self._lock:
            return copy.deepcopy([c for c in self._calls if c["route"] == route][-1])

    def wait_for_frame(self, op: int, count: int = 1, timeout: float = 5.0) -> Dict[str, Any]:
        """Block until ``count`` gateway frames with ``op`` arrived; returns the latest."""
        def enough() -> bool:
            return sum(1 for f in self._frames if f["op"] == op) >= count
        self.wait_until(enough, timeout, f"{count} frame(s) of op {op}")
        with self._lock:
            return copy.deepcopy([f for f in self._frames if f["op"] == op][-1])

    def wait_for_ready(self, count: int = 1, timeout: float = 5.0) -> None:
        """Block until READY + RESUMED sent reach ``count`` (a session is live)."""
        self.wait_until(lambda: self._ready_count + self._resumed_count >= count, timeout,
                        f"{count} READY/RESUMED")

    def wait_for_connections(self, n: int, timeout: float = 5.0) -> None:
        """Block until :attr:`total_connections` is at least ``n``."""
        self.wait_until(lambda: self._total_connections >= n, timeout, f"{n} gateway connection(s)")

    # ------------------------------------------------------------------ faults

    def _rule(self, route: str, rule: _Rule, times: int) -> None:
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; one of {ROUTES}")
        self._rules.push(route, rule, times)

    def fail_next(self, route: str, status: int = 500, code: Optional[int] = None, message: str = "", *,
                  deliver: bool = False, times: int = 1, retry_after: Optional[float] = None) -> None:
        """Answer the next ``times`` requests of ``route`` with ``status`` (and ``code``).

        ``deliver=True`` runs the request first (a message is delivered, then the
        answer says it failed: a 500/504 *after* delivery); by default nothing
        happens (a 502/503 *before*). ``retry_after`` adds a ``Retry-After`` header.
        """
        self._rule(route, _Rule("fail", deliver, status, code, message, retry_after=retry_after), times)

    def audit_next(self, route: str, *, status: int = 202, code: int = 304024, times: int = 1) -> None:
        """Hold the next ``times`` messages of ``route`` for human review: answered
        ``status`` (201/202) with ``code`` (304023 proactive / 304024 reply) and
        ``data.message_audit.audit_id``; nothing is delivered (see :attr:`audits`,
        :meth:`end_audit`)."""
        self._rule(route, _Rule("audit", False, status, code), times)

    @property
    def audits(self) -> List[Dict[str, Any]]:
        """Every message held for review: ``{"audit_id", "route", "target", "json"}``."""
        with self._lock:
            return copy.deepcopy(self._audits)

    def end_audit(self, audit_id: str, passed: bool = True) -> Dict[str, Any]:
        """The review of ``audit_id`` ended: dispatch ``MESSAGE_AUDIT_PASS`` (or ``_REJECT``)."""
        with self._lock:
            held = [a for a in self._audits if a["audit_id"] == audit_id]
        if not held:
            raise KeyError(f"no message held for audit {audit_id!r}")
        d: Dict[str, Any] = {"audit_id": audit_id, "audit_time": time.strftime("%Y-%m-%dT%H:%M:%S+08:00")}
        if passed:
            d["message_id"] = f"audited-{audit_id}"
        return self.dispatch("MESSAGE_AUDIT_PASS" if passed else "MESSAGE_AUDIT_REJECT", d)

    def delay(self, route: str, seconds: float, *, deliver: bool = True, times: int = 1) -> None:
        """Answer the next ``times`` requests of ``route`` after ``seconds`` (a client
        timeout). ``deliver=True``: delivered at once, only the answer is late."""
        self._rule(route, _Rule("delay", deliver, seconds=float(seconds)), times)

    def drop_next(self, route: str, *, deliver: bool = True, times: int = 1) -> None:
        """Close the connection of the next ``times`` requests of ``route`` without an
        answer, after running them (``deliver=True``) or not."""
        self._rule(route, _Rule("drop", deliver), times)

    def reset_faults(self) -> None:
        """Forget every pending HTTP fault, token fault and the no-ACK mode."""
        self._rules.clear()
        with self._lock:
            self._token_rate_limited = 0
            self._token_rejections = 0
            self._no_ack = False
            self._resume_rejections.clear()

    def expire_tokens(self) -> None:
        """Every access token issued so far expires now (API: 401/11244; gateway: 4004)."""
        with self._lock:
            self._tokens.clear()
            self._current_token = None

    def reject_token(self, times: int = 1) -> None:
        """The next ``times`` authenticated API calls answer 401/11244 and revoke the
        token they carried (a token rotated under the bot)."""
        with self._lock:
            self._token_rejections += times

    def rate_limit_token(self, times: int = 1) -> None:
        """The next ``times`` token requests answer ``100001 Too many requests``."""
        with self._lock:
            self._token_rate_limited += times

    def no_heartbeat_ack(self, on: bool = True) -> None:
        """Stop (or resume) answering heartbeats with op 11; dispatches still flow."""
        with self._lock:
            self._no_ack = on

    def half_open(self) -> None:
        """Silence every gateway connection: nothing read, nothing written (no ACKs,
        no dispatches); the TCP connection stays open. Dispatches are kept for a Resume."""
        super().half_open()
        with self._cond:
            for session in self._sessions.values():
                if session.conn is not None and session.conn.frozen.is_set():
                    session.conn = None

    def close_connections(self, code: int = 4009, reason: str = "") -> None:
        """Close every gateway connection with ``code`` (any §3.6 code: 4009 session
        timed out, 4004, 4014, 4914 …). Codes the docs say cannot resume (4006, 4007,
        4900–4913) also end the sessions."""
        with self._cond:
            conns, self._ws_conns = self._ws_conns, []
            if code in (4006, 4007) or 4900 <= code <= 4913:
                self._sessions = {k: s for k, s in self._sessions.items() if s.conn not in conns}
            self._cond.notify_all()
        for conn in conns:
            ws = conn.ws
            if conn.frozen.is_set() or ws is None:
                conn.abort()
                continue
            ws.send_close(code, reason)  # the connection's thread completes the handshake
            self._spawn(f"fakeofficial:closing:{conn.id}", self._finish_close, conn)

    def _finish_close(self, conn: _BaseConn) -> None:
        ws = conn.ws
        if ws is not None and not ws.wait_closed(_CLOSE_TIMEOUT):
            conn.abort()  # the peer never answered the close frame

    def reject_resume(self, code: int = 4902, times: int = 1) -> None:
        """Refuse the next ``times`` Resumes by closing with ``code`` (4902 "reset by
        resume") and ending the session: only a new Identify works after it."""
        with self._lock:
            self._resume_rejections.extend([code] * times)

    def send_reconnect(self) -> None:
        """Send op 7 (reconnect, resume allowed) on every gateway connection."""
        with self._lock:
            conns = list(self._ws_conns)
        for conn in conns:
            conn.send_json({"op": 7})

    def invalidate_session(self, resumable: bool = False) -> None:
        """Send op 9 with ``d = resumable``; unless resumable the sessions end too."""
        with self._cond:
            conns = list(self._ws_conns)
            if not resumable:
                self._sessions = {k: s for k, s in self._sessions.items() if s.conn not in conns}
        for conn in conns:
            conn.send_json({"op": 9, "d": resumable})

    # ------------------------------------------------------------------ webhook

    def post_webhook(self, url: str, payload: Dict[str, Any], *, secret: Optional[str] = None,
                     sign: bool = True, timestamp: Optional[str] = None,
                     timeout: float = 5.0) -> Tuple[int, Any]:
        """POST ``payload`` to a bot's webhook as the platform does (ed25519 signed with
        ``secret``, the server's by default). Returns (status, decoded body or None).

        ``sign=False`` sends it unsigned (the bot must refuse it).
        """
        from ..official.webhook import WebhookKeys

        parts = urlsplit(url)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("FakeOfficial posts only to the local host")
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        ts = timestamp or str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": "QQBot-Callback", "X-Bot-Appid": self.app_id}
        if sign:
            headers["X-Signature-Timestamp"] = ts
            headers["X-Signature-Ed25519"] = WebhookKeys(secret or self.secret).sign_callback(ts, body)
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
        try:
            connection.request("POST", parts.path or "/", body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        try:
            decoded = json.loads(data.decode("utf-8")) if data.strip() else None
        except (UnicodeDecodeError, ValueError):
            decoded = data
        return response.status, decoded

    def validate_webhook(self, url: str, *, plain_token: str = "fake-plain-token",
                         event_ts: Optional[str] = None) -> bool:
        """Send op 13 as the console does when the callback URL is saved; True when
        the answer carries the right signature."""
        from ..official.webhook import WebhookKeys

        ts = event_ts or str(int(time.time()))
        status, body = self.post_webhook(url, {"op": 13, "d": {"plain_token": plain_token, "event_ts": ts}})
        expected = WebhookKeys(self.secret).sign_validation(ts, plain_token)
        return status == 200 and isinstance(body, dict) and body.get("plain_token") == plain_token and \
            body.get("signature") == expected

    def post_events(self, url: str, *, secret: Optional[str] = None) -> List[int]:
        """POST every dispatch from now on to ``url`` too (signed), in the emitting thread.
        Returns the list the answer statuses are appended to."""
        statuses: List[int] = []
        hook: Dict[str, Any] = {"url": url, "secret": secret, "statuses": statuses}
        with self._lock:
            self._webhooks.append(hook)
        return statuses
