"""Every answer of the official API in one classification, and the typed errors.

The platform puts the real reason in the body's ``code`` / ``message`` and uses
HTTP statuses loosely (qq-official.md §2, §7, §8): so the business code is read
first, then the message text (two refusals have no known code), then the
status. :func:`classify` turns one answer (status, body, headers) into an
:class:`Answer` whose :class:`Kind` says what the caller does next:

=================  ==============================================================
kind               what the sender does
=================  ==============================================================
OK                 delivered; the body holds the id
AUDIT              accepted, held for human audit (201/202, 304023/304024): not delivered yet
RETRY              did not run (502/503/429 + Retry-After, 20028, 11242...): retry with backoff
UNKNOWN            may have run (500/504): retry only with the same ``msg_seq``
DUPLICATE          40054005: on a retry of the same message, it was delivered
TOKEN              401 / 11244: refresh the token at once, replay the call once
AUTH               wrong app_id/secret, dead fixed token, banned bot: never retried
WINDOW             the ``msg_id``/``event_id`` can no longer anchor a reply: go proactive
BUDGET             22009: the 5 replies of this ``msg_id`` are spent: go proactive
PROACTIVE_REFUSED  40034102/40034105, quotas: report, never retried
MARKDOWN_REFUSED   40034012, 304041: resend as plain text (new ``msg_seq``), remember
STREAM_NEWLINE     "流式消息md分片需要\\n结束": append ``"\\n"``, retry once
TOO_LONG           40054007: split and resend
MEDIA_RETRY        304082/304083/40093001: upload again with backoff
MEDIA_FATAL        304020/304021/40093002: raised
RATE_LIMITED       token endpoint 100001/100017: back off
FAILED             anything else: raised, never retried
=================  ==============================================================

Pure: no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any, Dict, Optional

from ..exceptions import ActionFailed, MediaUnavailable

__all__ = [
    "Kind",
    "Answer",
    "classify",
    "retry_after_seconds",
    "OfficialApiError",
    "ReplyWindowClosed",
    "ReplyBudgetSpent",
    "ProactiveRefused",
    "MarkdownRefused",
    "MediaUploadFailed",
    "error_for",
    "audit_id_of",
    "STREAM_NEWLINE_TEXT",
    "MSG_ID_EXPIRED_TEXT",
]


class Kind(str, enum.Enum):
    OK = "ok"
    AUDIT = "audit"
    RETRY = "retry"
    UNKNOWN = "unknown"
    DUPLICATE = "duplicate"
    TOKEN = "token"
    AUTH = "auth"
    WINDOW = "window"
    BUDGET = "budget"
    PROACTIVE_REFUSED = "proactive_refused"
    MARKDOWN_REFUSED = "markdown_refused"
    STREAM_NEWLINE = "stream_newline"
    TOO_LONG = "too_long"
    MEDIA_RETRY = "media_retry"
    MEDIA_FATAL = "media_fatal"
    RATE_LIMITED = "rate_limited"
    FAILED = "failed"


#: The refusal of a final stream chunk without its trailing newline (no code known).
STREAM_NEWLINE_TEXT = "流式消息md分片需要"
#: The refusal of a reply past its passive window (no code known).
MSG_ID_EXPIRED_TEXT = "msg_id已过期"

_BY_CODE: Dict[int, Kind] = {}


def _codes(kind: Kind, *codes: int) -> None:
    for code in codes:
        _BY_CODE[code] = kind


_codes(Kind.TOKEN, 11244)
# 11241 token missing is a client bug, 11243 wrong token, 11245 the dead "Bot appid.token",
# 11251/11261/11275 appid wrong, 11253/11254/11264/11265 not granted / banned;
# token endpoint: 100007 appid invalid or bot banned, 100016 bad appid/secret, 10004 no such bot.
_codes(Kind.AUTH, 11241, 11243, 11245, 11251, 11261, 11275, 11253, 11254, 11264, 11265, 100007, 100016, 10004)
_codes(Kind.RETRY, 11242, 11252, 11263, 11281, 20028)
_codes(Kind.DUPLICATE, 40054005)
_codes(Kind.WINDOW, 40034024, 40034027, 304026, 304027, 304028)
_codes(Kind.BUDGET, 22009)
_codes(Kind.PROACTIVE_REFUSED, 40034102, 40034105, 304045, 304046, 304047, 304048, 304049, 304050)
_codes(Kind.MARKDOWN_REFUSED, 40034012, 304041, 50056)
_codes(Kind.TOO_LONG, 40054007, 1000001)
_codes(Kind.MEDIA_RETRY, 304082, 304083, 40093001)
_codes(Kind.MEDIA_FATAL, 304020, 304021, 40093002, 850026)  # 850026: the platform could not download the URL
_codes(Kind.AUDIT, 304023, 304024)
_codes(Kind.RATE_LIMITED, 100001, 100017)

_RATE_TEXTS = ("频率限制", "too many requests")


def _int(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def retry_after_seconds(headers: Optional[Mapping[str, str]]) -> Optional[float]:
    """``Retry-After`` in seconds (only the delta-seconds form), or None."""
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                seconds = float(str(value).strip())
            except ValueError:
                return None
            return seconds if seconds >= 0 else None
    return None


@dataclass(frozen=True)
class Answer:
    """One answer of the API, read once.

    Attributes:
        kind: what to do next (see the module table).
        status: the HTTP status.
        code: the body's ``code`` (None when absent or 0 on success).
        err_code: the body's ``err_code`` (may differ from ``code``).
        message: the body's ``message``.
        trace_id: ``X-Tps-trace-ID`` (or the body's ``trace_id``): log it on failures.
        retry_after: seconds the server asked to wait, when it did.
        body: the decoded body (a dict; ``{}`` for none or a non-object).
    """

    kind: Kind
    status: int
    code: Optional[int] = None
    err_code: Optional[int] = None
    message: str = ""
    trace_id: Optional[str] = None
    retry_after: Optional[float] = None
    body: Dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.kind is Kind.OK

    @property
    def message_id(self) -> Optional[str]:
        """The ``id`` of a delivered message (``data.id`` on nested answers)."""
        for holder in (self.body, self.body.get("data")):
            if isinstance(holder, Mapping) and holder.get("id") not in (None, ""):
                return str(holder["id"])
        return None


def classify(status: int, body: Any, headers: Optional[Mapping[str, str]] = None) -> Answer:
    """Read one API answer. Never raises: unknown shapes are ``FAILED`` or ``UNKNOWN``.

    Args:
        status: the HTTP status.
        body: the decoded JSON body (any type; None for an empty body).
        headers: the response headers (for ``Retry-After`` and the trace id).
    """
    obj: Dict[str, Any] = dict(body) if isinstance(body, Mapping) else {}
    code = _int(obj.get("code"))
    err_code = _int(obj.get("err_code"))
    raw_message = obj.get("message")
    message: str = raw_message if isinstance(raw_message, str) else ""
    if not message and isinstance(obj.get("msg"), str):
        message = obj["msg"]
    trace_id = None
    for key, value in (headers or {}).items():
        if key.lower() == "x-tps-trace-id":
            trace_id = str(value)
    if trace_id is None and isinstance(obj.get("trace_id"), str):
        trace_id = obj["trace_id"]
    retry_after = retry_after_seconds(headers)

    def answer(kind: Kind) -> Answer:
        return Answer(kind, status, code or None, err_code or None, message, trace_id, retry_after, obj)

    if code in (None, 0) and err_code:
        code = err_code
    if 200 <= status < 300 and code in (None, 0) and status not in (201, 202):
        return answer(Kind.OK)
    if status in (201, 202):
        return answer(Kind.AUDIT)
    if code is not None and code in _BY_CODE:
        return answer(_BY_CODE[code])
    if err_code is not None and err_code in _BY_CODE:
        return answer(_BY_CODE[err_code])
    if STREAM_NEWLINE_TEXT in message:
        return answer(Kind.STREAM_NEWLINE)
    if MSG_ID_EXPIRED_TEXT in message:
        return answer(Kind.WINDOW)
    if any(text in message.lower() for text in _RATE_TEXTS):
        return answer(Kind.RATE_LIMITED if status < 300 else Kind.RETRY)
    if status == 401:
        return answer(Kind.TOKEN)
    if status in (429, 502, 503):
        return answer(Kind.RETRY)
    if status in (500, 504) or status >= 500:
        return answer(Kind.UNKNOWN)
    if 200 <= status < 300 and code:
        return answer(Kind.FAILED)
    return answer(Kind.FAILED)


# --------------------------------------------------------------------------- errors


class OfficialApiError(ActionFailed):
    """The official API refused a call (or a rule refused it before it was sent).

    An :class:`~qqreliable.ActionFailed`: ``retcode`` is the business ``code``
    (the HTTP status when the body had none) and ``category`` the :class:`Kind`.

    Attributes:
        http_status: the HTTP status, None when nothing was sent.
        code: the body's ``code``.
        err_code: the body's ``err_code``.
        message: the body's ``message``.
        trace_id: the platform's trace id (quote it to support).
        kind: the :class:`Kind`.
        retry_after: seconds the server asked to wait, when it did.
        sent: False when the error was raised before anything went on the wire.
    """

    def __init__(
        self,
        action: str,
        *,
        http_status: Optional[int] = None,
        code: Optional[int] = None,
        err_code: Optional[int] = None,
        message: str = "",
        trace_id: Optional[str] = None,
        kind: Kind = Kind.FAILED,
        retry_after: Optional[float] = None,
        response: Optional[Mapping[str, Any]] = None,
        sent: bool = True,
    ) -> None:
        retcode = code if code is not None else (http_status or 0)
        super().__init__(action, retcode, message, message, category=Kind(kind).value, response=response)
        self.http_status = http_status
        self.code = code
        self.err_code = err_code
        self.trace_id = trace_id
        self.kind = Kind(kind)
        self.retry_after = retry_after
        self.sent = sent
        if trace_id:
            self.args = (f"{self.args[0]} (trace {trace_id})",)

    def __reduce__(self) -> Any:
        return (
            _rebuild,
            (type(self), self.action, self.http_status, self.code, self.err_code, self.message,
             self.trace_id, self.kind.value, self.retry_after, self.response, self.sent),
        )


def _rebuild(cls: type, action: str, http_status: Optional[int], code: Optional[int], err_code: Optional[int],
             message: str, trace_id: Optional[str], kind: str, retry_after: Optional[float],
             response: Mapping[str, Any], sent: bool) -> "OfficialApiError":
    error: OfficialApiError = cls(
        action, http_status=http_status, code=code, err_code=err_code, message=message, trace_id=trace_id,
        kind=Kind(kind), retry_after=retry_after, response=response, sent=sent,
    )
    return error


class ReplyWindowClosed(OfficialApiError):
    """The message replied to can no longer be replied to (its passive window has
    passed, or the platform said its ``msg_id`` is no longer usable) and a
    proactive send is not allowed here. Nothing was delivered."""


class ReplyBudgetSpent(OfficialApiError):
    """The replies allowed for this ``msg_id`` are spent (22009) and a proactive
    send is not allowed here. Nothing was delivered."""


class ProactiveRefused(OfficialApiError):
    """The platform refused a proactive message (40034102/40034105, a monthly or
    daily quota): the user or group has not allowed it. Never retried."""


class MarkdownRefused(OfficialApiError):
    """Markdown was refused (no grant) and plain text was not possible."""


class MediaUploadFailed(OfficialApiError, MediaUnavailable):
    """A media upload failed for good (304020 too large, 304021 download failed,
    40093002 quota, or 304082/304083 after every retry)."""

    def __init__(self, action: str, **kwargs: Any) -> None:
        OfficialApiError.__init__(self, action, **kwargs)
        self.errors = []


_ERROR_BY_KIND = {
    Kind.WINDOW: ReplyWindowClosed,
    Kind.BUDGET: ReplyBudgetSpent,
    Kind.PROACTIVE_REFUSED: ProactiveRefused,
    Kind.MARKDOWN_REFUSED: MarkdownRefused,
    Kind.MEDIA_RETRY: MediaUploadFailed,
    Kind.MEDIA_FATAL: MediaUploadFailed,
}


def error_for(answer: Answer, action: str) -> OfficialApiError:
    """The typed error for a refused ``answer`` of ``action``."""
    cls = _ERROR_BY_KIND.get(answer.kind, OfficialApiError)
    return cls(
        action,
        http_status=answer.status,
        code=answer.code,
        err_code=answer.err_code,
        message=answer.message or f"HTTP {answer.status}",
        trace_id=answer.trace_id,
        kind=answer.kind,
        retry_after=answer.retry_after,
        response=answer.body,
    )


def audit_id_of(body: Any) -> Optional[str]:
    """The audit id of a message held for review (``data.message_audit.audit_id``, or
    ``message_audit.audit_id`` at the top), else None. Never raises."""
    if not isinstance(body, Mapping):
        return None
    for holder in (body.get("data"), body):
        if isinstance(holder, Mapping):
            audit = holder.get("message_audit")
            if isinstance(audit, Mapping) and audit.get("audit_id") not in (None, ""):
                return str(audit["audit_id"])
    return None
