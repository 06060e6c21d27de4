"""What an answer means, whatever the protocol: :class:`Category` and :class:`Outcome`.

Pure values, no imports from the package. A protocol package (``qqreliable.onebot``,
later mirai-api-http and the official QQ Bot API) classifies its own answers into a
:class:`Category` (stored on :attr:`~qqreliable.ActionFailed.category`) and each send
attempt into an :class:`Outcome`; the reliability layer acts on these values only.
"""

from __future__ import annotations

from typing import Tuple

__all__ = ["Category", "Outcome"]


class Category:
    """How a failed (or odd) answer is classified. The values are plain strings, as
    stored on :attr:`ActionFailed.category`; each says what the caller may do next.
    Every protocol maps its own codes onto these (OneBot: ``onebot.actions.RULES``)."""

    OK = "ok"
    """The action succeeded (OneBot: ``retcode`` 0; mirai-api-http: ``code`` 0)."""
    ASYNC = "async"
    """Accepted, outcome unknowable (OneBot ``status: async``): treat as ambiguous."""
    AUTH = "auth"
    """The access token is missing or wrong. Never retried."""
    UNSUPPORTED = "unsupported"
    """The implementation does not know the action. Permanent; try a fallback action."""
    BAD_REQUEST = "bad_request"
    """The parameters (or the message content) were rejected. Permanent: fix the call."""
    NOT_FOUND = "not_found"
    """The target group, member, user, message or file does not exist. Permanent."""
    PERMISSION = "permission"
    """The account may not do this (not admin, muted, temporary chats forbidden)."""
    AMBIGUOUS = "ambiguous"
    """The action may have taken effect (a send timed out). Verify; never resend blindly."""
    RETRYABLE = "retryable"
    """Certainly did not take effect and is transient: safe to repeat after a back-off."""
    RISK_CONTROL = "risk_control"
    """Tencent risk control refused the send. Not delivered; back off for long, never
    auto-retry (it worsens the account's score)."""
    OFFLINE = "offline"
    """The QQ account behind the implementation is offline (kicked, login expired)."""
    FAILED = "failed"
    """Anything else: did not obviously take effect; actions with effects are not retried."""

    ALL: Tuple[str, ...] = (
        OK,
        ASYNC,
        AUTH,
        UNSUPPORTED,
        BAD_REQUEST,
        NOT_FOUND,
        PERMISSION,
        AMBIGUOUS,
        RETRYABLE,
        RISK_CONTROL,
        OFFLINE,
        FAILED,
    )


class Outcome:
    """How one attempt of a send ended (DESIGN "Reliability rules" 1)."""

    DELIVERED = "delivered"
    """The server confirmed the message, or verification found it."""
    NOT_SENT = "not_sent"
    """Certainly not delivered: raised at once and never resent."""
    UNKNOWN = "unknown"
    """It may have been delivered: verified before anything else happens."""
