"""The whole error tree of qqreliable.

Every error derives from :class:`Error`. The subclasses say what the caller may do:

* :class:`ConnectFailed` - nothing left this host; always safe to retry.
* :class:`ResponseLost` - the request left; it may have run on the implementation.
  Never resend a non-idempotent action blindly after this (sends are verified).
* :class:`ActionFailed` - the implementation ran the action and answered ``failed``.
* :class:`AuthenticationError` - configuration; never retried.

This module imports nothing else from the package.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Type

__all__ = [
    "Error",
    "NetworkError",
    "ConnectFailed",
    "ResponseLost",
    "ApiTimeout",
    "ConnectionLost",
    "AuthenticationError",
    "ActionFailed",
    "NotDelivered",
    "ProtocolError",
    "SendUnconfirmed",
    "MediaUnavailable",
    "MediaTooLarge",
    "MediaRejected",
    "ApiNotAvailable",
    "NotStarted",
    "AccountOffline",
    "RateLimited",
    "BotStopped",
    "ListenFailed",
]


class Error(Exception):
    """Root of every qqreliable error: the one thing users may blanket-catch."""


class NetworkError(Error):
    """The request could not be completed.

    ``sent`` tells whether the request may have reached the implementation:
    ``False`` means it certainly did not (safe to retry), ``True`` means it may
    have run. Subclasses fix the value.
    """

    sent: Optional[bool] = None


class ConnectFailed(NetworkError):
    """Nothing left this host (connection refused, DNS, connect timeout, not
    connected). Always safe to retry."""

    sent = False


class ResponseLost(NetworkError):
    """The request left this host but no answer came back (the socket died, a
    read failed, a 5xx gateway answer). The action may have run."""

    sent = True


class ApiTimeout(ResponseLost):
    """No answer within the action's deadline. The action may still run."""


class ConnectionLost(NetworkError):
    """The connection is gone for good: the reconnect budget is spent."""

    sent = False


