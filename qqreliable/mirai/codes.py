"""mirai-api-http status codes as one classification: what a client may do after each answer.

MAH answers with HTTP 200 and the application status in the body's ``code``
(reference §0.1, §8). :func:`classify` reads one answer of one command and
returns a :class:`Verdict` whose ``kind`` is one of:

* :data:`OK` — done (an answer without ``code`` is a bare success object).
* :data:`NOT_DELIVERED` — a send answered ``code 0`` with ``messageId -1``:
  mirai took it but QQ gave no receipt (risk control, refusal). Not delivered,
  and never resent blindly.
* :data:`RETRY` — transient; nothing happened; the same call may be made again
  later (code 2: the account is not logged in yet; code 500 on a read).
* :data:`NOT_SENT` — rejected before it ran; repeating it as is fails the same
  way (5, 6, 10, 20, 30, 400).
* :data:`RESEND_WITHOUT_QUOTE` — a send with ``quote`` answered code 5: the
  quoted message is not in MAH's cache, nothing was sent; send again without
  the quote, once.
* :data:`UNKNOWN` — may have run (code 500 on a send or another mutation):
  verify before any resend.
* :data:`AUTH` — configuration (code 1, wrong verifyKey; 400 at the
  handshake): never retried.
* :data:`SESSION` — the session is gone or unbound (3, 4): rejected before it
  ran; re-verify / re-bind (HTTP) or reconnect for a fresh session (WebSocket),
  then replay once.

Pure: no I/O, no threads.
"""

from __future__ import annotations

from collections import abc
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any, Dict, Optional, Tuple

from .commands import SEND_COMMANDS, is_retry_safe

__all__ = [
    "OK",
    "NOT_DELIVERED",
    "RETRY",
    "NOT_SENT",
    "RESEND_WITHOUT_QUOTE",
    "UNKNOWN",
    "AUTH",
    "SESSION",
    "CODES",
    "Verdict",
    "classify",
    "classify_handshake",
    "classify_transport",
]

OK = "ok"
NOT_DELIVERED = "not_delivered"
RETRY = "retry"
NOT_SENT = "not_sent"
RESEND_WITHOUT_QUOTE = "resend_without_quote"
UNKNOWN = "unknown"
AUTH = "auth"
SESSION = "session"

#: code → (MAH's constant, what it means). Reference §8.
CODES: Dict[int, Tuple[str, str]] = {
    0: ("Success", "ok"),
    1: ("AuthKeyFail", "wrong verifyKey"),
    2: ("NoBot", "the bot account is not logged in to this mirai"),
    3: ("IllegalSession", "the session is invalid or gone"),
    4: ("NotVerifySession", "the session is not bound"),
    5: ("NoElement", "target or message not found (unknown chat, message not in MAH's cache)"),
    6: ("NoFile", "file not found, or operation not supported"),
    10: ("PermissionDenied", "the bot has no permission"),
    20: ("BotMuted", "the bot is muted in that group"),
    30: ("MessageTooLarge", "the message is too long"),
    400: ("InvalidParameter", "bad request or missing field"),
    500: ("InternalError", "server-side exception"),
}

_NOT_SENT_CODES = frozenset((5, 6, 10, 20, 30, 400))


@dataclass(frozen=True)
class Verdict:
    """What one MAH answer means.

    Attributes:
        kind: one of the module's kinds (:data:`OK`, :data:`UNKNOWN`, ...).
        code: the answer's ``code`` (0 for a bare success object).
        msg: the answer's ``msg`` (MAH's own text), possibly empty.
        name: MAH's constant for the code (``"IllegalSession"``), or ``""``.
        message_id: a send's ``messageId``, when the answer has one.
    """

    kind: str
    code: int
    msg: str = ""
    name: str = ""
    message_id: Optional[int] = None

    @property
    def ok(self) -> bool:
        return self.kind == OK

    def describe(self) -> str:
        """A one-line explanation naming the code (for exceptions and logs)."""
        meaning = CODES.get(self.code, ("", "unexpected code"))[1]
        if self.kind == NOT_DELIVERED:
            meaning = "messageId -1: mirai took the message but QQ did not deliver it (risk control?)"
        text = f"code {self.code} ({meaning})"
        if self.msg and self.msg != "success":
            text += f": {self.msg}"
        return text


