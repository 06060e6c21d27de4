"""Official-API events: a ``dict`` (the dispatch's ``d``) with attribute access.

Handlers are found by a dotted *name*, most general part first, as on the
other protocols (one registry for all):

=============================  ==========================================
dispatch ``t``                 name
=============================  ==========================================
C2C_MESSAGE_CREATE             ``message.c2c.C2C_MESSAGE_CREATE``
GROUP_AT_MESSAGE_CREATE        ``message.group.GROUP_AT_MESSAGE_CREATE``
GROUP_MESSAGE_CREATE           ``message.group.GROUP_MESSAGE_CREATE``
AT_MESSAGE_CREATE              ``message.guild.AT_MESSAGE_CREATE``
MESSAGE_CREATE                 ``message.guild.MESSAGE_CREATE``
DIRECT_MESSAGE_CREATE          ``message.direct.DIRECT_MESSAGE_CREATE``
FRIEND_ADD, GROUP_ADD_ROBOT …  ``notice.FRIEND_ADD`` …
INTERACTION_CREATE             ``interaction.INTERACTION_CREATE``
READY, RESUMED                 ``meta.READY``, ``meta.RESUMED``
anything else                  ``event.<t>``
=============================  ==========================================

So ``on_message("c2c")`` registers ``message.c2c`` and ``on("GROUP_AT_MESSAGE_CREATE")``
registers the full name (:func:`handler_key`). :func:`intents_for` computes the
gateway intents from the keys registered. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Dict, Iterable, Optional, Tuple

from ..exceptions import ApiNotAvailable
from ..message import Message
from .message import to_message

if TYPE_CHECKING:  # pragma: no cover
    pass

__all__ = [
    "Event",
    "event_key",
    "event_name",
    "handler_key",
    "intents_for",
    "MESSAGE_SCENES",
    "Intents",
    "DEFAULT_INTENTS",
]


class Intents:
    """Intent bits (qq-official.md §3.7)."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    DIRECT_MESSAGE = 1 << 12
    OPEN_FORUMS_EVENT = 1 << 18
    AUDIO_OR_LIVE_CHANNEL_MEMBER = 1 << 19
    GROUP_AND_C2C_EVENT = 1 << 25
    INTERACTION = 1 << 26
    MESSAGE_AUDIT = 1 << 27
    FORUMS_EVENT = 1 << 28
    AUDIO_ACTION = 1 << 29
    PUBLIC_GUILD_MESSAGES = 1 << 30


#: What a bot with no handler yet asks for: C2C and group, and guild @-messages.
DEFAULT_INTENTS = Intents.GROUP_AND_C2C_EVENT | Intents.PUBLIC_GUILD_MESSAGES

#: The message dispatches and their scene.
MESSAGE_SCENES = {
    "C2C_MESSAGE_CREATE": "c2c",
    "GROUP_AT_MESSAGE_CREATE": "group",
    "GROUP_MESSAGE_CREATE": "group",
    "AT_MESSAGE_CREATE": "guild",
    "MESSAGE_CREATE": "guild",
    "DIRECT_MESSAGE_CREATE": "direct",
}

_NOTICES = {
    "FRIEND_ADD", "FRIEND_DEL", "C2C_MSG_REJECT", "C2C_MSG_RECEIVE",
    "GROUP_ADD_ROBOT", "GROUP_DEL_ROBOT", "GROUP_MSG_REJECT", "GROUP_MSG_RECEIVE",
    "MESSAGE_AUDIT_PASS", "MESSAGE_AUDIT_REJECT", "MESSAGE_DELETE", "PUBLIC_MESSAGE_DELETE",
    "DIRECT_MESSAGE_DELETE",
}

# The intent each dispatch needs.
_INTENT_OF = {
    "C2C_MESSAGE_CREATE": Intents.GROUP_AND_C2C_EVENT,
    "GROUP_AT_MESSAGE_CREATE": Intents.GROUP_AND_C2C_EVENT,
    "GROUP_MESSAGE_CREATE": Intents.GROUP_AND_C2C_EVENT,
    "FRIEND_ADD": Intents.GROUP_AND_C2C_EVENT,
    "FRIEND_DEL": Intents.GROUP_AND_C2C_EVENT,
    "C2C_MSG_REJECT": Intents.GROUP_AND_C2C_EVENT,
    "C2C_MSG_RECEIVE": Intents.GROUP_AND_C2C_EVENT,
    "GROUP_ADD_ROBOT": Intents.GROUP_AND_C2C_EVENT,
    "GROUP_DEL_ROBOT": Intents.GROUP_AND_C2C_EVENT,
    "GROUP_MSG_REJECT": Intents.GROUP_AND_C2C_EVENT,
    "GROUP_MSG_RECEIVE": Intents.GROUP_AND_C2C_EVENT,
    "AT_MESSAGE_CREATE": Intents.PUBLIC_GUILD_MESSAGES,
    "PUBLIC_MESSAGE_DELETE": Intents.PUBLIC_GUILD_MESSAGES,
    "MESSAGE_CREATE": Intents.GUILD_MESSAGES,
    "MESSAGE_DELETE": Intents.GUILD_MESSAGES,
    "DIRECT_MESSAGE_CREATE": Intents.DIRECT_MESSAGE,
    "DIRECT_MESSAGE_DELETE": Intents.DIRECT_MESSAGE,
    "INTERACTION_CREATE": Intents.INTERACTION,
    "MESSAGE_AUDIT_PASS": Intents.MESSAGE_AUDIT,
    "MESSAGE_AUDIT_REJECT": Intents.MESSAGE_AUDIT,
    "GUILD_CREATE": Intents.GUILDS,
    "GUILD_MEMBER_ADD": Intents.GUILD_MEMBERS,
}

