"""OneBot v11 events: a ``dict`` with attribute access, and the event names.

``Event`` is a ``dict`` subclass on purpose: legacy bots treat events as dicts
(``event["group_id"]``) and aiocqhttp users expect attribute access
(``event.group_id``). The raw JSON is held untouched; the helpers only read it.
Pure: no I/O, no threads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional, Union

from ..exceptions import ApiNotAvailable
from ..message import Message

if TYPE_CHECKING:
    from .actions import Receipt

__all__ = ["Event", "detail_type_key", "event_name"]

# Which field names the second level of an event's name, per post_type.
_DETAIL_KEYS = {
    "message": "message_type",
    "message_sent": "message_type",
    "notice": "notice_type",
    "request": "request_type",
    "meta_event": "meta_event_type",
}


def detail_type_key(post_type: str) -> str:
    """The field that holds the detail type for ``post_type`` (``message_type``, ...)."""
    return _DETAIL_KEYS.get(post_type, f"{post_type}_type")


def event_name(data: Mapping[str, Any]) -> str:
    """``post_type.detail_type.sub_type`` of a raw event, as :attr:`Event.name` (pure, cheap)."""
    get = data.get
    post_type = get("post_type")
    if not isinstance(post_type, str):
        post_type = ""
    detail = get(_DETAIL_KEYS.get(post_type) or f"{post_type}_type")
    sub_type = get("sub_type")
    head = post_type
    if post_type == "message":
        user_id = get("user_id")
        if user_id is not None:
            self_id = get("self_id")
            if type(user_id) is int and type(self_id) is int:  # the usual case: no str() needed
                if user_id == self_id:
                    head = "message_sent"
            elif str(user_id) == str(self_id):
                head = "message_sent"
    if head and type(detail) is str and detail and type(sub_type) is str and sub_type:
        return f"{head}.{detail}.{sub_type}"  # the usual case, in one step
    parts = [head] if head else []
    if isinstance(detail, str) and detail:
        parts.append(detail)
    if isinstance(sub_type, str) and sub_type:
        parts.append(sub_type)
    return ".".join(parts)


class Event(dict):  # type: ignore[type-arg]
    """One OneBot event: the raw JSON object, with attribute access and helpers.

    ``event.group_id`` is ``event["group_id"]``; a missing key raises
    ``AttributeError`` (``event.get("group_id")`` returns ``None``).
    ``event.recovered`` is True for a message the bot read back from history
    after a reconnect (it was not delivered live); it is not a key of the dict.

    The event's *name* is ``post_type.detail_type.sub_type``, for example
    ``message.group.normal`` or ``notice.group_increase.approve``. A message
    whose ``user_id`` is the bot's own ``self_id`` is named ``message_sent.…``
    whatever its ``post_type`` (Lagrange reports self messages as ``message``),
    so ``on_message`` handlers never see the bot's own messages and cannot loop.
    """

    __slots__ = ("_bot", "_message", "_name", "recovered")

    def __init__(self, data: Union[Mapping[str, Any], None] = None, *, bot: Any = None) -> None:
        super().__init__(data or {})
        self._bot = bot
        self._message: Optional[Message] = None
        self._name: Optional[str] = None
        # True when the bot recovered this message from history after a reconnect
        # (it was missed while disconnected); not part of the raw event.
        self.recovered = False

    @classmethod
    def _received(cls, data: Mapping[str, Any], bot: Any) -> "Event":
        """An event as the bot dispatches it: its name computed once, here.

        The name is what the event was routed by; a handler that later edits the
        dict does not rename it (an ``Event`` made by hand computes it each time).
        """
        # What __init__ does, without its call: one of these is made per event.
        event = dict.__new__(cls)
        dict.update(event, data)
        event._bot = bot
        event._message = None
        event._name = event_name(data)
        event.recovered = False
        return event

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"event has no field {name!r}") from None

    def __reduce__(self) -> Any:  # pickle as a plain event without the bot
        return (Event, (dict(self),))

    def __repr__(self) -> str:
        return f"Event({self.name}, {dict.__repr__(self)})"

    # -- naming -------------------------------------------------------------

    @property
    def post_type(self) -> str:
        value = self.get("post_type")
        return value if isinstance(value, str) else ""

    @property
    def detail_type(self) -> str:
        """``message_type``, ``notice_type``, ``request_type`` or ``meta_event_type``."""
        value = self.get(detail_type_key(self.post_type))
        return value if isinstance(value, str) else ""

    @property
    def is_self(self) -> bool:
        """True for the bot's own messages (``message_sent``, or ``user_id == self_id``)."""
        if self.post_type == "message_sent":
            return True
        return (
            self.post_type == "message"
            and self.get("user_id") is not None
            and str(self.get("user_id")) == str(self.get("self_id"))
        )

    @property
    def name(self) -> str:
        """``post_type.detail_type.sub_type``, with empty parts left out."""
        name = self._name
        return name if name is not None else event_name(self)

    # -- message helpers ----------------------------------------------------

    @property
    def message(self) -> Message:  # type: ignore[override]
        """The ``message`` field as a :class:`Message`, whatever its wire format
        (segment array or CQ-code string). ``event["message"]`` stays raw."""
        if self._message is None:
            raw = self.get("message")
            try:
                self._message = Message(raw)
            except (TypeError, ValueError):
                self._message = Message(str(self.get("raw_message") or ""))
        return self._message

    @property
    def plain_text(self) -> str:
        """The text segments of the message joined, without CQ codes."""
        if "message" not in self:
            return ""
        return self.message.extract_plain_text()

    @property
    def is_group(self) -> bool:
        return self.get("message_type") == "group" or (
            self.post_type not in ("message", "message_sent") and self.get("group_id") is not None
        )

    @property
    def is_private(self) -> bool:
        return self.get("message_type") == "private"

    def reply(self, message: Any, **kwargs: Any) -> "Receipt":
        """Send ``message`` to where this event came from; same as ``bot.send(event, message)``."""
        if self._bot is None:
            raise ApiNotAvailable("this event is not attached to a bot")
        result: Receipt = self._bot.send(self, message, **kwargs)
        return result
