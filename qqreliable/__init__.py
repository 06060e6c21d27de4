"""qqreliable: a synchronous, threaded QQ bot SDK (OneBot v11) that does not fall over."""

import logging
from typing import Any

from ._version import __version__
from .receipt import Receipt
from .onebot.bot import Bot
from .mirai.bot import MiraiBot
from .onebot.events import Event
from .official.bot import OfficialBot
from .exceptions import (
    AccountOffline,
    ActionFailed,
    ApiNotAvailable,
    ApiTimeout,
    AuthenticationError,
    BotStopped,
    ConnectFailed,
    ConnectionLost,
    Error,
    ListenFailed,
    MediaRejected,
    MediaTooLarge,
    MediaUnavailable,
    NotStarted,
    NetworkError,
    NotDelivered,
    ProtocolError,
    RateLimited,
    ResponseLost,
    SendUnconfirmed,
)
from .message import Message, MessageSegment, escape, unescape
from .reliability import Backoff, Pacing, SendPolicy
from .reliability.mediaconfig import MediaConfig, OutboundMedia

__all__ = [
    "__version__",
    "Bot",
    "OfficialBot",
    "MiraiBot",
    "Event",
    "Message",
    "MessageSegment",
    "escape",
    "unescape",
    "Receipt",
    "Backoff",
    "Media",
    "MediaConfig",
    "OutboundMedia",
    "SendPolicy",
    "Pacing",
    "Error",
    "NetworkError",
    "ConnectFailed",
    "ResponseLost",
    "ApiTimeout",
    "ConnectionLost",
    "ListenFailed",
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
]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    # Media (the fetched-file value) lives with the fetching machinery, which is
    # imported on first use only: ``import qqreliable`` stays cheap.
    if name == "Media":
        from .reliability.media import Media

        globals()["Media"] = Media
        return Media
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
