"""mirai-api-http events: a ``dict`` with attribute access, their names, and where a reply goes.

Every pushed (or polled) MAH object is an :class:`Event` holding the raw JSON
untouched (reference §6.1, §7). Its *name* is what the handler registry is
keyed by, dotted like the OneBot side so one registry serves both:

* ``GroupMessage`` / ``FriendMessage`` / ``TempMessage`` / ``StrangerMessage``
  / ``OtherClientMessage`` → ``message.group`` / ``message.friend`` /
  ``message.temp`` / ``message.stranger`` / ``message.other_client``. A
  handler for ``message`` sees them all (``on_message()``), one for
  ``message.group`` only group messages (``on_message("group")``).
* The bot's own messages from another client (``GroupSyncMessage`` ...) →
  ``message_sent.group`` ...: ``on_message`` handlers never see them, so a
  bot cannot answer itself in a loop. ``on("message_sent")`` sees them.
* Any other event → its MAH type name, e.g. ``MemberJoinRequestEvent``
  (``on("MemberJoinRequestEvent")``). An unknown type is named after itself.

:func:`handler_key` turns what a user registers (``"GroupMessage"``,
``"message.group"``, ``"MemberJoinRequestEvent"``) into that key.

Pure: no I/O, no threads.
"""

from __future__ import annotations

from collections import abc
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple, Union

from ..exceptions import ApiNotAvailable
from ..message import Message
from .chain import chain_to_message, source_of

if TYPE_CHECKING:
    from ..onebot.actions import Receipt

__all__ = [
    "Event",
    "MESSAGE_TYPES",
    "SYNC_MESSAGE_TYPES",
    "MESSAGE_KINDS",
    "event_name",
    "handler_key",
    "message_key",
    "reply_route",
]

#: Message types → the kind ``on_message(kind)`` takes.
MESSAGE_TYPES: Dict[str, str] = {
    "GroupMessage": "group",
    "FriendMessage": "friend",
    "TempMessage": "temp",
    "StrangerMessage": "stranger",
    "OtherClientMessage": "other_client",
}

#: The bot's own messages sent from another client (never seen by on_message).
SYNC_MESSAGE_TYPES: Dict[str, str] = {
    "GroupSyncMessage": "group",
    "FriendSyncMessage": "friend",
    "TempSyncMessage": "temp",
    "StrangerSyncMessage": "stranger",
}

MESSAGE_KINDS = ("group", "friend", "temp", "stranger", "other_client")
_PRIVATE_KINDS = ("friend", "temp", "stranger")


def event_name(mah_type: Any) -> str:
    """The registry name of a MAH ``type`` (``GroupMessage`` → ``message.group``)."""
    if not isinstance(mah_type, str) or not mah_type:
        return "unknown"
    if mah_type in MESSAGE_TYPES:
        return "message." + MESSAGE_TYPES[mah_type]
    if mah_type in SYNC_MESSAGE_TYPES:
        return "message_sent." + SYNC_MESSAGE_TYPES[mah_type]
    return mah_type


def handler_key(name: str) -> str:
    """The registry key for ``on(name)``: a MAH message type becomes its dotted
    name, anything else is used as given (``"MemberJoinRequestEvent"``,
    ``"message.group"``, ``"message"``).

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: ``name`` is empty.
    """
    if not isinstance(name, str):
        raise TypeError(f"an event name must be a str, not {type(name).__name__}")
    name = name.strip().strip(".")
    if not name:
        raise ValueError("an event name must not be empty")
    if name in MESSAGE_TYPES or name in SYNC_MESSAGE_TYPES:
        return event_name(name)
    return name


def message_key(kind: Optional[str] = None) -> str:
    """The registry key of ``on_message(kind)``: ``message`` or ``message.<kind>``.

    Raises:
        ValueError: ``kind`` is not one of :data:`MESSAGE_KINDS`.
    """
    if kind is None:
        return "message"
    if kind not in MESSAGE_KINDS:
        raise ValueError(f"on_message kind must be one of {', '.join(MESSAGE_KINDS)} or None, not {kind!r}")
    return "message." + kind


