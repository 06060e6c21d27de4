"""qqreliable: a synchronous, threaded QQ bot SDK (OneBot v11) that does not fall over."""

import importlib
import logging
from typing import TYPE_CHECKING, Any, List

from ._version import __version__
from .receipt import Receipt
from .onebot.bot import Bot
from .onebot.events import Event
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

if TYPE_CHECKING:  # imported on first use (__getattr__ below); here for type checkers
    from .mirai.bot import MiraiBot
    from .official.bot import OfficialBot
    from .reliability.media import Media

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


#: Names whose modules load on first use, so that ``import qqreliable`` stays cheap:
#: a OneBot bot never loads the mirai or official packages (about 40 ms of start-up).
_LAZY = {
    "MiraiBot": ".mirai.bot",
    "OfficialBot": ".official.bot",
    "Media": ".reliability.media",  # the fetched-file value, with the fetching machinery
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))
