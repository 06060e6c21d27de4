"""OneBot v11 messages: segments, CQ-code strings and the escape rules.

Pure protocol code: no I/O except :meth:`MessageSegment.image` (and ``record``,
``video``, ``file``), which check whether a string names an existing local file.

A message travels in one of two forms (onebot11.md §5.1): an *array* of segments
``[{"type": "face", "data": {"id": "1"}}, ...]`` or a *string* with embedded CQ codes
``"hi [CQ:face,id=1]"``. :class:`Message` reads both; ``str(message)`` gives the string
form and :meth:`Message.to_list` the array form. Prefer the array form for sending: it
needs no escaping and it is the only form that carries nested values (forward nodes'
``content``) in a way every implementation agrees on.

Objects here are not thread-safe to mutate; build a message in one thread, then share it
freely for reading.
"""

from __future__ import annotations

import base64
import json as _json
import os
import re
from pathlib import Path
from collections.abc import Iterable, Mapping
from typing import Any, Dict, List, Optional, Sequence, SupportsIndex, Tuple, Union, overload

__all__ = [
    "Message",
    "MessageSegment",
    "escape",
    "unescape",
    "to_wire",
]

#: What ``image()``, ``record()``, ``video()`` and ``file()`` accept as ``file``.
MediaFile = Union[str, bytes, bytearray, memoryview, "os.PathLike[str]"]

# A type or key name (onebot11.md §5.5); NC's own parser accepts only \w+.
_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_KEY_EQ = re.compile(r"[A-Za-z0-9_.\-]+=")
_URI_PREFIXES = ("http://", "https://", "file://", "base64://")


# -- escaping ----------------------------------------------------------------


def escape(s: str, escape_comma: bool = True) -> str:
    """Escape ``s`` for the CQ-code string form.

    ``&`` becomes ``&amp;`` first (so the ``&`` of the other entities is not escaped
    again), then ``[`` becomes ``&#91;`` and ``]`` becomes ``&#93;``. With
    ``escape_comma`` (the default, right for parameter values) ``,`` also becomes
    ``&#44;``; plain text outside CQ codes keeps its commas (pass ``False``).

    Args:
        s: The raw text.
        escape_comma: Also escape ``,``; needed inside a CQ-code parameter value.

    Returns:
        The escaped text.
    """
    s = s.replace("&", "&amp;").replace("[", "&#91;").replace("]", "&#93;")
    return s.replace(",", "&#44;") if escape_comma else s


def unescape(s: str) -> str:
    """Undo :func:`escape` (with or without commas).

    ``&#44;``, ``&#91;`` and ``&#93;`` are replaced first and ``&amp;`` last, so the
    escaped form of a literal ``&#91;`` (``&amp;#91;``) comes back as ``&#91;``, not
    ``[`` (onebot11.md §5.5, example 4 of §5.6).

    Args:
        s: Escaped text.

    Returns:
        The raw text.
    """
    return (
        s.replace("&#44;", ",").replace("&#91;", "[").replace("&#93;", "]").replace("&amp;", "&")
    )


# -- value helpers -------------------------------------------------------------


