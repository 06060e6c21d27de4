"""qqreliable: a synchronous, threaded QQ bot SDK (OneBot v11) that does not fall over."""

import logging

from ._version import __version__
from .receipt import Receipt
from .onebot.bot import Bot
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
    ProtocolError,
    RateLimited,
    ResponseLost,
    SendUnconfirmed,
)
from .message import Message, MessageSegment, escape, unescape
from .reliability import Backoff, Pacing, SendPolicy
from .reliability.media import Media, MediaConfig
from .reliability.outbound import OutboundMedia

__all__ = [
    "__version__",
    "Bot",
    "OfficialBot",
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
