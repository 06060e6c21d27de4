"""mirai-api-http's facts for gap filling: :class:`MiraiHistory`.

MAH replays nothing pushed while no client was connected. What it has is
``roamingMessages``: a friend chat's messages (groups too from MAH 2.10) in a
time range, kept by QQ's servers. :class:`MiraiHistory` tells the neutral
:class:`~qqreliable.reliability.gapfill.GapFiller` which chat a live message
belongs to (``("friend", qq)`` / ``("group", id)``, with the chain's ``Source``
id and time) and reads one page of a chat's history by time: the messages
of the ``span`` seconds before a cursor (the oldest time of the previous page).

Pure except :meth:`MiraiHistory.page`, which makes one call. Thread-safe.
"""

from __future__ import annotations

import time
from collections import abc
from collections.abc import Mapping
from typing import Any, Callable, Dict, List, Optional

from ..exceptions import ActionFailed
from ..outcome import Category
from ..reliability.interfaces import Account, PastMessage, Sighting, Target
from .chain import source_of
from .commands import Version
from ..reliability.interfaces import as_int as _as_int

__all__ = ["MiraiHistory", "chat_of"]

ReadFn = Callable[[str, Dict[str, Any], float], Any]

_new_tuple = tuple.__new__


def chat_of(event: Mapping[str, Any]) -> Optional[Target]:
    """The roaming chat of a message: ``("friend", qq)`` for friend and stranger
    messages, ``("group", id)`` for group messages; None for everything else (temp
    chats and events have no roaming history)."""
    # Runs on the reader thread for every live message: the usual one (a group
    # message, dicts, an int id) in few steps; an ABC's isinstance is a Python call.
    kind = event.get("type")
    sender = event.get("sender")
    if type(sender) is not dict and not isinstance(sender, abc.Mapping):
        return None
    if kind == "GroupMessage":
        group = sender.get("group")
        if type(group) is dict or isinstance(group, abc.Mapping):
            gid = group.get("id")
            if type(gid) is not int:
                gid = _as_int(gid)
        else:
            gid = None
        return ("group", gid) if gid is not None else None
    if kind in ("FriendMessage", "StrangerMessage"):
        qq = _as_int(sender.get("id"))
        return ("friend", qq) if qq is not None else None
    return None


class MiraiHistory:
    """:class:`~qqreliable.reliability.interfaces.ChatHistory` for mirai-api-http.

    Args:
        read: ``read(command, content, timeout) -> answer`` (raises a qqreliable error).
        qq: the bot account.
        version: returns MAH's version when known (groups need 2.10).
        span: seconds of history one page covers.
        timeout: per call.
        clock: wall clock (tests).
    """

    def __init__(
        self,
        read: ReadFn,
        qq: int,
        *,
        version: Callable[[], Optional[Version]] = lambda: None,
        span: float = 600.0,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._read = read
        self._qq = qq
        self._version = version
        self.span = span
        self.timeout = timeout
        self._clock = clock

    def locate(self, event: Mapping[str, Any]) -> Optional[Sighting]:
        chat = chat_of(event)
        if chat is None:
            return None
        mid, when = source_of(event.get("messageChain"))
        if mid is None:
            return None
        # Sighting(...) without its Python-level __new__ (what its _make does).
        return _new_tuple(Sighting, (self._qq, chat, mid, float(when) if when is not None else None))  # type: ignore[no-any-return]

    def page(self, account: Account, chat: Target, count: int, before: Any) -> Optional[List[PastMessage]]:
        kind, target = chat
        version = self._version()
        if kind == "group" and version is not None and version < (2, 10, 0):
            raise ActionFailed("roamingMessages", 6, "MAH before 2.10 keeps no roaming history for groups",
                               category=Category.UNSUPPORTED)
        end = float(before) if isinstance(before, (int, float)) else self._clock() + 60.0
        content = {"timeStart": int(end - self.span), "timeEnd": int(end), "target": target}
        answer = self._read("roamingMessages", content, self.timeout)
        messages = answer.get("data") if isinstance(answer, abc.Mapping) and "data" in answer else answer
        if not isinstance(messages, list):
            return None
        out: List[PastMessage] = []
        for message in messages[-max(1, count):]:
            if not isinstance(message, dict):
                continue
            mid, when = source_of(message.get("messageChain"))
            if mid is None:
                continue
            sender = message.get("sender")
            author = _as_int(sender.get("id")) if isinstance(sender, abc.Mapping) else None
            kind_name = message.get("type")
            own = (isinstance(kind_name, str) and kind_name.endswith("SyncMessage")) or author == self._qq
            out.append(PastMessage(mid, float(when) if when is not None else None,
                                   float(when) if when is not None else None, message, own))
        out.sort(key=lambda m: m.time or 0.0)
        return out
