"""OneBot v11 actions: which are safe to repeat, what a response means, one method each.

Pure protocol code: no I/O, no threads, nothing but the standard library and
:mod:`qqreliable.exceptions`. Everything a reader needs to audit the calling policy
is in three visible tables:

* :data:`READ_ONLY` - actions without effects. Only these may be retried, raced
  and cached (DESIGN "Reliability rules" 2; STYLE 2.15).
* :data:`SEND_ACTIONS` - actions that post a message. Their ambiguous failures are
  verified before anything else happens (rule 1); they return a :class:`Receipt`.
* :data:`RULES` - how a failed response is classified, first match wins (rule 3).
  Retcodes differ per implementation *and* per transport, so a rule matches on the
  retcode, a pattern over the response text, the transport and whether the action
  is read-only.

:func:`decode_response` turns a response body into the action's ``data`` or a typed
error; :class:`ApiMixin` gives every OneBot v11 action a method with its real
parameters.

Abbreviations in the comments: gocq = go-cqhttp, NC = NapCatQQ, LLOB = LLOneBot,
LGR = Lagrange.OneBot, spec = botuniverse/onebot-11. The evidence for every row is in
``reference/onebot11.md`` section 2 and ``reference/faults.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Iterable, Optional, Sequence, Tuple, Union

from ..exceptions import ActionFailed, AuthenticationError, MediaRejected, ProtocolError, ResponseLost
from ..outcome import Category, Outcome
from ..receipt import Receipt

if TYPE_CHECKING:
    from ..message import Message, MessageSegment

__all__ = [
    "READ_ONLY",
    "SEND_ACTIONS",
    "ACTIONS",
    "TRANSPORTS",
    "Category",
    "Rule",
    "RULES",
    "classify",
    "find_rule",
    "Outcome",
    "SEND_OUTCOMES",
    "send_outcome",
    "decode_response",
    "http_status_body",
    "Receipt",
    "ApiMixin",
    "MessageLike",
]

#: What a ``message`` parameter accepts: a CQ-code string, a :class:`Message`, one
#: :class:`MessageSegment`, an array of segment dicts, or one segment dict.
MessageLike = Union[str, "Message", "MessageSegment", Sequence[Any], Mapping[str, Any]]

#: The transports a response can come over (``via=``). Reverse WS counts as ``"ws"``.
TRANSPORTS: FrozenSet[str] = frozenset({"ws", "http"})


# ---------------------------------------------------------------------------
# Which actions may be repeated
# ---------------------------------------------------------------------------

#: Actions with no effect on QQ: retried, raced over several transports and cached.
#: Nothing else is. An action missing here is treated as having effects, the safe
#: default, so a new read-only extension must be added by hand. ``get_updates`` (gocq
#: HTTP long polling) is deliberately absent: it dequeues events. So is
#: ``download_file``: it writes a file on the implementation's host.
READ_ONLY: FrozenSet[str] = frozenset(
    {
        # spec (onebot11.md section 3.2)
        "get_msg",
        "get_forward_msg",
        "get_login_info",
        "get_stranger_info",
        "get_friend_list",
        "get_group_info",
        "get_group_list",
        "get_group_member_info",
        "get_group_member_list",
        "get_group_honor_info",
        "get_cookies",
        "get_csrf_token",
        "get_credentials",
        "get_record",  # converts into the implementation's cache: idempotent
        "get_image",  # downloads into the implementation's cache: idempotent
        "can_send_image",
        "can_send_record",
        "get_status",
        "get_version_info",
        # gocq / NC / LLOB / LGR extensions (onebot11.md section 3.4)
        "get_group_msg_history",
        "get_friend_msg_history",
        "get_file",
        "get_group_file_url",
        "get_group_root_files",
        "get_group_files_by_folder",
        "get_group_file_system_info",
        "get_essence_msg_list",
        "_get_group_notice",
        "get_group_system_msg",
        "get_group_requests",  # LGR's name for get_group_system_msg
        "get_group_at_all_remain",
        "ocr_image",
        ".ocr_image",
        "get_online_clients",
        "get_rkey",
        "nc_get_rkey",
        "get_rkey_server",
        "get_supported_actions",
    }
)

#: Actions that post a message. Their ``_async`` / ``_rate_limited`` aliases are not
#: listed on purpose: the SDK never uses them (onebot11.md section 3.1).
SEND_ACTIONS: FrozenSet[str] = frozenset(
    {
        "send_msg",
        "send_private_msg",
        "send_group_msg",
        "send_forward_msg",
        "send_group_forward_msg",
        "send_private_forward_msg",
    }
)


# ---------------------------------------------------------------------------
# Classification of failed responses
# ---------------------------------------------------------------------------


class Rule:
    """One row of :data:`RULES`. Every condition left as ``None`` matches anything.

    Attributes:
        category: the :class:`Category` value of a response this rule matches.
        retcodes: the retcodes it applies to; ``None`` = any non-zero retcode.
        pattern: a regular expression searched (case-insensitively) in the response
            text: ``message``, ``wording`` and ``msg`` joined by newlines.
        via: ``"ws"`` or ``"http"`` when the code means this only on one transport.
        read_only: ``True`` = only for :data:`READ_ONLY` actions, ``False`` = only for
            actions with effects.
        status: the response ``status`` the rule requires (``"async"``).
        source: who answers like this (implementation and transport), for logs.
        actions: only for these actions (e.g. :data:`SEND_ACTIONS`); ``None`` = any.
        media_hint: set on rows where the implementation could not use the message's
            media (faults MEDIA-03/04/07): such a failure is raised as
            :class:`~qqreliable.MediaRejected` with this explanation.
    """

    __slots__ = ("category", "retcodes", "pattern", "via", "read_only", "status", "source", "actions",
                 "media_hint")

    category: str
    retcodes: Optional[FrozenSet[int]]
    pattern: "Optional[re.Pattern[str]]"
    via: Optional[str]
    read_only: Optional[bool]
    status: Optional[str]
    source: str
    actions: Optional[FrozenSet[str]]
    media_hint: str

    def __init__(
        self,
        category: str,
        retcodes: Optional[FrozenSet[int]] = None,
        pattern: "Optional[re.Pattern[str]]" = None,
        via: Optional[str] = None,
        read_only: Optional[bool] = None,
        status: Optional[str] = None,
        source: str = "",
        actions: Optional[FrozenSet[str]] = None,
        media_hint: str = "",
    ) -> None:
        # A plain slotted class, frozen like the dataclass it was: a dataclass would be
        # generated and compiled at every import.
        init = object.__setattr__
        init(self, "category", category)
        init(self, "retcodes", retcodes)
        init(self, "pattern", pattern)
        init(self, "via", via)
        init(self, "read_only", read_only)
        init(self, "status", status)
        init(self, "source", source)
        init(self, "actions", actions)
        init(self, "media_hint", media_hint)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Rule is frozen: cannot assign to {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Rule is frozen: cannot delete {name!r}")

    def __repr__(self) -> str:
        return f"Rule({', '.join(f'{name}={getattr(self, name)!r}' for name in self.__slots__)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rule):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, name) for name in self.__slots__))

    def matches(self, action: str, retcode: int, text: str, via: str, status: Any) -> bool:
        """Whether a response with these properties falls under this rule."""
        if self.retcodes is not None and retcode not in self.retcodes:
            return False
        if self.via is not None and via != self.via:
            return False
        if self.read_only is not None and (action in READ_ONLY) != self.read_only:
            return False
        if self.status is not None and status != self.status:
            return False
        if self.actions is not None and action not in self.actions:
            return False
        return self.pattern is None or self.pattern.search(text) is not None


class _LazyPattern:
    """A case-insensitive pattern compiled on its first search, not at import
    (the table has a score of them and most never run in a given process)."""

    __slots__ = ("pattern", "flags", "_compiled")

    def __init__(self, pattern: str, flags: int) -> None:
        self.pattern = pattern
        self.flags = flags
        self._compiled: Optional["re.Pattern[str]"] = None

    def search(self, text: str) -> Optional["re.Match[str]"]:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re.compile(self.pattern, self.flags)
        return compiled.search(text)

    def __repr__(self) -> str:
        return f"re.compile({self.pattern!r}, re.IGNORECASE)"


def _rule(
    category: str,
    retcodes: Optional[Iterable[int]] = None,
    pattern: Optional[str] = None,
    *,
    via: Optional[str] = None,
    read_only: Optional[bool] = None,
    status: Optional[str] = None,
    source: str = "",
    actions: Optional[FrozenSet[str]] = None,
    media_hint: str = "",
) -> Rule:
    return Rule(
        category=category,
        retcodes=frozenset(retcodes) if retcodes is not None else None,
        pattern=_LazyPattern(pattern, re.IGNORECASE) if pattern is not None else None,  # type: ignore[arg-type]
        via=via,
        read_only=read_only,
        status=status,
        source=source,
        actions=actions,
        media_hint=media_hint,
    )


_C = Category

_UNREADABLE_MEDIA = (
    "the implementation could not read or download a media file of the message (a path "
    "that exists only on this host, a URL that answered an error page, an expired QQ "
    "link, or not a valid image/voice/video file); nothing was sent. Send the bytes "
    "inline: Bot(outbound_media=OutboundMedia()) (the default) does so"
)
_EMPTY_AFTER_MEDIA = (
    "go-cqhttp dropped every segment it could not use and had nothing left to send, "
    "usually media it could not read (a path on another host, a URL that answered "
    "HTML or an error); nothing was sent. Send the bytes inline: "
    "Bot(outbound_media=OutboundMedia()) (the default) does so"
)
_VOICE_CONVERSION = (
    "the implementation could not convert the voice file (its ffmpeg / silk encoder "
    "is missing or broken, or the file is not audio); nothing was sent, and the same "
    "file will fail again. Fix the implementation's ffmpeg, or send it as a file"
)

#: The whole classification policy, first match wins; no row matches -> ``"failed"``.
#: NC and LLOB answer an exception with 1200 over WS but 200 over HTTP, so their
#: text rules leave the retcode open: the text decides, whatever the transport (a
#: send timeout must never be mistaken for a plain failure).
RULES: Tuple[Rule, ...] = (
    # spec: success. Only the retcode counts, never `status` (LGR says "ok" on failures).
    _rule(_C.OK, [0], source="spec"),
    # spec: `status: async`, retcode 1 = queued, result unknowable (only `_async` calls).
    _rule(_C.ASYNC, [1], status="async", source="spec"),
    # spec WS 401/403; NC/LLOB forward WS: one {"retcode":1403,"message":"token验证失败"}, then close.
    _rule(_C.AUTH, [1401, 1403], source="spec WS, NC/LLOB"),
    # NC/LLOB over WS: unknown action (spec WS 404). http_status_body maps HTTP 404/405 here.
    _rule(_C.UNSUPPORTED, [1404], source="NC/LLOB WS"),
    # gocq {"retcode":404,"msg":"API_NOT_FOUND"} (HTTP 200 and WS); LGR (no message); LLOB HTTP.
    _rule(_C.UNSUPPORTED, [404], source="gocq, LGR, LLOB HTTP"),
    # NC over HTTP: unknown action is HTTP 200 + {"retcode":200,"message":"不支持的Api xxx"}.
    _rule(_C.UNSUPPORTED, None, r"不支持的\s*api", source="NC HTTP"),
    # NC/LLOB over WS: parameter validation failed, or "json解析失败,请检查数据格式" (no echo).
    # spec WS 400; http_status_body maps HTTP 400/406 here.
    _rule(_C.BAD_REQUEST, [1400], source="NC/LLOB WS"),
    # NC/LLOB over HTTP: parameter validation failed (the same check is 1400 over WS).
    _rule(_C.BAD_REQUEST, [400], via="http", source="NC/LLOB HTTP"),
    # SnowLuma / http_status_body: HTTP 413, the frame is too big. Never resend it as is.
    _rule(_C.BAD_REQUEST, [1413], source="SnowLuma, HTTP 413"),
    # NC/LLOB kicked offline: 'EventChecker Failed: … "result": 1006514, "errMsg": "网络连接异常!"'
    # (1200 WS / 200 HTTP); "[KickedOffLine] [下线通知] 你的帐号当前登录已失效". Before EventChecker.
    _rule(
        _C.OFFLINE,
        None,
        r"1006514|网络连接异常|下线|登录已?失效|KickedOffLine|账号.{0,8}离线",
        source="NC/LLOB",
    ),
    # gocq 100 "群消息发送失败: 账号可能被风控." (faults SEND-09/RATE-01; gocq v1.x only logs it
    # and answers SEND_MSG_API_ERROR, see below).
    _rule(_C.RISK_CONTROL, None, r"风控", source="gocq"),
    # gocq 100 EMPTY_MSG_ERROR "消息为空" (media dropped, file not visible), SEND_MSG_API_ERROR
    # "empty message" (an image URL answering HTML), EMPTY_NODES "未找到任何可发送的合并转发信息",
    # DURATION_IS_NOT_IN_RANGE "非法的禁言时长". Before SEND_MSG_API_ERROR below.
    _rule(
        _C.BAD_REQUEST,
        [100],
        r"EMPTY_MSG_ERROR|消息为空|empty message",
        source="gocq",
        media_hint=_EMPTY_AFTER_MEDIA,
    ),
    _rule(_C.BAD_REQUEST, [100], r"EMPTY_NODES|DURATION_IS_NOT_IN_RANGE", source="gocq"),
    # NC/LLOB (1200 WS / 200 HTTP) could not fetch a media file of a send (faults MEDIA-03/04):
    # "文件下载失败 未知文件类型", "文件下载失败识别URL失败, uri= …", "…下载失败,Error: 下载文件失败:
    # Bad Request"; gocq "image type error: text/html". Nothing was sent. Before the Timeout rows.
    _rule(
        _C.BAD_REQUEST,
        None,
        r"文件下载失败|识别URL失败|下载文件失败|未知文件类型|image type error",
        read_only=False,
        source="NC/LLOB, gocq",
        media_hint=_UNREADABLE_MEDIA,
    ),
    # NC/LLOB 1200 "语音转换失败, 请检查语音文件是否正常" (ffmpeg missing or broken, faults MEDIA-07):
    # deterministic, nothing sent, never retried. Before the 1200 send catch-all.
    _rule(
        _C.BAD_REQUEST,
        None,
        r"语音转换失败|convert silk failed|FFmpeg处理转换出错",
        read_only=False,
        source="NC/LLOB",
        media_hint=_VOICE_CONVERSION,
    ),
    # LLOB: "消息体无法解析，请检查是否发送了不支持的消息类型" (1200 WS / 200 HTTP).
    _rule(_C.BAD_REQUEST, None, r"消息体无法解析", source="LLOB"),
    # LLOB "当前处于被禁言状态"; gocq 100 "被禁言" (faults SEND-09); NC "不能发送临时消息".
    # Before SEND_MSG_API_ERROR.
    _rule(_C.PERMISSION, None, r"被禁言|不能发送临时消息", source="gocq, NC, LLOB"),
    # gocq 100 SEND_MSG_API_ERROR "send group message failed: blocked by server", wording
    # "请参考 go-cqhttp 端输出": the server did not echo the message (risk control); usually
    # not delivered, and retrying worsens it.
    _rule(_C.RISK_CONTROL, [100], r"SEND_MSG_API_ERROR|blocked by server", source="gocq"),
    # gocq 100 with msg GROUP_NOT_FOUND "群聊不存在", MEMBER_NOT_FOUND "人员不存在",
    # MSG_NOT_FOUND "消息不存在", IMAGE_NOT_FOUND "图片未找到", ... (API_NOT_FOUND is 404).
    _rule(_C.NOT_FOUND, [100], r"\b\w+_NOT_FOUND\b", source="gocq"),
    # NC/LLOB (1200 WS / 200 HTTP): "消息不存在", "消息不存在或已被撤回", "file not found",
    # "element not found"; NC/LLOB/gocq group or user lookups: "群…不存在", "用户不存在".
    _rule(
        _C.NOT_FOUND,
        None,
        r"消息不存在|file not found|element not found|群.{0,8}不存在|用户不存在|好友不存在",
        source="NC/LLOB",
    ),
    # gocq 100 PERMISSION_DENIED "权限不足", NOT_MANAGEABLE "机器人权限不足".
    _rule(_C.PERMISSION, [100], r"PERMISSION_DENIED|NOT_MANAGEABLE", source="gocq"),
    # spec 103: insufficient permission of the account (or a file-system problem).
    _rule(_C.PERMISSION, [103], source="spec"),
    # spec 102: the backend returned invalid data (a group the bot is not in);
    # old gocq: member not found.
    _rule(_C.NOT_FOUND, [102], source="spec, gocq < 2020-12"),
    # LGR passes Tencent's send result through: 120 = muted (also gocq "send msg error: 120").
    _rule(_C.PERMISSION, [120], read_only=False, source="LGR send"),
    # LGR passes Tencent's send result through: 16 = group not found.
    _rule(_C.NOT_FOUND, [16], read_only=False, source="LGR send"),
    # LGR 9000: the send was accepted but the server returned no sequence number.
    _rule(_C.AMBIGUOUS, [9000], source="LGR"),
    # CQHTTP/CoolQ -2: "no server reply, may not have been sent".
    _rule(_C.AMBIGUOUS, [-2], read_only=False, source="CQHTTP"),
    # NC/LLOB 'EventChecker Failed: … "result": -1, "errMsg": "rich media transfer failed"':
    # the upload failed, yet the message sometimes lands in history (faults MEDIA-06). Verify.
    _rule(_C.AMBIGUOUS, None, r"rich media transfer failed", read_only=False, source="NC/LLOB"),
    # NC/LLOB "EventChecker Failed: NTEvent …": the QQ kernel rejected the call synchronously.
    _rule(_C.RETRYABLE, None, r"EventChecker Failed", source="NC/LLOB"),
    # NC/LLOB "Timeout: NTEvent serviceAndMethod:NodeIKernelMsgService/sendMsg …" (the kernel did
    # not confirm in time; often delivered), NC forward "sendCommand timed out after 20000 ms",
    # LLOB {"retcode":200,"message":"发送超时"}: on an action with effects the outcome is unknown.
    _rule(_C.AMBIGUOUS, None, r"Timeout|timed out|超时", read_only=False, source="NC/LLOB"),
    # NC "Timeout: NTEvent serviceAndMethod:NodeIKernelMsgService/downloadRichMedia …" on
    # get_image / get_file / get_record: the download did not finish in time. A read.
    _rule(_C.RETRYABLE, None, r"Timeout|timed out|超时", read_only=True, source="NC/LLOB"),
    # spec 201: worker thread pool not initialised; transient.
    _rule(_C.RETRYABLE, [201], source="spec"),
    # spec 104: QQ web credentials expired; retry after clean_cache.
    _rule(_C.RETRYABLE, [104], source="spec"),
    # NC/LLOB catch-all on a send (1200 over WS, 200 over HTTP) whose text no row above knows
    # ("发送消息失败", a bare exception): the message may still have gone out (faults
    # SEND-01, SEND-09), so the outcome is unknown and the send is verified, never resent blindly.
    _rule(_C.AMBIGUOUS, [1200], via="ws", actions=SEND_ACTIONS, source="NC/LLOB WS send"),
    _rule(_C.AMBIGUOUS, [200], via="http", actions=SEND_ACTIONS, source="NC/LLOB HTTP send"),
    # LGR: retcode 1 with status "ok" (or "failed") is a boolean failure, NOT async
    # (set_*_add_request, essence, mark-as-read, special title, reactions).
    _rule(_C.FAILED, [1], source="LGR"),
    # Any other failure of a read-only action: it had no effect, so asking again is safe.
    _rule(_C.RETRYABLE, None, read_only=True, source="any"),
)

_TEXT_FIELDS = ("message", "wording", "msg")


def _retcode(body: Mapping[str, Any]) -> Optional[int]:
    """The body's retcode as an int (numeric strings accepted), or ``None``."""
    value = body.get("retcode")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
    return None


