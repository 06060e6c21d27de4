"""Look-alikes of the YiriMirai message models that QChatGPT 2.x plugins import.

``from mirai import Plain, Image, At, MessageChain`` inside a plugin resolves here when the
plugin runs under ``python -m qqreliable.compat.qchatgpt2`` and the real YiriMirai is not
installed. Only the names and attributes plugins use are mirrored (clean-room: no
YiriMirai code): components carry their MAH fields, :class:`MessageChain` is a list of
components with ``str()``, ``message_id``, ``get(Type)`` and ``in``, and everything
converts to :class:`qqreliable.Message` (:func:`to_message`).

Pure data: no I/O, no threads. Objects are not thread-safe to mutate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, Iterable, List, Optional, Type, TypeVar, Union

from ..message import Message, MessageSegment
from ..mirai.chain import element_to_segment

__all__ = [
    "MessageComponent", "Plain", "Image", "FlashImage", "At", "AtAll", "Face", "Voice", "Quote",
    "Source", "MessageChain", "MessageEvent", "FriendMessage", "GroupMessage", "StrangerMessage",
    "TempMessage", "Friend", "Group", "GroupMember", "component_from_mah", "to_message",
]

C = TypeVar("C", bound="MessageComponent")


class MessageComponent:
    """One element of a chain; ``type`` is its MAH type name."""

    type: str = ""
    _fields: tuple = ()

    def to_mah(self) -> Dict[str, Any]:
        """The MAH element for this component (fields left ``None`` are omitted)."""
        out: Dict[str, Any] = {"type": self.type}
        for attr, key in self._fields:
            value = getattr(self, attr)
            if value is not None:
                out[key] = value
        return out

    def __eq__(self, other: Any) -> bool:
        return type(other) is type(self) and other.to_mah() == self.to_mah()

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        inner = ", ".join(f"{a}={getattr(self, a)!r}" for a, _ in self._fields if getattr(self, a) is not None)
        return f"{type(self).__name__}({inner})"

    def __str__(self) -> str:
        return ""


class Plain(MessageComponent):
    """Text. ``Plain("hi")`` or ``Plain(text="hi")``."""

    type = "Plain"
    _fields = (("text", "text"),)

    def __init__(self, text: str = "", **_: Any) -> None:
        if not isinstance(text, str):
            raise TypeError(f"Plain(text=...) must be a str, not {type(text).__name__}")
        self.text = text

    def __str__(self) -> str:
        return self.text


class Image(MessageComponent):
    """An image by ``url=``, ``path=``, ``base64=`` or ``image_id=`` (exactly one needed)."""

    type = "Image"
    _fields = (("image_id", "imageId"), ("url", "url"), ("path", "path"), ("base64", "base64"))

    def __init__(self, image_id: Optional[str] = None, url: Optional[str] = None, path: Any = None,
                 base64: Optional[str] = None, **_: Any) -> None:
        if image_id is None and url is None and path is None and base64 is None:
            raise ValueError(f"{type(self).__name__} needs one of url=, path=, base64= or image_id=")
        self.image_id = image_id
        self.url = url
        self.path = None if path is None else str(path)
        self.base64 = base64

    def __str__(self) -> str:
        return "[图片]"


class FlashImage(Image):
    type = "FlashImage"

    def __str__(self) -> str:
        return "[闪照]"


class At(MessageComponent):
    """@ a member: ``At(target=qq)`` (or ``At(qq)``)."""

    type = "At"
    _fields = (("target", "target"), ("display", "display"))

    def __init__(self, target: Union[int, str], display: Optional[str] = None, **_: Any) -> None:
        self.target = int(target)
        self.display = display

    def __str__(self) -> str:
        return f"@{self.display or self.target}"


class AtAll(MessageComponent):
    type = "AtAll"

    def __init__(self, **_: Any) -> None:
        pass

    def __str__(self) -> str:
        return "@全体成员"


class Face(MessageComponent):
    """A QQ face: ``Face(face_id=14)`` or ``Face(name="微笑")``."""

    type = "Face"
    _fields = (("face_id", "faceId"), ("name", "name"))

    def __init__(self, face_id: Optional[int] = None, name: Optional[str] = None, **_: Any) -> None:
        if face_id is None and name is None:
            raise ValueError("Face needs face_id= or name=")
        self.face_id = None if face_id is None else int(face_id)
        self.name = name

    def __str__(self) -> str:
        return f"[{self.name or '表情'}]"


class Voice(MessageComponent):
    """A voice clip by ``url=``, ``path=``, ``base64=`` or ``voice_id=``."""

    type = "Voice"
    _fields = (("voice_id", "voiceId"), ("url", "url"), ("path", "path"), ("base64", "base64"))

    def __init__(self, voice_id: Optional[str] = None, url: Optional[str] = None, path: Any = None,
                 base64: Optional[str] = None, **_: Any) -> None:
        if voice_id is None and url is None and path is None and base64 is None:
            raise ValueError("Voice needs one of url=, path=, base64= or voice_id=")
        self.voice_id = voice_id
        self.url = url
        self.path = None if path is None else str(path)
        self.base64 = base64

    def __str__(self) -> str:
        return "[语音]"


class Source(MessageComponent):
    """The id of a received message (first element of an incoming chain)."""

    type = "Source"
    _fields = (("id", "id"), ("time", "time"))

    def __init__(self, id: int, time: Optional[int] = None, **_: Any) -> None:  # noqa: A002
        self.id = int(id)
        self.time = time


class Quote(MessageComponent):
    """A quoted message: ``id`` is the quoted message's id."""

    type = "Quote"
    _fields = (("id", "id"), ("group_id", "groupId"), ("sender_id", "senderId"), ("target_id", "targetId"))

    def __init__(self, id: int, group_id: Optional[int] = None, sender_id: Optional[int] = None,  # noqa: A002
                 target_id: Optional[int] = None, origin: Any = None, **_: Any) -> None:
        self.id = int(id)
        self.group_id = group_id
        self.sender_id = sender_id
        self.target_id = target_id
        self.origin = MessageChain(origin) if origin is not None else MessageChain([])