def _id(obj: Any, *path: str) -> Optional[int]:
    for key in path:
        if not isinstance(obj, abc.Mapping):
            return None
        obj = obj.get(key)
    if obj is None or isinstance(obj, bool):
        return None
    try:
        return int(obj)
    except (TypeError, ValueError):
        return None


class Event(dict):  # type: ignore[type-arg]
    """One mirai-api-http event or message: the raw JSON object, with attribute
    access and helpers.

    ``event.sender`` is ``event["sender"]``; a missing key raises
    ``AttributeError`` (``event.get(...)`` returns None). ``event.recovered``
    is True for a message read back from history after a reconnect.
    """

    __slots__ = ("_bot", "_message", "recovered")

    def __init__(self, data: Union[Mapping[str, Any], None] = None, *, bot: Any = None) -> None:
        super().__init__(data or {})
        self._bot = bot
        self._message: Optional[Message] = None
        self.recovered = False

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"event has no field {name!r}") from None

    def __reduce__(self) -> Any:
        return (Event, (dict(self),))

    def __repr__(self) -> str:
        return f"Event({self.name}, {dict.__repr__(self)})"

    # -- naming -------------------------------------------------------------

    @property
    def type(self) -> str:  # noqa: A003
        """MAH's ``type`` (``GroupMessage``, ``MemberJoinRequestEvent``); ``""`` if missing."""
        value = self.get("type")
        return value if isinstance(value, str) else ""

    @property
    def name(self) -> str:
        """The registry name (see the module docstring)."""
        return event_name(self.get("type"))

    @property
    def kind(self) -> Optional[str]:
        """``group`` / ``friend`` / ``temp`` / ``stranger`` / ``other_client`` for
        messages (own sync messages too), None for other events."""
        t = self.type
        return MESSAGE_TYPES.get(t) or SYNC_MESSAGE_TYPES.get(t)

    @property
    def is_message(self) -> bool:
        return self.type in MESSAGE_TYPES or self.type in SYNC_MESSAGE_TYPES

    @property
    def is_self(self) -> bool:
        """True for the bot's own messages sent from another client (``*SyncMessage``)."""
        return self.type in SYNC_MESSAGE_TYPES

    # -- message helpers ----------------------------------------------------

    @property
    def message_id(self) -> Optional[int]:
        """The chain's ``Source.id`` (for messages), or the event's ``messageId``
        (recall events); None otherwise."""
        source_id, _ = source_of(self.get("messageChain"))
        if source_id is not None:
            return source_id
        return _id(self, "messageId")

    @property
    def time(self) -> Optional[int]:
        """``Source.time`` (epoch seconds) of a message, or the event's ``time`` field."""
        _, when = source_of(self.get("messageChain"))
        return when if when is not None else _id(self, "time")

    @property
    def message(self) -> Message:  # type: ignore[override]
        """``messageChain`` as a :class:`~qqreliable.Message` (Source left out:
        see :attr:`message_id`); ``event["messageChain"]`` stays raw."""
        if self._message is None:
            self._message = chain_to_message(self.get("messageChain"))
        return self._message

    @property
    def plain_text(self) -> str:
        """The text segments of the message joined."""
        if "messageChain" not in self:
            return ""
        return self.message.extract_plain_text()

    @property
    def user_id(self) -> Optional[int]:
        """Who sent it or who it is about: ``sender.id``, ``member.id``, ``fromId``, ``friend.id``."""
        for path in (("sender", "id"), ("member", "id"), ("fromId",), ("friend", "id"), ("authorId",)):
            found = _id(self, *path)
            if found is not None:
                return found
        return None

    @property
    def group_id(self) -> Optional[int]:
        """The group concerned, when there is one."""
        t = self.type
        if t in ("GroupSyncMessage",):
            return _id(self, "subject", "id")
        if t == "TempSyncMessage":
            return _id(self, "subject", "group", "id")
        if t in ("FriendMessage", "StrangerMessage", "FriendSyncMessage", "StrangerSyncMessage",
                 "OtherClientMessage"):
            return None
        for path in (("sender", "group", "id"), ("group", "id"), ("member", "group", "id"), ("groupId",)):
            found = _id(self, *path)
            if found:
                return found
        if t == "NudgeEvent" and isinstance(self.get("subject"), Mapping) and self["subject"].get("kind") == "Group":
            return _id(self, "subject", "id")
        return None

    @property
    def is_group(self) -> bool:
        """A group message (or own group sync message), or an event about a group."""
        kind = self.kind
        if kind is not None:
            return kind == "group"
        return self.group_id is not None

    @property
    def is_private(self) -> bool:
        """A friend, temp or stranger message (own sync messages of those too)."""
        return self.kind in _PRIVATE_KINDS

    @property
    def chat(self) -> Optional[Tuple[str, int]]:
        """``("group", id)`` or ``("friend", qq)`` (temp and stranger chats too):
        the chat for dedupe by ``(chat, message_id)``."""
        route = reply_route(self)
        if route is None:
            return None
        command, content = route
        if command == "sendGroupMessage":
            return ("group", content["target"])
        if command == "sendTempMessage":
            return ("temp", content["qq"])
        if command == "sendOtherClientMessage":
            return ("other_client", content["target"])
        return ("friend", content["target"])

    def reply(self, message: Any, quote: bool = False, **kwargs: Any) -> "Receipt":
        """Send ``message`` to where this event came from (sendGroupMessage,
        sendFriendMessage or sendTempMessage by source), quoting it with ``quote=True``.

        Blocking; see the bot's ``send``.

        Raises:
            ApiNotAvailable: the event is not attached to a bot, or has no chat to answer in.
        """
        if self._bot is None:
            raise ApiNotAvailable("this event is not attached to a bot")
        result: Receipt = self._bot.send(self, message, quote=quote, **kwargs)
        return result