def _field(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _text(body: Mapping[str, Any]) -> str:
    """All error text of a body (``message``, ``wording``, ``msg``) for the patterns."""
    return "\n".join(t for t in (_field(body, n) for n in _TEXT_FIELDS) if t)


def _check_via(via: str) -> None:
    if via not in TRANSPORTS:
        raise ValueError(f"via must be 'ws' or 'http', not {via!r}")


def find_rule(action: str, body: Mapping[str, Any], *, via: str) -> Optional[Rule]:
    """The first row of :data:`RULES` matching a response, or ``None`` (``"failed"``).

    Useful in logs to say *why* a failure was classified as it was. A body without
    a usable retcode matches no rule.
    """
    _check_via(via)
    retcode = _retcode(body)
    if retcode is None:
        return None
    text = _text(body)
    status = body.get("status")
    for rule in RULES:
        if rule.matches(action, retcode, text, via, status):
            return rule
    return None


def classify(action: str, body: Mapping[str, Any], *, via: str) -> str:
    """Classify a response body of ``action`` received over ``via``.

    Args:
        action: the action name (decides read-only rules).
        body: the decoded response object.
        via: ``"ws"`` or ``"http"``.

    Returns:
        A :class:`Category` value; ``"ok"`` for retcode 0, ``"failed"`` when no rule
        matches or the body has no usable retcode.
    """
    rule = find_rule(action, body, via=via)
    return rule.category if rule is not None else Category.FAILED


# ---------------------------------------------------------------------------
# Outcome of a send
# ---------------------------------------------------------------------------


#: The outcome of a send answered with a failure, by its :class:`Category`: the
#: one place where RULES meets the send pipeline. RETRYABLE is NOT_SENT here: the
#: QQ kernel refused the message synchronously, and resending a message is never
#: automatic (risk control and offline accounts get their own errors).
SEND_OUTCOMES: Dict[str, str] = {
    Category.OK: Outcome.DELIVERED,
    Category.ASYNC: Outcome.UNKNOWN,
    Category.AUTH: Outcome.NOT_SENT,
    Category.UNSUPPORTED: Outcome.NOT_SENT,
    Category.BAD_REQUEST: Outcome.NOT_SENT,
    Category.NOT_FOUND: Outcome.NOT_SENT,
    Category.PERMISSION: Outcome.NOT_SENT,
    Category.AMBIGUOUS: Outcome.UNKNOWN,
    Category.RETRYABLE: Outcome.NOT_SENT,
    Category.RISK_CONTROL: Outcome.NOT_SENT,
    Category.OFFLINE: Outcome.NOT_SENT,
    Category.FAILED: Outcome.NOT_SENT,
}


def send_outcome(error: BaseException) -> str:
    """The :class:`Outcome` of a send attempt that raised ``error``.

    * :class:`ActionFailed`: by its category (:data:`SEND_OUTCOMES`; unknown
      categories count as UNKNOWN, the safe side).
    * :class:`ResponseLost` (a read timeout, the socket lost after the frame left,
      HTTP 5xx such as 502/504) and :class:`ProtocolError` (an answer that is not
      OneBot: the request arrived): UNKNOWN.
    * Anything else (connect failures, a wrong token, a stopped bot): NOT_SENT,
      the request never reached the implementation or was refused whole.
    """
    if isinstance(error, ActionFailed):
        return SEND_OUTCOMES.get(error.category, Outcome.UNKNOWN)
    if isinstance(error, (ResponseLost, ProtocolError)):
        return Outcome.UNKNOWN
    return Outcome.NOT_SENT


# ---------------------------------------------------------------------------
# Response decoding
# ---------------------------------------------------------------------------


def decode_response(action: str, body: Any, *, via: str) -> Any:
    """Return the ``data`` of a successful response; raise a typed error otherwise.

    Success means ``retcode == 0`` (an int or a numeric string), whatever ``status``
    says. Pure; thread-safe.

    Args:
        action: the action that was called.
        body: the decoded JSON response.
        via: ``"ws"`` or ``"http"``: the transport it came over.

    Returns:
        ``body["data"]`` (``None`` when absent).

    Raises:
        ProtocolError: ``body`` is not an object or has no usable ``retcode``.
        AuthenticationError: retcode 1401/1403 (the token is missing or wrong).
        ActionFailed: any other non-zero retcode; ``category`` says what it means.
            :class:`~qqreliable.MediaRejected` (a subclass) when the row says the
            implementation could not use the message's media.
        ValueError: ``via`` is neither ``"ws"`` nor ``"http"``.
    """
    _check_via(via)
    if not isinstance(body, Mapping):
        raise ProtocolError(
            f"{action}: the response is not a JSON object but {type(body).__name__}"
        )
    retcode = _retcode(body)
    if retcode is None:
        raise ProtocolError(
            f"{action}: the response has no usable retcode: {body.get('retcode')!r}"
        )
    if retcode == 0:
        return body.get("data")
    rule = find_rule(action, body, via=via)
    category = rule.category if rule is not None else Category.FAILED
    message = _field(body, "message") or _field(body, "msg")
    wording = _field(body, "wording")
    if category == Category.AUTH:
        text = message or wording
        raise AuthenticationError(
            f"{action}: retcode {retcode}" + (f" {text}" if text else "")
            + ": the access token is missing or wrong"
        )
    if rule is not None and rule.media_hint:
        raise MediaRejected(
            action, retcode, message, wording, category=category, response=body, hint=rule.media_hint
        )
    raise ActionFailed(
        action, retcode, message, wording, category=category, response=body
    )


#: HTTP statuses turned into the retcode of the same failure over WebSocket.
_HTTP_STATUS_RETCODES: Dict[int, Tuple[int, str]] = {
    400: (1400, "bad request"),  # the body could not be parsed
    404: (1404, "action not found"),
    405: (1404, "action not found"),  # LGR: method other than GET/POST
    406: (1400, "bad request"),  # Content-Type neither JSON nor urlencoded
    413: (1413, "request too large"),  # SnowLuma
}


def http_status_body(status: int, text: str) -> Dict[str, Any]:
    """A OneBot response body standing for an HTTP error status without one.

    The HTTP transport calls this for non-200 answers that carry no OneBot body
    (401/403 and 5xx it handles itself). 400/406 become retcode 1400, 404/405 become
    1404, 413 becomes 1413; any other status ``s`` becomes ``1000 + s``, the spec's
    convention for the WebSocket equivalent of an HTTP status.

    Args:
        status: the HTTP status code.
        text: the start of the response body, kept as ``wording`` for diagnosis.

    Returns:
        A failed body: ``status``, ``retcode``, ``data``, ``message``, ``wording`` and
        ``http_status``.
    """
    retcode, message = _HTTP_STATUS_RETCODES.get(status, (1000 + status, f"HTTP {status}"))
    return {
        "status": "failed",
        "retcode": retcode,
        "data": None,
        "message": message,
        "wording": text,
        "http_status": status,
    }


# ---------------------------------------------------------------------------
# One method per action
# ---------------------------------------------------------------------------


def _params(**params: Any) -> Dict[str, Any]:
    """The parameters given, without the optional ones left at ``None``."""
    return {key: value for key, value in params.items() if value is not None}


class ApiMixin:
    """One method per OneBot v11 action, with the action's real parameters.

    Every method only builds the parameters (optional ones left at ``None`` are not
    sent) and calls :meth:`call_action`, which the class using the mixin provides.
    Extra keyword arguments are passed through unchanged: implementation
    extensions, or the caller's ``self_id=`` / ``api_timeout=``. Sends return a
    :class:`Receipt`; everything else returns the response's ``data``. Methods raise
    whatever :meth:`call_action` raises.
    """

    def call_action(self, action: str, /, **params: Any) -> Any:
        """Run ``action`` with ``params`` and return its data. Provided by the Bot."""
        raise NotImplementedError("ApiMixin needs a call_action")

    # -- messages ------------------------------------------------------------

    def send_private_msg(
        self,
        user_id: int,
        message: MessageLike,
        auto_escape: Optional[bool] = None,
        **kwargs: Any,
    ) -> Receipt:
        """Send a private message; data: ``message_id``.

        gocq/NC take ``group_id=`` for a temporary chat (NC then sends to the group
        when ``user_id`` cannot be resolved).
        """
        return self.call_action(  # type: ignore[no-any-return]
            "send_private_msg",
            **_params(user_id=user_id, message=message, auto_escape=auto_escape),
            **kwargs,
        )

    def send_group_msg(
        self,
        group_id: int,
        message: MessageLike,
        auto_escape: Optional[bool] = None,
        **kwargs: Any,
    ) -> Receipt:
        """Send a group message; data: ``message_id``."""
        return self.call_action(  # type: ignore[no-any-return]
            "send_group_msg",
            **_params(group_id=group_id, message=message, auto_escape=auto_escape),
            **kwargs,
        )

    def send_msg(
        self,
        message: MessageLike,
        message_type: Optional[str] = None,
        user_id: Optional[int] = None,
        group_id: Optional[int] = None,
        auto_escape: Optional[bool] = None,
        **kwargs: Any,
    ) -> Receipt:
        """Send a message to a user or a group (``message_type`` inferred from the id
        given); data: ``message_id``."""
        return self.call_action(  # type: ignore[no-any-return]
            "send_msg",
            **_params(
                message_type=message_type,
                user_id=user_id,
                group_id=group_id,
                message=message,
                auto_escape=auto_escape,
            ),
            **kwargs,
        )

    def delete_msg(self, message_id: int, **kwargs: Any) -> Any:
        """Recall a message; no data."""
        return self.call_action("delete_msg", **_params(message_id=message_id), **kwargs)

    def get_msg(self, message_id: int, **kwargs: Any) -> Any:
        """Get a message by id; data: ``time``, ``message_type``, ``message_id``,
        ``real_id``, ``sender``, ``message`` (implementations add more)."""
        return self.call_action("get_msg", **_params(message_id=message_id), **kwargs)

    def get_forward_msg(
        self,
        id: Optional[str] = None,  # noqa: A002 - the action's parameter name
        message_id: Optional[Union[int, str]] = None,
        **kwargs: Any,
    ) -> Any:
        """Get a merged-forward message by the ``id`` of its ``forward`` segment (gocq/NC
        also take ``message_id``); data: ``message`` (spec) or ``messages`` (gocq/NC)."""
        return self.call_action(
            "get_forward_msg", **_params(id=id, message_id=message_id), **kwargs
        )

    # -- friends ---------------------------------------------------------------

    def send_like(self, user_id: int, times: Optional[int] = None, **kwargs: Any) -> Any:
        """Like a user's profile ``times`` times (spec default 1, at most 10 a day); no data."""
        return self.call_action("send_like", **_params(user_id=user_id, times=times), **kwargs)

    # -- group administration --------------------------------------------------

    def set_group_kick(
        self,
        group_id: int,
        user_id: int,
        reject_add_request: Optional[bool] = None,
        **kwargs: Any,
    ) -> Any:
        """Remove a member from a group (optionally refusing their future requests); no data."""
        return self.call_action(
            "set_group_kick",
            **_params(group_id=group_id, user_id=user_id, reject_add_request=reject_add_request),
            **kwargs,
        )

    def set_group_ban(
        self, group_id: int, user_id: int, duration: Optional[int] = None, **kwargs: Any
    ) -> Any:
        """Mute a member for ``duration`` seconds (spec default 1800; 0 unmutes); no data."""
        return self.call_action(
            "set_group_ban",
            **_params(group_id=group_id, user_id=user_id, duration=duration),
            **kwargs,
        )

    def set_group_anonymous_ban(
        self,
        group_id: int,
        anonymous: Optional[Mapping[str, Any]] = None,
        anonymous_flag: Optional[str] = None,
        duration: Optional[int] = None,
        **kwargs: Any,
    ) -> Any:
        """Mute an anonymous member, given the event's ``anonymous`` object or its flag
        (gocq only; cannot be lifted); no data."""
        return self.call_action(
            "set_group_anonymous_ban",
            **_params(
                group_id=group_id,
                anonymous=anonymous,
                anonymous_flag=anonymous_flag,
                duration=duration,
            ),
            **kwargs,
        )

    def set_group_whole_ban(
        self, group_id: int, enable: Optional[bool] = None, **kwargs: Any
    ) -> Any:
        """Mute (spec default) or unmute the whole group; no data."""
        return self.call_action(
            "set_group_whole_ban", **_params(group_id=group_id, enable=enable), **kwargs
        )

    def set_group_admin(
        self, group_id: int, user_id: int, enable: Optional[bool] = None, **kwargs: Any
    ) -> Any:
        """Make a member admin (spec default) or revoke it (``enable=False``); no data."""
        return self.call_action(
            "set_group_admin",
            **_params(group_id=group_id, user_id=user_id, enable=enable),
            **kwargs,
        )

    def set_group_anonymous(
        self, group_id: int, enable: Optional[bool] = None, **kwargs: Any
    ) -> Any:
        """Allow (spec default) or forbid anonymous chat in a group (gocq only); no data."""
        return self.call_action(
            "set_group_anonymous", **_params(group_id=group_id, enable=enable), **kwargs
        )

    def set_group_card(
        self, group_id: int, user_id: int, card: Optional[str] = None, **kwargs: Any
    ) -> Any:
        """Set a member's group card (empty removes it); no data."""
        return self.call_action(
            "set_group_card",
            **_params(group_id=group_id, user_id=user_id, card=card),
            **kwargs,
        )

    def set_group_name(self, group_id: int, group_name: str, **kwargs: Any) -> Any:
        """Rename a group; no data."""
        return self.call_action(
            "set_group_name", **_params(group_id=group_id, group_name=group_name), **kwargs
        )

    def set_group_leave(
        self, group_id: int, is_dismiss: Optional[bool] = None, **kwargs: Any
    ) -> Any:
        """Leave a group (the owner must pass ``is_dismiss=True`` to dismiss it); no data."""
        return self.call_action(
            "set_group_leave", **_params(group_id=group_id, is_dismiss=is_dismiss), **kwargs
        )

    def set_group_special_title(
        self,
        group_id: int,
        user_id: int,
        special_title: Optional[str] = None,
        duration: Optional[int] = None,
        **kwargs: Any,
    ) -> Any:
        """Set a member's special title (owner only; empty removes it); no data."""
        return self.call_action(
            "set_group_special_title",
            **_params(
                group_id=group_id,
                user_id=user_id,
                special_title=special_title,
                duration=duration,
            ),
            **kwargs,
        )

    # -- requests --------------------------------------------------------------

    def set_friend_add_request(
        self,
        flag: str,
        approve: Optional[bool] = None,
        remark: Optional[str] = None,
        **kwargs: Any,
    ) -> Any:
        """Approve (spec default) or reject a friend request by its event ``flag``; no data."""
        return self.call_action(
            "set_friend_add_request",
            **_params(flag=flag, approve=approve, remark=remark),
            **kwargs,
        )

    def set_group_add_request(
        self,
        flag: str,
        sub_type: str,
        approve: Optional[bool] = None,
        reason: Optional[str] = None,
        **kwargs: Any,
    ) -> Any:
        """Approve (spec default) or reject a group join request or invitation
        (``sub_type`` ``"add"``/``"invite"`` as in the event); no data."""
        return self.call_action(
            "set_group_add_request",
            **_params(flag=flag, sub_type=sub_type, approve=approve, reason=reason),
            **kwargs,
        )

    # -- information -------------------------------------------------------------

    def get_login_info(self, **kwargs: Any) -> Any:
        """Get the bot account; data: ``user_id``, ``nickname``."""
        return self.call_action("get_login_info", **kwargs)

    def get_stranger_info(
        self, user_id: int, no_cache: Optional[bool] = None, **kwargs: Any
    ) -> Any:
        """Get a user's public profile; data: ``user_id``, ``nickname``, ``sex``, ``age``."""
        return self.call_action(
            "get_stranger_info", **_params(user_id=user_id, no_cache=no_cache), **kwargs
        )

    def get_friend_list(self, **kwargs: Any) -> Any:
        """List the friends; data: array of ``user_id``, ``nickname``, ``remark``."""
        return self.call_action("get_friend_list", **kwargs)

    def get_group_info(
        self, group_id: int, no_cache: Optional[bool] = None, **kwargs: Any
    ) -> Any:
        """Get a group; data: ``group_id``, ``group_name``, ``member_count``,
        ``max_member_count``."""
        return self.call_action(
            "get_group_info", **_params(group_id=group_id, no_cache=no_cache), **kwargs
        )

    def get_group_list(self, no_cache: Optional[bool] = None, **kwargs: Any) -> Any:
        """List the groups the bot is in (``no_cache`` is gocq's); data: array of group info."""
        return self.call_action("get_group_list", **_params(no_cache=no_cache), **kwargs)

    def get_group_member_info(
        self,
        group_id: int,
        user_id: int,
        no_cache: Optional[bool] = None,
        **kwargs: Any,
    ) -> Any:
        """Get a group member; data: ``user_id``, ``nickname``, ``card``, ``role``,
        ``join_time``, ``last_sent_time``, ``title``, ..."""
        return self.call_action(
            "get_group_member_info",
            **_params(group_id=group_id, user_id=user_id, no_cache=no_cache),
            **kwargs,
        )

    def get_group_member_list(
        self, group_id: int, no_cache: Optional[bool] = None, **kwargs: Any
    ) -> Any:
        """List a group's members (``no_cache`` is gocq's); data: array of member info
        (some fields may be missing or stale)."""
        return self.call_action(
            "get_group_member_list", **_params(group_id=group_id, no_cache=no_cache), **kwargs
        )

    def get_group_honor_info(
        self,
        group_id: int,
        type: str,  # noqa: A002 - the action's parameter name
        **kwargs: Any,
    ) -> Any:
        """Get a group's honours of ``type`` (``talkative``, ``performer``, ``legend``,
        ``strong_newbie``, ``emotion``, ``all``); data: ``current_talkative`` and
        ``*_list`` arrays."""
        return self.call_action(
            "get_group_honor_info", **_params(group_id=group_id, type=type), **kwargs
        )

    # -- credentials -------------------------------------------------------------

    def get_cookies(self, domain: Optional[str] = None, **kwargs: Any) -> Any:
        """Get the QQ web cookies for ``domain``; data: ``cookies``."""
        return self.call_action("get_cookies", **_params(domain=domain), **kwargs)

    def get_csrf_token(self, **kwargs: Any) -> Any:
        """Get the QQ web CSRF token; data: ``token`` (int)."""
        return self.call_action("get_csrf_token", **kwargs)

    def get_credentials(self, domain: Optional[str] = None, **kwargs: Any) -> Any:
        """Get cookies and CSRF token at once; data: ``cookies``, ``csrf_token``."""
        return self.call_action("get_credentials", **_params(domain=domain), **kwargs)

    # -- media -------------------------------------------------------------------

    def get_record(self, file: str, out_format: str, **kwargs: Any) -> Any:
        """Convert a received voice (its segment's ``file``) to ``out_format`` (``mp3``,
        ``amr``, ``wav``, ...); data: ``file`` (a path on the implementation's host)."""
        return self.call_action(
            "get_record", **_params(file=file, out_format=out_format), **kwargs
        )

    def get_image(self, file: str, **kwargs: Any) -> Any:
        """Fetch a received image (its segment's ``file``; NC/LLOB also ``file_id=``);
        data: ``file`` (a path on the implementation's host), NC adds ``url`` etc."""
        return self.call_action("get_image", **_params(file=file), **kwargs)

    def can_send_image(self, **kwargs: Any) -> Any:
        """Whether images can be sent; data: ``yes`` (bool)."""
        return self.call_action("can_send_image", **kwargs)

    def can_send_record(self, **kwargs: Any) -> Any:
        """Whether voice messages can be sent; data: ``yes`` (bool)."""
        return self.call_action("can_send_record", **kwargs)

    # -- runtime -----------------------------------------------------------------

    def get_status(self, **kwargs: Any) -> Any:
        """Get the implementation's status; data: ``online``, ``good`` (not always
        trustworthy), plus extras such as ``stat``."""
        return self.call_action("get_status", **kwargs)

    def get_version_info(self, **kwargs: Any) -> Any:
        """Identify the implementation; data: ``app_name``, ``app_version``,
        ``protocol_version``."""
        return self.call_action("get_version_info", **kwargs)

    def set_restart(self, delay: Optional[int] = None, **kwargs: Any) -> Any:
        """Restart the implementation after ``delay`` ms; no data."""
        return self.call_action("set_restart", **_params(delay=delay), **kwargs)

    def clean_cache(self, **kwargs: Any) -> Any:
        """Clear the implementation's cache (NC/LLOB); no data."""
        return self.call_action("clean_cache", **kwargs)

    # -- common extensions (gocq / NC / LLOB / LGR) --------------------------------

    def get_group_msg_history(
        self,
        group_id: int,
        message_seq: Optional[int] = None,
        count: Optional[int] = None,
        **kwargs: Any,
    ) -> Any:
        """Get a group's recent messages before ``message_seq`` (absent = latest; its
        meaning differs per implementation, LGR takes ``message_id=``); data: ``messages``."""
        return self.call_action(
            "get_group_msg_history",
            **_params(group_id=group_id, message_seq=message_seq, count=count),
            **kwargs,
        )

    def get_friend_msg_history(
        self,
        user_id: int,
        message_seq: Optional[int] = None,
        count: Optional[int] = None,
        **kwargs: Any,
    ) -> Any:
        """Get a private chat's recent messages (NC/LLOB/LGR; LGR takes ``message_id=``);
        data: ``messages``."""
        return self.call_action(
            "get_friend_msg_history",
            **_params(user_id=user_id, message_seq=message_seq, count=count),
            **kwargs,
        )

    def send_group_forward_msg(
        self, group_id: int, messages: MessageLike, **kwargs: Any
    ) -> Receipt:
        """Send a merged-forward message (``node`` segments) to a group; data:
        ``message_id``, ``forward_id`` (NC also ``res_id``)."""
        return self.call_action(  # type: ignore[no-any-return]
            "send_group_forward_msg", **_params(group_id=group_id, messages=messages), **kwargs
        )

    def send_private_forward_msg(
        self, user_id: int, messages: MessageLike, **kwargs: Any
    ) -> Receipt:
        """Send a merged-forward message (``node`` segments) to a user; data:
        ``message_id``, ``forward_id``."""
        return self.call_action(  # type: ignore[no-any-return]
            "send_private_forward_msg", **_params(user_id=user_id, messages=messages), **kwargs
        )

    def send_forward_msg(
        self,
        messages: MessageLike,
        group_id: Optional[int] = None,
        user_id: Optional[int] = None,
        **kwargs: Any,
    ) -> Receipt:
        """Send a merged-forward message to ``group_id`` or ``user_id``; data:
        ``message_id``, ``forward_id``."""
        return self.call_action(  # type: ignore[no-any-return]
            "send_forward_msg",
            **_params(group_id=group_id, user_id=user_id, messages=messages),
            **kwargs,
        )

    def get_file(
        self, file: Optional[str] = None, file_id: Optional[str] = None, **kwargs: Any
    ) -> Any:
        """Fetch a received file by ``file`` or ``file_id`` (NC/LLOB); data: ``file``,
        ``url``, ``file_size``, ``file_name``, ``base64?``."""
        return self.call_action("get_file", **_params(file=file, file_id=file_id), **kwargs)

    def mark_msg_as_read(self, message_id: Optional[int] = None, **kwargs: Any) -> Any:
        """Mark a message (and the chat up to it) as read; NC also takes ``user_id=`` /
        ``group_id=``; no data."""
        return self.call_action("mark_msg_as_read", **_params(message_id=message_id), **kwargs)

    def upload_group_file(
        self,
        group_id: int,
        file: str,
        name: str,
        folder: Optional[str] = None,
        **kwargs: Any,
    ) -> Any:
        """Upload a file (a path on the implementation's host; NC/LLOB also URL or
        base64) to a group; data: none (gocq) or ``file_id`` (NC/LLOB)."""
        return self.call_action(
            "upload_group_file",
            **_params(group_id=group_id, file=file, name=name, folder=folder),
            **kwargs,
        )

    def upload_private_file(self, user_id: int, file: str, name: str, **kwargs: Any) -> Any:
        """Send a file to a user; data: none (gocq) or ``file_id`` (NC/LLOB)."""
        return self.call_action(
            "upload_private_file", **_params(user_id=user_id, file=file, name=name), **kwargs
        )

    def get_group_file_url(
        self, group_id: int, file_id: str, busid: Optional[int] = None, **kwargs: Any
    ) -> Any:
        """Get a download URL for a group file; data: ``url``."""
        return self.call_action(
            "get_group_file_url",
            **_params(group_id=group_id, file_id=file_id, busid=busid),
            **kwargs,
        )

    def get_group_root_files(self, group_id: int, **kwargs: Any) -> Any:
        """List a group's root folder; data: ``files``, ``folders``."""
        return self.call_action("get_group_root_files", **_params(group_id=group_id), **kwargs)

    def get_group_files_by_folder(self, group_id: int, folder_id: str, **kwargs: Any) -> Any:
        """List a group folder; data: ``files``, ``folders``."""
        return self.call_action(
            "get_group_files_by_folder", **_params(group_id=group_id, folder_id=folder_id), **kwargs
        )

    def set_essence_msg(self, message_id: int, **kwargs: Any) -> Any:
        """Make a group message essence; no data."""
        return self.call_action("set_essence_msg", **_params(message_id=message_id), **kwargs)

    def delete_essence_msg(self, message_id: int, **kwargs: Any) -> Any:
        """Remove a message from the group's essence; no data."""
        return self.call_action("delete_essence_msg", **_params(message_id=message_id), **kwargs)

    def get_essence_msg_list(self, group_id: int, **kwargs: Any) -> Any:
        """List a group's essence messages; data: array of ``sender_id``, ``operator_id``,
        ``message_id``, ..."""
        return self.call_action("get_essence_msg_list", **_params(group_id=group_id), **kwargs)

    def get_group_system_msg(self, **kwargs: Any) -> Any:
        """List pending group requests (gocq/NC/LLOB); data: ``invited_requests``,
        ``join_requests``."""
        return self.call_action("get_group_system_msg", **kwargs)

    def get_group_at_all_remain(self, group_id: int, **kwargs: Any) -> Any:
        """How many @all the bot has left today (gocq/NC/LLOB); data: ``can_at_all``, ..."""
        return self.call_action("get_group_at_all_remain", **_params(group_id=group_id), **kwargs)

    def ocr_image(self, image: str, **kwargs: Any) -> Any:
        """Recognise text in an image; data: ``texts``, ``language``."""
        return self.call_action("ocr_image", **_params(image=image), **kwargs)

    def delete_friend(self, user_id: int, **kwargs: Any) -> Any:
        """Remove a friend; no data."""
        return self.call_action("delete_friend", **_params(user_id=user_id), **kwargs)

    def set_msg_emoji_like(self, message_id: int, emoji_id: Union[int, str], **kwargs: Any) -> Any:
        """React to a message with an emoji (NC/LLOB); no data."""
        return self.call_action(
            "set_msg_emoji_like", **_params(message_id=message_id, emoji_id=emoji_id), **kwargs
        )


def _action_table(cls: type) -> Dict[str, Tuple[str, ...]]:
    """Action name -> parameter names, read from the methods of ``cls``."""
    import inspect

    table: Dict[str, Tuple[str, ...]] = {}
    for name, member in vars(cls).items():
        if name.startswith("_") or name == "call_action" or not callable(member):
            continue
        params = inspect.signature(member).parameters.values()
        table[name] = tuple(
            p.name
            for p in params
            if p.name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
        )
    return table


if TYPE_CHECKING:
    #: Every action with a method on :class:`ApiMixin` -> its named parameters, in order.
    #: Built on first use (``inspect`` costs ~10 ms of ``import qqreliable``).
    ACTIONS: Dict[str, Tuple[str, ...]]


def __getattr__(name: str) -> Any:
    if name == "ACTIONS":
        table = _action_table(ApiMixin)
        globals()["ACTIONS"] = table
        return table
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