def _code_of(answer: Mapping[str, Any]) -> Optional[int]:
    code = answer.get("code")
    if code is None:
        return None
    if isinstance(code, bool):
        return -1
    try:
        return int(code)
    except (TypeError, ValueError):
        return -1


def classify(
    command: str,
    answer: Any,
    *,
    sub_command: Optional[str] = None,
    content: Optional[Mapping[str, Any]] = None,
) -> Verdict:
    """Classify ``answer`` (the JSON body, or a ws frame's ``data``) to ``command``.

    Args:
        command: the command word (``sendGroupMessage``).
        answer: the parsed answer.
        sub_command: ``"get"`` / ``"update"`` for the two-way commands.
        content: the request's content; a ``quote`` in it turns a code 5 on a
            send into :data:`RESEND_WITHOUT_QUOTE`.

    Never raises: an answer that is not an object, or a code that is not a
    number, is :data:`UNKNOWN` for what may have run and :data:`NOT_SENT`
    otherwise (use ``Verdict.code == -1`` to tell).
    """
    mutates = not is_retry_safe(command, sub_command)
    if not isinstance(answer, abc.Mapping):
        return Verdict(UNKNOWN if mutates else RETRY, -1, f"answer is not an object: {type(answer).__name__}")
    code = _code_of(answer)
    msg = answer.get("msg")
    msg = msg if isinstance(msg, str) else ""
    if code is None:
        return Verdict(OK, 0, msg)
    name = CODES.get(code, ("", ""))[0]
    if code == 0:
        raw_id: Any = answer.get("messageId")
        if command in SEND_COMMANDS and command != "sendNudge" and "messageId" in answer:
            try:
                message_id = int(raw_id)
            except (TypeError, ValueError):
                return Verdict(UNKNOWN, 0, f"messageId is not a number: {raw_id!r}", name)
            if message_id == -1:
                return Verdict(NOT_DELIVERED, 0, msg, name, -1)
            return Verdict(OK, 0, msg, name, message_id)
        return Verdict(OK, 0, msg, name)
    if code == 1:
        return Verdict(AUTH, code, msg, name)
    if code == 2:
        return Verdict(RETRY, code, msg, name)
    if code in (3, 4):
        return Verdict(SESSION, code, msg, name)
    if code == 5 and command in SEND_COMMANDS and content is not None and content.get("quote") is not None:
        return Verdict(RESEND_WITHOUT_QUOTE, code, msg, name)
    if code in _NOT_SENT_CODES:
        return Verdict(NOT_SENT, code, msg, name)
    # 500 and anything this table does not know: it may have run.
    return Verdict(UNKNOWN if mutates else RETRY, code, msg, name)


def classify_handshake(answer: Any) -> Verdict:
    """Classify the first WebSocket frame's ``data`` (or a ``/verify`` / ``/bind`` answer).

    * code 0 with a ``session`` → :data:`OK`;
    * 1 (wrong verifyKey) and 400 (no qq, bad qq) → :data:`AUTH`: never retried;
    * 2 (account not logged in yet) → :data:`RETRY` with backoff;
    * 3 / 4 (a stale or unbound session key was presented) → :data:`SESSION`:
      reconnect without it;
    * anything else → :data:`RETRY`.
    """
    if not isinstance(answer, abc.Mapping):
        return Verdict(RETRY, -1, f"handshake answer is not an object: {type(answer).__name__}")
    code = _code_of(answer)
    msg = answer.get("msg")
    msg = msg if isinstance(msg, str) else ""
    if code is None:
        return Verdict(RETRY, -1, "handshake answer has no code")
    name = CODES.get(code, ("", ""))[0]
    if code == 0:
        return Verdict(OK, 0, msg, name)
    if code in (1, 400):
        return Verdict(AUTH, code, msg, name)
    if code in (3, 4):
        return Verdict(SESSION, code, msg, name)
    return Verdict(RETRY, code, msg, name)


def classify_transport(command: str, *, sent: bool, sub_command: Optional[str] = None) -> str:
    """The kind for a call that got no answer.

    ``sent=False`` (connection refused, DNS, TLS, not connected: the request
    never left) is always :data:`RETRY`; after the request left, a read is
    :data:`RETRY` and anything else :data:`UNKNOWN` (reference §8, last rows).
    """
    if not sent or is_retry_safe(command, sub_command):
        return RETRY
    return UNKNOWN
