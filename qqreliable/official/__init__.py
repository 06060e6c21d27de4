"""The official QQ Bot API (what qq-botpy wraps): token, gateway, webhook, replies.

Modules (the architecture is the file list):

* :mod:`.codes` - every error code of the platform in one classification.
* :mod:`.token` - the AccessToken manager (``getAppAccessToken``).
* :mod:`.replies` - ``msg_seq`` allocation and the passive-reply window and budget
  (behind the shared Store interface).
* :mod:`.sends` - the send pipeline's facts for this API (outcomes, ``resend_safe``).
* :mod:`.message` - inbound payloads to :class:`qqreliable.Message` and back.
* :mod:`.events` - :class:`Event`, the dotted names handlers register under.
* :mod:`.stream` - the C2C streaming state machine behind ``reply_stream``.
* :mod:`.voice` - voice as SILK (passed through, converted from WAV, or refused).
* :mod:`.webhook` - ed25519 keys, signatures and the op 13 answer.
* :mod:`.gateway` - the gateway session state machine (Hello, Identify, Resume).

Everything but :mod:`.bot` (the facade) and :mod:`.codec` is pure protocol code.
"""

from .codes import (
    MarkdownRefused,
    MediaUploadFailed,
    OfficialApiError,
    ProactiveRefused,
    ReplyBudgetSpent,
    ReplyWindowClosed,
)
from .bot import OFFICIAL_PACING, OfficialBot, OfficialReceipt
from .events import Event
from .voice import VoiceNotSilk

__all__ = [
    "OfficialBot",
    "OfficialReceipt",
    "OFFICIAL_PACING",
    "Event",
    "OfficialApiError",
    "ReplyWindowClosed",
    "ReplyBudgetSpent",
    "ProactiveRefused",
    "MarkdownRefused",
    "MediaUploadFailed",
    "VoiceNotSilk",
]