# Intents for keys more general than one dispatch. MESSAGE_CREATE (GUILD_MESSAGES,
# private-domain bots only) is asked for only when registered by its own name:
# asking for it unapproved closes the connection with 4014.
_KEY_INTENTS = {
    "message": Intents.GROUP_AND_C2C_EVENT | Intents.PUBLIC_GUILD_MESSAGES | Intents.DIRECT_MESSAGE,
    "message.c2c": Intents.GROUP_AND_C2C_EVENT,
    "message.group": Intents.GROUP_AND_C2C_EVENT,
    "message.guild": Intents.PUBLIC_GUILD_MESSAGES,
    "message.direct": Intents.DIRECT_MESSAGE,
    "notice": Intents.GROUP_AND_C2C_EVENT,
    "interaction": Intents.INTERACTION,
}


def event_name(t: str) -> str:
    """The dotted name of a dispatch ``t`` (remembered for the first
    ``_NAMES_MAX`` kinds: every event asks)."""
    name = _NAMES.get(t)
    if name is None:
        name = _event_name(t)
        if len(_NAMES) < _NAMES_MAX:
            _NAMES[t] = name
    return name


_NAMES: Dict[str, str] = {}
_NAMES_MAX = 512  # the dispatch kinds come off the wire: a bound, not a registry


def _event_name(t: str) -> str:
    scene = MESSAGE_SCENES.get(t)
    if scene is not None:
        return f"message.{scene}.{t}"
    if t in _NOTICES:
        return f"notice.{t}"
    if t == "INTERACTION_CREATE":
        return "interaction.INTERACTION_CREATE"
    if t in ("READY", "RESUMED"):
        return f"meta.{t}"
    return f"event.{t}"


def event_key(frame: Mapping[str, Any]) -> Optional[Tuple[str, str, str]]:
    """A dispatch's identity, the same for a repeated push and across processes:
    ``("official", t, d.id)`` (the message id; the platform may push a message twice,
    §5.1), else ``("official", t, envelope id)`` (lifecycle events, webhook
    re-deliveries); None for frames without either (handled every time). Never raises."""
    t = frame.get("t")
    d = frame.get("d")
    ident = d.get("id") if isinstance(d, Mapping) else None
    if ident in (None, ""):
        ident = frame.get("id")
    if ident in (None, "") or isinstance(ident, (dict, list)):
        return None
    return ("official", str(t or ""), str(ident))


def handler_key(name: str) -> str:
    """The registry key for ``on(name)``: a dispatch name (``GROUP_AT_MESSAGE_CREATE``)
    becomes its dotted name; a dotted name (``message.group``) is kept."""
    name = name.strip()
    if name and "." not in name and name.upper() == name and name not in ("message", "notice"):
        return event_name(name)
    return name.strip(".")


def intents_for(keys: Iterable[str]) -> int:
    """The intents needed for handlers registered under ``keys`` (:data:`DEFAULT_INTENTS`
    when none asks for anything)."""
    bits = 0
    for key in keys:
        if key in _KEY_INTENTS:
            bits |= _KEY_INTENTS[key]
            continue
        t = key.rsplit(".", 1)[-1]
        bits |= _INTENT_OF.get(t, 0)
    return bits or DEFAULT_INTENTS