def _scalar(value: Any) -> str:
    """A parameter value as text: ``bool`` → ``"1"``/``"0"``, anything else ``str()``."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return value if isinstance(value, str) else str(value)


def _params(**params: Any) -> Dict[str, str]:
    """Factory parameters as segment data: ``None`` left out, the rest as text."""
    return {key: _scalar(value) for key, value in params.items() if value is not None}


def _json_default(obj: Any) -> Any:
    if isinstance(obj, MessageSegment):
        return obj.to_dict()
    return str(obj)


def _render_value(value: Any) -> str:
    """One parameter value for the string form, escaped (commas included)."""
    if isinstance(value, MessageSegment):
        value = [value.to_dict()]
    if isinstance(value, (dict, list, tuple)):
        # No string form for nested values is agreed on (onebot11.md §5.5); compact JSON
        # is what NC reads back. Send such segments in array form instead.
        text = _json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    else:
        text = _scalar(value)
    return escape(text, escape_comma=True)


def _wire_value(value: Any) -> Any:
    """A data value for the array form: messages become segment arrays, the rest as is."""
    if isinstance(value, Message):
        return value.to_list()
    if isinstance(value, MessageSegment):
        return [value.to_dict()]
    return value


def _media_file(file: MediaFile) -> str:
    """The ``file`` parameter for a media segment (onebot11.md §5.4).

    ``bytes`` become ``base64://…``; a :class:`~pathlib.Path` (any ``os.PathLike``) or a
    string naming an existing local file becomes an absolute ``file://`` URI; URLs
    (``http://``, ``https://``, ``file://``) and ``base64://`` strings are kept; any other
    string is taken as a file id received earlier and kept as is.
    """
    if isinstance(file, (bytes, bytearray, memoryview)):
        return "base64://" + base64.b64encode(bytes(file)).decode("ascii")
    if isinstance(file, os.PathLike):
        return Path(os.fsdecode(os.fspath(file))).resolve().as_uri()
    if isinstance(file, str):
        # Slice first: a base64:// payload may be megabytes long.
        if file[:10].lower().startswith(_URI_PREFIXES):
            return file
        if file and os.path.isfile(file):
            return Path(file).resolve().as_uri()
        return file
    raise TypeError(
        "file must be bytes, a path, a URL, a base64:// string or a file id, "
        f"not {type(file).__name__}"
    )


def _short_repr(obj: Any, limit: int = 80) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- segments ----------------------------------------------------------------


class MessageSegment:
    """One message segment: a ``type`` and its parameters ``data``.

    Values in ``data`` are kept as given: strings when parsed from a CQ-code string or
    built by a factory, whatever JSON scalar an implementation sent otherwise (NC sends
    numbers and booleans, onebot11.md §5.1). Two segments are equal when their ``type``
    and ``data`` are equal (``{"id": "1"} != {"id": 1}``).

    ``str(segment)`` is the CQ-code string form; a ``text`` segment is its escaped text,
    never ``[CQ:text,…]``. ``segment + other`` gives a :class:`Message`.

    Attributes:
        type: The segment type, e.g. ``"text"``, ``"image"``.
        data: The parameters, a ``dict`` (mutable; segments are not hashable).
    """

    __slots__ = ("type", "data")

    def __init__(self, type: str, data: Optional[Mapping[str, Any]] = None) -> None:  # noqa: A002
        """Make a segment.

        Args:
            type: The segment type, a non-empty string.
            data: The parameters; copied. ``None`` means none.

        Raises:
            TypeError: ``type`` is not a string or ``data`` not a mapping.
            ValueError: ``type`` is empty.
        """
        if type.__class__ is not str and not isinstance(type, str):
            raise TypeError(f"segment type must be a str, not {type.__class__.__name__}")
        if not type:
            raise ValueError("segment type must not be empty")
        if data is not None and data.__class__ is not dict and not isinstance(data, Mapping):
            raise TypeError(f"segment data must be a dict or None, not {data.__class__.__name__}")
        self.type: str = type
        self.data: Dict[str, Any] = dict(data) if data else {}

    # -- conversions --

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MessageSegment:
        """Read one segment of the array form, ``{"type": ..., "data": {...}}``.

        ``data`` may be missing or ``null``; values of any type are kept as given.

        Raises:
            TypeError: ``d`` is not a mapping.
            ValueError: ``d`` has no string ``type``, or its ``data`` is not an object.
        """
        # type(...) is dict first: every segment of every event comes through here
        if type(d) is not dict and not isinstance(d, Mapping):
            raise TypeError(f"a message segment must be a dict, not {type(d).__name__}")
        seg_type = d.get("type")
        if not isinstance(seg_type, str) or not seg_type:
            raise ValueError(f"message segment has no 'type' string: {_short_repr(d)}")
        data = d.get("data")
        if data is not None and type(data) is not dict and not isinstance(data, Mapping):
            raise ValueError(f"message segment 'data' must be an object or null: {_short_repr(d)}")
        return cls(seg_type, data)

    def to_dict(self) -> Dict[str, Any]:
        """The array form: ``{"type": ..., "data": {...}}``, a fresh dict.

        ``None`` values are left out; a :class:`Message` value (a node's ``content``)
        becomes a segment array, so the result is JSON-serialisable.
        """
        return {
            "type": self.type,
            "data": {k: _wire_value(v) for k, v in self.data.items() if v is not None},
        }

    def is_text(self) -> bool:
        """True for a ``text`` segment."""
        return self.type == "text"

    def __str__(self) -> str:
        if self.type == "text":
            text = self.data.get("text")
            return escape(_scalar(text), escape_comma=False) if text is not None else ""
        params = "".join(
            f",{key}={_render_value(value)}"
            for key, value in self.data.items()
            if value is not None
        )
        return f"[CQ:{self.type}{params}]"

    def __repr__(self) -> str:
        return f"MessageSegment(type={self.type!r}, data={self.data!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MessageSegment):
            return NotImplemented
        return self.type == other.type and self.data == other.data

    __hash__ = None  # type: ignore[assignment]  # data is a mutable dict

    def __add__(self, other: Any) -> Message:
        return Message(self).__add__(other)

    def __radd__(self, other: Any) -> Message:
        if not _is_addend(other):
            return NotImplemented
        return Message(other).__add__(self)

    # -- factories: standard segments (onebot11.md §5.2) --

    @classmethod
    def text(cls, text: str) -> MessageSegment:
        """Plain text (raw; escaped only when rendered as a string)."""
        return cls("text", {"text": _scalar(text)})

    @classmethod
    def face(cls, id: Union[int, str]) -> MessageSegment:  # noqa: A002
        """A QQ emoji by its id."""
        return cls("face", _params(id=id))

    @classmethod
    def image(
        cls,
        file: MediaFile,
        *,
        type: Optional[str] = None,  # noqa: A002
        cache: Optional[bool] = None,
        proxy: Optional[bool] = None,
        timeout: Optional[Union[int, float]] = None,
    ) -> MessageSegment:
        """An image.

        Args:
            file: ``bytes`` (sent as ``base64://``), a :class:`~pathlib.Path` or an
                existing local path (sent as a ``file://`` URI: the path must exist on
                the OneBot host too, which differs under Docker), a ``http(s)://`` or
                ``file://`` URL, a ``base64://`` string, or a file id received earlier
                (any other string, kept as is).
            type: ``"flash"`` for a flash image (gocq also ``"show"``).
            cache: For URLs: use OneBot's download cache (default on).
            proxy: For URLs: download through OneBot's proxy (default on).
            timeout: For URLs: download timeout in seconds.

        Raises:
            TypeError: ``file`` is of none of the accepted types.
        """
        return cls(
            "image",
            _params(file=_media_file(file), type=type, cache=cache, proxy=proxy, timeout=timeout),
        )

    @classmethod
    def record(
        cls,
        file: MediaFile,
        *,
        magic: Optional[bool] = None,
        cache: Optional[bool] = None,
        proxy: Optional[bool] = None,
        timeout: Optional[Union[int, float]] = None,
    ) -> MessageSegment:
        """A voice message; ``file`` as for :meth:`image`, ``magic`` changes the voice."""
        return cls(
            "record",
            _params(file=_media_file(file), magic=magic, cache=cache, proxy=proxy, timeout=timeout),
        )

    @classmethod
    def video(
        cls,
        file: MediaFile,
        *,
        cache: Optional[bool] = None,
        proxy: Optional[bool] = None,
        timeout: Optional[Union[int, float]] = None,
    ) -> MessageSegment:
        """A short video; ``file`` as for :meth:`image`."""
        return cls(
            "video", _params(file=_media_file(file), cache=cache, proxy=proxy, timeout=timeout)
        )

    @classmethod
    def at(cls, qq: Union[int, str], *, name: Optional[str] = None) -> MessageSegment:
        """Mention a user by QQ number, or everyone with ``"all"``.

        ``name`` (gocq, NC) is shown when the user is not a group member.
        """
        return cls("at", _params(qq=qq, name=name))

    @classmethod
    def rps(cls) -> MessageSegment:
        """Rock-paper-scissors magic emoji."""
        return cls("rps")

    @classmethod
    def dice(cls) -> MessageSegment:
        """Dice magic emoji."""
        return cls("dice")

    @classmethod
    def shake(cls) -> MessageSegment:
        """Window shake (private chats; not supported by gocq)."""
        return cls("shake")

    @classmethod
    def poke(cls, type: Union[int, str], id: Union[int, str]) -> MessageSegment:  # noqa: A002
        """A poke of the given ``type`` and ``id`` (gocq's form is ``[CQ:poke,qq=…]``)."""
        return cls("poke", _params(type=type, id=id))

    @classmethod
    def anonymous(cls, ignore: Optional[bool] = None) -> MessageSegment:
        """Send anonymously; with ``ignore`` still send if anonymity fails."""
        return cls("anonymous", _params(ignore=ignore))

    @classmethod
    def share(
        cls, url: str, title: str, *, content: Optional[str] = None, image: Optional[str] = None
    ) -> MessageSegment:
        """A link share card."""
        return cls("share", _params(url=url, title=title, content=content, image=image))

    @classmethod
    def contact(cls, type: str, id: Union[int, str]) -> MessageSegment:  # noqa: A002
        """Recommend a friend (``type="qq"``) or a group (``type="group"``)."""
        return cls("contact", _params(type=type, id=id))

    @classmethod
    def contact_user(cls, id: Union[int, str]) -> MessageSegment:  # noqa: A002
        """Recommend a friend."""
        return cls.contact("qq", id)

    @classmethod
    def contact_group(cls, id: Union[int, str]) -> MessageSegment:  # noqa: A002
        """Recommend a group."""
        return cls.contact("group", id)

    @classmethod
    def location(
        cls,
        lat: Union[float, str],
        lon: Union[float, str],
        *,
        title: Optional[str] = None,
        content: Optional[str] = None,
    ) -> MessageSegment:
        """A location."""
        return cls("location", _params(lat=lat, lon=lon, title=title, content=content))

    @classmethod
    def music(cls, type: str, id: Union[int, str]) -> MessageSegment:  # noqa: A002
        """A music share from a platform: ``type`` is ``"qq"``, ``"163"``, ``"xm"``, …"""
        return cls("music", _params(type=type, id=id))

    @classmethod
    def music_custom(
        cls,
        url: str,
        audio: str,
        title: str,
        *,
        content: Optional[str] = None,
        image: Optional[str] = None,
    ) -> MessageSegment:
        """A custom music share (``type=custom``); NC requires ``image``."""
        return cls(
            "music",
            _params(type="custom", url=url, audio=audio, title=title, content=content, image=image),
        )

    @classmethod
    def reply(cls, id: Union[int, str]) -> MessageSegment:  # noqa: A002
        """Quote the message with this ``message_id``."""
        return cls("reply", _params(id=id))

    @classmethod
    def forward(cls, id: str) -> MessageSegment:  # noqa: A002
        """A forwarded-messages record, by forward id (see ``get_forward_msg``)."""
        return cls("forward", _params(id=id))

    @classmethod
    def node(cls, id: Union[int, str]) -> MessageSegment:  # noqa: A002
        """A forward node referring to an existing message by ``message_id``."""
        return cls("node", _params(id=id))

    @classmethod
    def node_custom(
        cls, user_id: Union[int, str], nickname: str, content: Any
    ) -> MessageSegment:
        """A custom forward node.

        ``content`` is a message: a CQ-code string (kept as a string) or a
        :class:`Message`, segment, dict or list (stored in array form). Send nodes in
        array form; their string form is not portable (onebot11.md §5.5).

        Raises:
            TypeError: ``content`` is not a message.
        """
        return cls(
            "node",
            {
                "user_id": _scalar(user_id),
                "nickname": _scalar(nickname),
                "content": to_wire(content),
            },
        )

    @classmethod
    def xml(cls, data: str) -> MessageSegment:
        """An XML card."""
        return cls("xml", {"data": data})

    @classmethod
    def json(cls, data: Union[str, Mapping[str, Any], Sequence[Any]]) -> MessageSegment:
        """A JSON card; ``data`` is a JSON string, or an object serialised compactly."""
        if not isinstance(data, str):
            data = _json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return cls("json", {"data": data})

    # -- factories: common extensions (onebot11.md §5.3) --

    @classmethod
    def file(cls, file: MediaFile, *, name: Optional[str] = None) -> MessageSegment:
        """A file (NC, LLOB); ``file`` as for :meth:`image`."""
        return cls("file", _params(file=_media_file(file), name=name))

    @classmethod
    def mface(
        cls,
        emoji_package_id: Union[int, str],
        emoji_id: str,
        key: str,
        summary: Optional[str] = None,
    ) -> MessageSegment:
        """A store sticker (NC, LLOB, LGR)."""
        return cls(
            "mface",
            _params(emoji_package_id=emoji_package_id, emoji_id=emoji_id, key=key, summary=summary),
        )

    @classmethod
    def markdown(cls, content: str) -> MessageSegment:
        """Markdown (NC, LGR)."""
        return cls("markdown", {"content": content})


def _is_plain_text(seg: MessageSegment) -> bool:
    return seg.type == "text" and set(seg.data) <= {"text"}


# -- parsing -----------------------------------------------------------------


def _find_code(msg: str, start: int, end: int) -> Optional[Tuple[int, int]]:
    """The leftmost CQ code in ``msg[start:end + 1]``, where ``msg[end]`` is a ``]``.

    No part of a CQ code may contain ``]``, so any code starting in ``[start, end)`` ends
    at ``end``. That gives the same matches as the regex of onebot11.md §5.5 in linear
    time; the regex rescans up to the ``]`` from every ``[CQ:``, which is quadratic on
    hostile input (seconds for 40 kB).

    Returns:
        ``(code_start, type_end)`` or ``None`` when no ``[CQ:`` in the range is valid.
    """
    # tail_ok[c]: every piece after the comma at c is "key=value" (the last may be empty).
    tail_ok: Dict[int, bool] = {}
    ok = True
    piece_end = end
    comma = msg.rfind(",", start, end)
    while comma >= 0:
        if piece_end == end and comma + 1 == end:
            piece_ok = True  # the trailing comma of "[CQ:shake,]"
        else:
            piece_ok = _KEY_EQ.match(msg, comma + 1, piece_end) is not None
        ok = ok and piece_ok
        tail_ok[comma] = ok
        piece_end = comma
        comma = msg.rfind(",", start, comma)

    code_start = start
    while code_start >= 0:
        name = _NAME.match(msg, code_start + 4, end)
        if name is not None:
            type_end = name.end()
            if type_end == end or (msg[type_end] == "," and tail_ok[type_end]):
                return code_start, type_end
        code_start = msg.find("[CQ:", code_start + 1, end)
    return None


def _append_text(segments: List[MessageSegment], text: str) -> None:
    """Append raw ``text``, merged into a preceding plain text segment; nothing if empty."""
    if not text:
        return
    if segments and _is_plain_text(segments[-1]):
        merged = _scalar(segments[-1].data.get("text", "")) + text
        segments[-1] = MessageSegment("text", {"text": merged})
    else:
        segments.append(MessageSegment("text", {"text": text}))


def _parse(msg: str) -> List[MessageSegment]:
    """Split a CQ-code string into segments (onebot11.md §5.5); never raises.

    Text is unescaped, adjacent text merged and empty text dropped. A ``[CQ:text,…]``
    code is read as plain text. Anything that is not a well-formed code (unterminated,
    a bad type or key, a parameter without ``=``) stays text.
    """
    segments: List[MessageSegment] = []
    text_from = pos = 0
    while True:
        start = msg.find("[CQ:", pos)
        if start < 0:
            break
        end = msg.find("]", start)
        if end < 0:
            break  # nothing after this point can be a code
        found = _find_code(msg, start, end)
        if found is None:
            pos = end + 1
            continue
        code_start, type_end = found
        _append_text(segments, unescape(msg[text_from:code_start]))
        data: Dict[str, str] = {}
        if type_end < end:
            for piece in msg[type_end + 1 : end].split(","):
                if piece:  # only a trailing piece can be empty here
                    key, _, value = piece.partition("=")
                    data[key] = unescape(value)
        seg_type = msg[code_start + 4 : type_end]
        if seg_type == "text":
            _append_text(segments, data.get("text", ""))
        else:
            segments.append(MessageSegment(seg_type, data))
        text_from = pos = end + 1
    _append_text(segments, unescape(msg[text_from:]))
    return segments


# -- messages ----------------------------------------------------------------


def _coerce_segment(obj: Any) -> MessageSegment:
    if type(obj) is dict:  # the array form off the wire
        return MessageSegment.from_dict(obj)
    if isinstance(obj, MessageSegment):
        return obj
    if isinstance(obj, Mapping):
        return MessageSegment.from_dict(obj)
    raise TypeError(
        f"message items must be MessageSegment or dict segments, not {type(obj).__name__}"
    )


def _segments_of(msg: Any) -> List[MessageSegment]:
    """The segments of anything :class:`Message` accepts."""
    if msg is None:
        return []
    if type(msg) is list:  # the array form off the wire (a Message goes the long way: it is a list subclass)
        return [_coerce_segment(item) for item in msg]
    if isinstance(msg, str):
        return _parse(msg)
    if isinstance(msg, MessageSegment):
        return [msg]
    if isinstance(msg, Mapping):
        return [MessageSegment.from_dict(msg)]
    if isinstance(msg, (bytes, bytearray, memoryview)):
        raise TypeError("a message cannot be bytes; decode it to str first")
    if isinstance(msg, Iterable):
        return [_coerce_segment(item) for item in msg]
    raise TypeError(
        "a message must be a str, MessageSegment, dict or list of segments, "
        f"not {type(msg).__name__}"
    )


def _is_addend(other: Any) -> bool:
    return isinstance(other, (str, MessageSegment, Mapping, list, tuple))


class Message(List[MessageSegment]):
    """A message: a ``list`` of :class:`MessageSegment`.

    ``Message(x)`` accepts ``None``, a CQ-code string (parsed), a segment, a segment
    dict, or a list/tuple (any iterable) of segments and segment dicts, including another
    ``Message`` (copied; the segments are shared, as with ``list(x)``).

    ``str(message)`` is the CQ-code string form; :meth:`to_list` the array form.
    Equality is list equality, so a message equals a plain list of equal segments.

    ``+``, ``+=``, :meth:`extend` and :meth:`append` convert what they are given. A
    plain ``str`` on either side of ``+`` is **parsed as CQ code**, as in aiocqhttp:
    ``msg + "[CQ:face,id=1]"`` appends a face. To add text typed by a user, add
    ``MessageSegment.text(s)`` (or ``escape(s, escape_comma=False)``) instead: an
    unescaped user string can inject codes such as ``[CQ:at,qq=all]``.

    Text is merged only when parsing: ``Message("a") + "b"`` holds two text segments
    (``str()`` is still ``"ab"``); :meth:`reduce` merges them.
    """

    def __init__(self, msg: Any = None) -> None:
        """Build a message; see the class docstring for what ``msg`` may be.

        Raises:
            TypeError: ``msg`` or one of its items is of an unsupported type.
            ValueError: a segment dict has no ``type`` or a bad ``data``.
        """
        super().__init__(_segments_of(msg))

    @classmethod
    def from_cq(cls, s: str) -> Message:
        """Parse a CQ-code string; never raises for any ``str`` (worst case, all text).

        Raises:
            TypeError: ``s`` is not a string.
        """
        if not isinstance(s, str):
            raise TypeError(f"from_cq() takes a str, not {type(s).__name__}")
        return cls(s)

    # -- conversions --

    def __str__(self) -> str:
        return "".join(str(seg) for seg in self)

    def __repr__(self) -> str:
        return f"Message({list.__repr__(self)})"

    def to_list(self) -> List[Dict[str, Any]]:
        """The array form: a list of ``{"type": ..., "data": {...}}`` dicts."""
        return [seg.to_dict() for seg in self]

    def extract_plain_text(self) -> str:
        """The text of the ``text`` segments joined (raw, not escaped), no separator."""
        return "".join(
            _scalar(seg.data["text"])
            for seg in self
            if seg.type == "text" and seg.data.get("text") is not None
        )

    def reduce(self) -> None:
        """Merge adjacent plain text segments and drop empty ones, in place."""
        segments: List[MessageSegment] = []
        for seg in self:
            if _is_plain_text(seg):
                _append_text(segments, _scalar(seg.data.get("text", "")))
            else:
                segments.append(seg)
        self[:] = segments

    def copy(self) -> Message:
        """A shallow copy, as a :class:`Message`."""
        return Message(self)

    # -- list operations that convert their input --

    def __add__(self, other: Any) -> Message:  # type: ignore[override]
        if not _is_addend(other):
            return NotImplemented
        result = Message(self)
        result.extend(other)
        return result

    def __radd__(self, other: Any) -> Message:
        if not _is_addend(other):
            return NotImplemented
        result = Message(other)
        result.extend(self)
        return result

    def __iadd__(self, other: Any) -> Message:  # type: ignore[override,misc]
        if not _is_addend(other):
            return NotImplemented
        self.extend(other)
        return self

    def append(self, obj: Union[MessageSegment, Mapping[str, Any]]) -> None:
        """Append one segment (a dict is converted).

        Raises:
            TypeError: ``obj`` is neither a segment nor a dict.
            ValueError: the dict has no ``type``.
        """
        super().append(_coerce_segment(obj))

    def insert(self, index: SupportsIndex, obj: Union[MessageSegment, Mapping[str, Any]]) -> None:
        """Insert one segment (a dict is converted)."""
        super().insert(index, _coerce_segment(obj))

    def extend(self, msg: Any) -> None:
        """Append everything :class:`Message` accepts (a ``str`` is parsed as CQ code)."""
        super().extend(_segments_of(msg))

    @overload
    def __getitem__(self, index: SupportsIndex) -> MessageSegment: ...

    @overload
    def __getitem__(self, index: slice) -> Message: ...

    def __getitem__(self, index: Union[SupportsIndex, slice]) -> Union[MessageSegment, Message]:
        if isinstance(index, slice):
            return Message(super().__getitem__(index))
        return super().__getitem__(index)

    @overload
    def __setitem__(
        self, index: SupportsIndex, value: Union[MessageSegment, Mapping[str, Any]]
    ) -> None: ...

    @overload
    def __setitem__(self, index: slice, value: Any) -> None: ...

    def __setitem__(self, index: Union[SupportsIndex, slice], value: Any) -> None:
        if isinstance(index, slice):
            super().__setitem__(index, _segments_of(value))
        else:
            super().__setitem__(index, _coerce_segment(value))


# -- the wire ----------------------------------------------------------------


def to_wire(message: Any) -> Union[str, List[Dict[str, Any]]]:
    """A ``message`` parameter as sent to OneBot.

    A ``str`` is a CQ-code string and is sent as is. A :class:`Message`, a segment, a
    segment dict or a list of those becomes the array form (list of dicts).

    Raises:
        TypeError: ``message`` is of another type, or holds an item that is not a segment.
        ValueError: a segment dict has no ``type``.
    """
    if isinstance(message, str):
        return message
    if isinstance(message, (Message, MessageSegment, Mapping, list, tuple)):
        return Message(message).to_list()
    raise TypeError(
        "message must be a str, Message, MessageSegment, dict or list of segments, "
        f"not {type(message).__name__}"
    )