_BY_TYPE: Dict[str, Type[MessageComponent]] = {
    c.type: c for c in (Plain, Image, FlashImage, At, AtAll, Face, Voice, Source, Quote)
}
_MAH_KEYS = {"imageId": "image_id", "faceId": "face_id", "voiceId": "voice_id", "groupId": "group_id",
             "senderId": "sender_id", "targetId": "target_id"}


def component_from_mah(element: Mapping[str, Any]) -> Optional[MessageComponent]:
    """The component for a MAH element dict; ``None`` for types without a look-alike."""
    cls = _BY_TYPE.get(str(element.get("type")))
    if cls is None:
        return None
    kwargs = {_MAH_KEYS.get(k, k): v for k, v in element.items() if k != "type"}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError):
        return None


class MessageChain(List[MessageComponent]):
    """A list of components. ``str(chain)`` is its text; ``chain.message_id`` the id of
    its ``Source`` (-1 without one); ``chain.get(Image)`` the components of a type;
    ``Image in chain`` tests for a type (or an equal component)."""

    def __init__(self, items: Iterable[Any] = ()) -> None:
        super().__init__()
        if isinstance(items, (str, MessageComponent, Mapping)):
            items = [items]
        for item in items:
            if isinstance(item, str):
                self.append(Plain(item))
            elif isinstance(item, MessageComponent):
                self.append(item)
            elif isinstance(item, Mapping):
                component = component_from_mah(item)
                if component is not None:
                    self.append(component)
            else:
                raise TypeError(f"a MessageChain holds str and components, not {type(item).__name__}")

    def __str__(self) -> str:  # type: ignore[override]
        return "".join(str(c) for c in self)

    def __contains__(self, item: Any) -> bool:  # type: ignore[override]
        if isinstance(item, type):
            return any(isinstance(c, item) for c in self)
        if isinstance(item, str):
            return item in str(self)
        return list.__contains__(self, item)

    def get(self, element_type: Type[C], count: int = -1) -> List[C]:
        """The components of ``element_type``, at most ``count`` of them (-1: all)."""
        found = [c for c in self if isinstance(c, element_type)]
        return found if count < 0 else found[:count]

    def get_first(self, element_type: Type[C]) -> Optional[C]:
        found = self.get(element_type, 1)
        return found[0] if found else None

    def has(self, element_type: Any) -> bool:
        return element_type in self

    @property
    def message_id(self) -> int:
        source = self.get_first(Source)
        return source.id if source is not None else -1

    def to_mah(self) -> List[Dict[str, Any]]:
        return [c.to_mah() for c in self]

    @classmethod
    def parse_obj(cls, obj: Iterable[Any]) -> "MessageChain":
        return cls(obj)