class Event(dict):  # type: ignore[type-arg]
    """One dispatch: its ``d`` object, with attribute access and helpers.

    ``event.author`` is ``event["author"]``; a missing key raises
    ``AttributeError``. The envelope travels beside the dict: ``event.type``
    (``t``), ``event.event_id`` (the envelope ``id``, the ``event_id`` of a
    passive reply to a non-message event) and ``event.seq`` (``s``).
    """

    __slots__ = ("_bot", "_message", "type", "event_id", "seq")

    def __init__(
        self,
        data: Optional[Mapping[str, Any]] = None,
        *,
        type: str = "",  # noqa: A002
        event_id: Optional[str] = None,
        seq: Optional[int] = None,
        bot: Any = None,
    ) -> None:
        super().__init__(data if isinstance(data, Mapping) else {})
        self._bot = bot
        self._message: Optional[Message] = None
        self.type = type
        self.event_id = event_id
        self.seq = seq

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], *, bot: Any = None) -> "Event":
        """The event of a dispatch envelope ``{"op": 0, "t", "s", "id", "d"}``."""
        # Every dispatch comes through here: the fields are set directly, not
        # through __init__'s checks (a dict ``d`` is the rule, a Mapping allowed).
        d = payload.get("d")
        event = cls.__new__(cls)
        if type(d) is dict or isinstance(d, Mapping):
            dict.update(event, d)
        t = payload.get("t")
        ident = payload.get("id")
        seq = payload.get("s")
        event._bot = bot
        event._message = None
        event.type = t if type(t) is str else str(t or "")
        event.event_id = ident if isinstance(ident, str) else None
        event.seq = seq if type(seq) is int else None
        return event

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"event has no field {name!r}") from None

    def __reduce__(self) -> Any:
        return (_rebuild, (dict(self), self.type, self.event_id, self.seq))

    def __repr__(self) -> str:
        return f"Event({self.name}, {dict.__repr__(self)})"

    # -- naming -------------------------------------------------------------

    @property
    def name(self) -> str:
        return event_name(self.type)

    @property
    def scene(self) -> str:
        """"c2c", "group", "guild" or "direct" for messages; "" otherwise."""
        scene = MESSAGE_SCENES.get(self.type)
        if scene is not None:
            return scene
        if self.get("group_openid") or self.get("group_id"):
            return "group"
        if self.get("openid") or self.get("user_openid"):
            return "c2c"
        return ""

    @property
    def is_message(self) -> bool:
        return self.type in MESSAGE_SCENES

    @property
    def is_group(self) -> bool:
        return self.scene in ("group", "guild")

    @property
    def is_private(self) -> bool:
        return self.scene in ("c2c", "direct")

    @property
    def message_id(self) -> Optional[str]:
        """The message's ``id`` (the ``msg_id`` of a passive reply); None for other events."""
        value = self.get("id") if self.is_message else None
        return str(value) if value not in (None, "") else None

    @property
    def user_id(self) -> Optional[str]:
        """The sender's openid (C2C ``user_openid``, group ``member_openid``, guild ``id``)."""
        author = self.get("author")
        if isinstance(author, Mapping):
            for key in ("user_openid", "member_openid", "id"):
                if author.get(key):
                    return str(author[key])
        for key in ("openid", "user_openid", "group_member_openid", "op_member_openid"):
            if self.get(key):
                return str(self[key])
        return None

    @property
    def group_id(self) -> Optional[str]:
        """The ``group_openid`` (group events), or None."""
        for key in ("group_openid", "group_id"):
            if self.get(key):
                return str(self[key])
        return None

    @property
    def target(self) -> Optional[str]:
        """Where a reply goes: the user openid (C2C), group openid, channel id (guild)
        or guild id (DM)."""
        scene = self.scene
        if scene == "c2c":
            return self.user_id
        if scene == "group":
            return self.group_id
        if scene == "guild":
            return str(self["channel_id"]) if self.get("channel_id") else None
        if scene == "direct":
            return str(self["guild_id"]) if self.get("guild_id") else None
        return None

    # -- message helpers ----------------------------------------------------

    @property
    def message(self) -> Message:
        """The content and attachments as a :class:`Message` (mentions as ``at``,
        faces as ``face``, attachments as media segments)."""
        if self._message is None:
            self._message = to_message(self)
        return self._message

    @property
    def plain_text(self) -> str:
        """The text the user typed, without the mentions and the leading space."""
        if self._message is None:
            content = self.get("content")
            if type(content) is str and "<" not in content:
                return content.lstrip()  # no mention or emoji: what to_message keeps of it
        return self.message.extract_plain_text()

    def reply(self, message: Any, **kwargs: Any) -> Any:
        """Reply to this event (passively while the platform allows it).

        Returns the :class:`Receipt`. Raises what the bot's ``reply`` raises.
        """
        if self._bot is None:
            raise ApiNotAvailable("this event is not attached to a bot")
        return self._bot.reply(self, message, **kwargs)

    def reply_stream(self, chunks: Any, interval: float = 1.0, **kwargs: Any) -> Any:
        """Reply with ``chunks`` (an iterable of str), streamed in C2C, one message elsewhere."""
        if self._bot is None:
            raise ApiNotAvailable("this event is not attached to a bot")
        return self._bot.reply_stream(self, chunks, interval=interval, **kwargs)


def _rebuild(data: Mapping[str, Any], type: str, event_id: Optional[str], seq: Optional[int]) -> Event:  # noqa: A002
    return Event(data, type=type, event_id=event_id, seq=seq)