class AuthenticationError(Error):
    """HTTP 401/403 at the API or the WebSocket handshake, or a retcode 1401/1403
    frame: the access token is missing or wrong. Never retried."""

    def __init__(self, message: str, *, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.status = status


class ActionFailed(Error):
    """The implementation answered the action with a non-zero ``retcode``.

    Attributes:
        action: the action name.
        retcode: the implementation's return code.
        message: the implementation's ``message`` (or ``msg``) text.
        wording: the human-readable ``wording`` text, when given.
        category: how :mod:`qqreliable.onebot.actions` classified the failure
            (``"bad_request"``, ``"unsupported"``, ``"ambiguous"``, ...).
        response: the whole response body, untouched.
    """

    def __init__(
        self,
        action: str,
        retcode: int,
        message: str = "",
        wording: str = "",
        *,
        category: str = "failed",
        response: Optional[Mapping[str, Any]] = None,
    ) -> None:
        text = message or wording
        super().__init__(f"{action}: retcode {retcode}" + (f" {text}" if text else ""))
        self.action = action
        self.retcode = retcode
        self.message = message
        self.wording = wording
        self.category = category
        self.response = dict(response) if response is not None else {}

    def __reduce__(self) -> Any:  # keep pickling working with keyword arguments (subclasses too)
        return (
            _rebuild_action_failed,
            (type(self), self.action, self.retcode, self.message, self.wording, self.category, self.response),
        )


def _rebuild_action_failed(
    cls: Type[ActionFailed],
    action: str,
    retcode: int,
    message: str,
    wording: str,
    category: str,
    response: Mapping[str, Any],
) -> ActionFailed:
    return cls(action, retcode, message, wording, category=category, response=response)


class NotDelivered(ActionFailed):
    """The platform took the send and said it was not delivered (mirai-api-http's
    ``code 0`` with ``messageId: -1``: mirai submitted it, QQ gave no receipt;
    usually risk control). Nothing reached the chat; it is never resent blindly
    (a repeat worsens the account's standing). Category ``"risk_control"``.
    """

    def __init__(
        self,
        action: str,
        retcode: int = 0,
        message: str = "",
        wording: str = "",
        *,
        category: str = "risk_control",
        response: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(action, retcode, message, wording, category=category, response=response)


class ProtocolError(Error):
    """The implementation answered something that is not OneBot v11 (not JSON,
    not an object, no retcode)."""


class SendUnconfirmed(Error):
    """An ambiguous send could not be verified either way. It was not resent.

    Attributes:
        action: the send action.
        params: the parameters of the send.
        attempts: how many times the send was put on the wire.
        cause: the error that made the outcome ambiguous.
    """

    def __init__(
        self,
        message: str,
        *,
        action: str = "",
        params: Optional[Mapping[str, Any]] = None,
        attempts: int = 1,
        cause: Optional[BaseException] = None,
    ) -> None:
        super().__init__(message)
        self.action = action
        self.params = dict(params or {})
        self.attempts = attempts
        self.cause = cause


class MediaUnavailable(Error):
    """Every way to get a media file failed; ``errors`` lists each cause."""

    def __init__(self, message: str, errors: Sequence[BaseException] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


class MediaTooLarge(MediaUnavailable):
    """A message's media is too large to send inline: nothing was sent.

    Raised before anything goes on the wire when the request (media inlined as
    ``base64://``) would exceed the outbound limit, and after a send of a large
    request whose connection died (WebSocket close 1009, a reset) once the message
    was verified not delivered: the same payload is never sent again.

    Attributes:
        size: the bytes concerned (the estimated request, or the file).
        limit: the limit in bytes, when one was exceeded.
    """

    def __init__(
        self,
        message: str,
        errors: Sequence[BaseException] = (),
        *,
        size: Optional[int] = None,
        limit: Optional[int] = None,
    ) -> None:
        super().__init__(message, errors)
        self.size = size
        self.limit = limit


class MediaRejected(ActionFailed, MediaUnavailable):
    """The implementation could not read, download or convert a media segment of
    the message (a path on another host, a URL it could not fetch, a voice file
    its ffmpeg could not convert) and sent nothing.

    An :class:`ActionFailed` (``retcode``, ``message``, ``category`` as answered)
    and a :class:`MediaUnavailable`. ``hint`` says what usually causes it. Never
    resent as is: the same media fails the same way.
    """

    def __init__(
        self,
        action: str,
        retcode: int,
        message: str = "",
        wording: str = "",
        *,
        category: str = "bad_request",
        response: Optional[Mapping[str, Any]] = None,
        hint: str = "",
    ) -> None:
        super().__init__(action, retcode, message, wording, category=category, response=response)
        self.hint = hint
        if hint:
            self.args = (f"{self.args[0]}: {hint}",)

    def __reduce__(self) -> Any:
        return (
            _rebuild_media_rejected,
            (self.action, self.retcode, self.message, self.wording, self.category, self.response, self.hint),
        )


def _rebuild_media_rejected(
    action: str, retcode: int, message: str, wording: str, category: str,
    response: Mapping[str, Any], hint: str,
) -> MediaRejected:
    return MediaRejected(action, retcode, message, wording, category=category, response=response, hint=hint)


class ApiNotAvailable(Error):
    """The bot has no way to call the API (it only receives events)."""


class NotStarted(ApiNotAvailable):
    """The bot is not started yet: call ``start()`` first (or use ``run()`` / ``with bot:``).
    Raised by calls that need a running bot and by ``wait_connected()``."""


class AccountOffline(Error):
    """The QQ account behind the implementation is offline (kicked, logged out);
    sends fail fast until it is back."""


class RateLimited(Error):
    """Risk control or a pacing circuit refused the send; nothing was sent.

    Attributes:
        target: the chat concerned (``"group:123"``, ``"private:456"``), when known.
        retry_after: seconds until a send to it may be tried again, when known.
    """

    def __init__(
        self, message: str = "", *, target: Optional[str] = None, retry_after: Optional[float] = None
    ) -> None:
        super().__init__(message)
        self.target = target
        self.retry_after = retry_after


class BotStopped(Error):
    """The bot is stopping or stopped; the call was not made."""


class ListenFailed(NetworkError, OSError):
    """The bot could not listen where ``listen=`` says (the port is in use, the
    address is not local, no permission). Raised by ``start()`` and ``run()``;
    an ``OSError`` too, with the ``errno`` of the failed bind."""

    sent = False