def to_message(message: Any) -> Message:
    """Convert what 2.x callers pass (``str``, a component, a :class:`MessageChain`, a list
    or tuple of str / components / MAH element dicts, qqreliable segments or messages) to a
    :class:`qqreliable.Message`. ``Source`` elements are dropped.

    Raises:
        TypeError: an item of an unsupported type (named).
        ValueError: an element with no qqreliable equivalent, or an empty message.
    """
    segments: List[MessageSegment] = []
    _collect(message, segments)
    if not segments:
        raise ValueError("the message is empty")
    return Message(segments)


def _collect(item: Any, out: List[MessageSegment]) -> None:
    if item is None:
        raise TypeError("a message cannot be None")
    if isinstance(item, str):
        if item:
            out.append(MessageSegment.text(item))
    elif isinstance(item, MessageSegment):
        out.append(item)
    elif isinstance(item, Message):
        out.extend(item)
    elif isinstance(item, MessageComponent):
        if isinstance(item, Source):
            return
        _collect(item.to_mah(), out)
    elif isinstance(item, Mapping):
        if "data" in item and isinstance(item.get("data"), Mapping):
            out.append(MessageSegment(str(item["type"]), dict(item["data"])))
            return
        if item.get("type") == "Source":
            return
        segment = element_to_segment(dict(item))
        if segment is None:
            raise ValueError(f"a {item.get('type')!r} element cannot be sent")
        out.append(segment)
    elif isinstance(item, (list, tuple)):
        for sub in item:
            _collect(sub, out)
    else:
        raise TypeError(f"cannot send a {type(item).__name__}: pass str, mirai components, a MessageChain "
                        "or a list of them")


# -- events --------------------------------------------------------------------------------


class Friend:
    def __init__(self, id: int, nickname: str = "", remark: str = "", **_: Any) -> None:  # noqa: A002
        self.id = int(id)
        self.nickname = nickname
        self.remark = remark

    def get_name(self) -> str:
        return self.nickname or self.remark


class Group:
    def __init__(self, id: int, name: str = "", permission: str = "MEMBER", **_: Any) -> None:  # noqa: A002
        self.id = int(id)
        self.name = name
        self.permission = permission

    def get_name(self) -> str:
        return self.name


class GroupMember:
    def __init__(self, id: int, memberName: str = "", permission: str = "MEMBER",  # noqa: A002,N803
                 group: Optional[Mapping[str, Any]] = None, **_: Any) -> None:
        self.id = int(id)
        self.member_name = memberName
        self.permission = permission
        self.group = Group(**dict(group)) if group else Group(0)

    def get_name(self) -> str:
        return self.member_name


class MessageEvent:
    """A received message: ``type``, ``sender``, ``message_chain``."""

    type = "MessageEvent"

    def __init__(self, sender: Any, message_chain: Any) -> None:
        self.sender = sender
        self.message_chain = message_chain if isinstance(message_chain, MessageChain) else MessageChain(message_chain)

    def __str__(self) -> str:
        return str(self.message_chain)

    @classmethod
    def from_mah(cls, event: Mapping[str, Any]) -> "MessageEvent":
        """Build the look-alike event for a MAH message event dict."""
        kind = _EVENTS.get(str(event.get("type")), MessageEvent)
        sender = dict(event.get("sender") or {})
        chain = MessageChain(event.get("messageChain") or [])
        if kind in (GroupMessage, TempMessage):
            return kind(GroupMember(**sender) if sender.get("id") is not None else GroupMember(0), chain)
        return kind(Friend(**sender) if sender.get("id") is not None else Friend(0), chain)


class FriendMessage(MessageEvent):
    type = "FriendMessage"


class StrangerMessage(MessageEvent):
    type = "StrangerMessage"


class GroupMessage(MessageEvent):
    type = "GroupMessage"

    @property
    def group(self) -> Group:
        return self.sender.group


class TempMessage(GroupMessage):
    type = "TempMessage"


_EVENTS: Dict[str, Type[MessageEvent]] = {
    c.type: c for c in (FriendMessage, StrangerMessage, GroupMessage, TempMessage)
}
