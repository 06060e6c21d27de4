"""OneBot v11's facts for gap filling and de-duplication.

* :class:`OneBotHistory`: which chat a live message belongs to (``group_id`` /
  ``user_id``, ``target_id`` for the bot's own private messages) and one page of
  ``get_group_msg_history`` / ``get_friend_msg_history`` (paged back by
  ``message_seq``), as the neutral
  :class:`~qqreliable.reliability.gapfill.GapFiller` reads them;
* :func:`event_key`: the identity of a OneBot event for
  :class:`~qqreliable.reliability.dedupe.Deduper`.

Pure except :meth:`OneBotHistory.page`, which makes one API call. Thread-safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Dict, Hashable, List, Optional, Tuple

from ..reliability.dedupe import digest
from ..reliability.interfaces import Account, PastMessage, Sighting, Target
from ..reliability.interfaces import as_int as _as_int

__all__ = ["OneBotHistory", "chat_of", "event_key"]

HistoryCall = Callable[[str, Optional[int], Dict[str, Any]], Any]
_new_tuple = tuple.__new__


def chat_of(event: Mapping[str, Any]) -> Optional[Target]:
    """The chat a message event belongs to, ``("group", group_id)`` or
    ``("private", user_id)``, or None for other events."""
    if event.get("post_type") not in ("message", "message_sent"):
        return None
    message_type = event.get("message_type")
    if message_type == "group":
        group_id = _as_int(event.get("group_id"))
        return ("group", group_id) if group_id is not None else None
    if message_type == "private":
        peer = event.get("target_id") if event.get("post_type") == "message_sent" else event.get("user_id")
        user_id = _as_int(peer)
        return ("private", user_id) if user_id is not None else None
    return None


def _is_self(event: Mapping[str, Any], self_id: Optional[int]) -> bool:
    if event.get("post_type") == "message_sent":
        return True
    user_id = _as_int(event.get("user_id"))
    return self_id is not None and user_id == self_id


class OneBotHistory:
    """:class:`~qqreliable.reliability.interfaces.ChatHistory` for OneBot v11.

    Args:
        call: ``call(action, self_id, params) -> data``: one API call through the
            given account (the bot's history call; raises a qqreliable error).
    """

    def __init__(self, call: HistoryCall) -> None:
        self._call = call

    def locate(self, event: Mapping[str, Any]) -> Optional[Sighting]:
        # Runs on the reader thread for every live message: the usual case in few steps.
        message_id = event.get("message_id")
        if message_id is None:
            return None
        chat = chat_of(event)
        if chat is None:
            return None
        stamp = event.get("time")
        kind = type(stamp)
        if kind is int or kind is float:
            when: Optional[float] = float(stamp)  # type: ignore[arg-type]
        else:
            when = float(stamp) if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) else None
        # Sighting(...) without its Python-level __new__ (what its _make does).
        return _new_tuple(Sighting, (_as_int(event.get("self_id")), chat, message_id, when))  # type: ignore[no-any-return]

    def page(self, account: Account, chat: Target, count: int, before: Any) -> Optional[List[PastMessage]]:
        message_type, chat_id = chat
        action = "get_group_msg_history" if message_type == "group" else "get_friend_msg_history"
        params: Dict[str, Any] = {"group_id" if message_type == "group" else "user_id": chat_id, "count": count}
        if before is not None:
            params["message_seq"] = before
        self_id = _as_int(account)
        data = self._call(action, self_id, params)
        page = data.get("messages") if isinstance(data, Mapping) else None
        if not isinstance(page, list):
            return None
        out: List[PastMessage] = []
        for m in page:
            if not isinstance(m, dict):
                continue
            event = dict(m)
            event.setdefault("post_type", "message")
            event.setdefault("message_type", message_type)
            if self_id is not None:
                event.setdefault("self_id", self_id)
            if message_type == "group":
                event.setdefault("group_id", chat_id)
            stamp = m.get("time")
            out.append(
                PastMessage(
                    message_id=m.get("message_id"),
                    time=float(stamp) if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) else None,
                    cursor=m.get("message_seq", m.get("message_id")),
                    event=event,
                    own=_is_self(event, _as_int(event.get("self_id"))),
                )
            )
        return out


def event_key(event: Mapping[str, Any]) -> Optional[Tuple[Hashable, ...]]:
    """The identity of a OneBot event for de-duplication, or None when it must never
    be dropped:

    - messages (and ``message_sent``): account, post type, chat and ``message_id``;
    - requests: account, request type and ``flag`` (the handle used to answer it);
    - notices and anything else: account plus a digest of the whole event, so only
      an exact repeat is dropped (two different pokes in the same second are not);
    - heartbeat and lifecycle meta events: none. They are never deduplicated.
    """
    post_type = event.get("post_type")
    if post_type == "message" or post_type == "message_sent":
        message_id = event.get("message_id")
        if message_id is not None:
            message_type = event.get("message_type")
            if message_type == "group":  # the usual event: no conversion it does not need
                return (str(event.get("self_id", "")), post_type, "group", str(event.get("group_id")), str(message_id))
            chat = event.get("user_id")
            if post_type == "message_sent":
                chat = event.get("target_id", chat)
            return (
                str(event.get("self_id", "")), post_type, str(event.get("message_type", "")), str(chat), str(message_id)
            )
    elif post_type == "meta_event":
        return None
    account = str(event.get("self_id", ""))
    if post_type == "request" and event.get("flag") not in (None, ""):
        return (account, "request", str(event.get("request_type", "")), str(event.get("flag")))
    return (account, "digest", digest(event))