def reply_route(event: Mapping[str, Any]) -> Optional[Tuple[str, Dict[str, int]]]:
    """``(send command, content without messageChain)`` that answers ``event``
    where it came from, or None when it has no chat (a friend request, ...)."""
    t = event.get("type")
    if t == "GroupMessage":
        group = _id(event, "sender", "group", "id")
        return ("sendGroupMessage", {"target": group}) if group is not None else None
    if t in ("FriendMessage", "StrangerMessage"):
        qq = _id(event, "sender", "id")
        return ("sendFriendMessage", {"target": qq}) if qq is not None else None
    if t == "TempMessage":
        qq, group = _id(event, "sender", "id"), _id(event, "sender", "group", "id")
        return ("sendTempMessage", {"qq": qq, "group": group}) if qq is not None and group is not None else None
    if t == "OtherClientMessage":
        client = _id(event, "sender", "id")
        return ("sendOtherClientMessage", {"target": client}) if client is not None else None
    if t == "GroupSyncMessage":
        group = _id(event, "subject", "id")
        return ("sendGroupMessage", {"target": group}) if group is not None else None
    if t in ("FriendSyncMessage", "StrangerSyncMessage"):
        qq = _id(event, "subject", "id")
        return ("sendFriendMessage", {"target": qq}) if qq is not None else None
    if t == "TempSyncMessage":
        qq, group = _id(event, "subject", "id"), _id(event, "subject", "group", "id")
        return ("sendTempMessage", {"qq": qq, "group": group}) if qq is not None and group is not None else None
    if t == "NudgeEvent":
        subject = event.get("subject")
        if isinstance(subject, abc.Mapping):
            sid = _id(subject, "id")
            if sid is not None and subject.get("kind") == "Group":
                return ("sendGroupMessage", {"target": sid})
            if sid is not None and subject.get("kind") in ("Friend", "Stranger"):
                return ("sendFriendMessage", {"target": sid})
        return None
    if t in ("FriendInputStatusChangedEvent", "FriendNickChangedEvent", "FriendAddEvent"):
        qq = _id(event, "friend", "id")
        return ("sendFriendMessage", {"target": qq}) if qq is not None else None
    if t in ("NewFriendRequestEvent", "BotInvitedJoinGroupRequestEvent", "FriendDeleteEvent"):
        return None
    for path in (("group", "id"), ("member", "group", "id"), ("groupId",)):
        group = _id(event, *path)
        if group:
            return ("sendGroupMessage", {"target": group})
    return None
