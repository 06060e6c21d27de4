"""mirai-api-http v2: :class:`MiraiBot` and the protocol it speaks.

``MiraiBot`` (:mod:`.bot`) connects over the WebSocket adapter (:mod:`.codec`
for the transport) or the HTTP adapter (:mod:`.http`), and sends through the
reliability layer (:mod:`.sends`). Pure protocol modules: :mod:`.codes` (the status-code classification),
:mod:`.chain` (message chains ↔ :class:`qqreliable.Message`), :mod:`.events`
(:class:`Event` and event names) and :mod:`.commands` (the command inventory and
version-dependent request shapes).
"""

from .bot import MiraiBot
from .chain import OutgoingChain, chain_to_message, message_to_chain
from .codes import Verdict, classify, classify_handshake
from .commands import COMMANDS, READ_ONLY
from .events import Event

__all__ = [
    "MiraiBot",
    "Event",
    "OutgoingChain",
    "chain_to_message",
    "message_to_chain",
    "Verdict",
    "classify",
    "classify_handshake",
    "COMMANDS",
    "READ_ONLY",
]
