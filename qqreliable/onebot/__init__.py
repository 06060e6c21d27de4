"""OneBot v11: the action table and retcode rules, events, quick operations and ``Bot``.

``from qqreliable.onebot import Bot`` is the same class as ``from qqreliable import Bot``.
"""

from .actions import Receipt
from .bot import Bot
from .events import Event

__all__ = ["Bot", "Event", "Receipt"]
