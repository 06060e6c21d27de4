"""mirai-api-http message chains ↔ :class:`qqreliable.Message`, in both directions.

A MAH message is a *chain*: a list of elements ``{"type": "Plain", "text":
"hi"}`` (reference §6.2). qqreliable's :class:`~qqreliable.Message` holds
OneBot-style segments; the segments that mean the same on every protocol
(``text``, ``image``, ``at``, ``face``, ``reply``, ``record``, ``video``)
map onto their MAH elements:

============  =======================================  =========================
MAH element   segment (received)                        sent as
============  =======================================  =========================
Source        dropped (``Event.message_id``), or        skipped
              ``source{id,time}`` with keep_source
Plain         ``text{text}``                            Plain
At / AtAll    ``at{qq, name}`` / ``at{qq="all"}``       At / AtAll
Face          ``face{id, name}``                        Face
Image         ``image{file=imageId, url, ...}``         Image (imageId, url or base64)
FlashImage    ``image{type="flash", ...}``              FlashImage
Voice         ``record{file=voiceId, url, length}``     Voice (voiceId, url or base64)
ShortVideo    ``video{file=videoId, url, ...}``         ShortVideo (by videoId; else upload)
Quote         ``reply{id, groupId, senderId, ...}``     the send's ``quote`` field
Forward       ``forward{nodeList, display}``            Forward; ``node`` segments too
File          ``file{file=id, id, name, size}``         not in a chain: an upload
Xml           ``xml{data}``                             Xml
Json / App    ``json{data, element="Json"}`` /          App (``element="Json"``: Json)
              ``json{data}``; ``app{content}``          ``app`` segments: App
Poke          ``poke{name}``                            Poke
Dice          ``dice{result}``                          Dice
MarketFace    ``mface{emoji_id, summary}``              MarketFace
MusicShare    ``music{type="custom", kind, ...}``       MusicShare
MiraiCode     ``mirai_code{code}``                      MiraiCode
(unknown)     a segment named after the element type,   passed through as is
              its fields as data (kept, not dropped)
============  =======================================  =========================

A segment whose type starts with an upper-case letter is a MAH element and is
sent as it is (``MessageSegment("ShortVideo", {...})``). Media given as bytes,
a local path or a URL is sent as data MAH can use from another host:
``base64`` (bytes, paths) or ``url`` (MAH downloads it); an id received
earlier goes back as ``imageId`` / ``voiceId``. Files and videos cannot be
inlined (MAH only takes them through an HTTP upload): they are returned in
:attr:`OutgoingChain.uploads` for the caller to upload.

Pure, except that a local path is read (through ``read_file``).
"""

from __future__ import annotations

import base64
import os
import random
import time
from collections import abc
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import unquote, urlsplit

from ..exceptions import MediaUnavailable
from ..message import Message, MessageSegment, _media_file
from ..reliability.interfaces import as_int as _int_or_none

__all__ = [
    "OutgoingChain",
    "element_to_segment",
    "chain_to_message",
    "message_to_chain",
    "source_of",
    "plain_text_of",
    "MUSIC_KINDS",
]

#: The ``kind`` values of MusicShare (mirai's MusicKind enum).
MUSIC_KINDS = ("NeteaseCloudMusic", "QQMusic", "MiguMusic", "KugouMusic", "KuwoMusic")

ReadFile = Callable[[str], bytes]

_MEDIA_EXTRA = ("width", "height", "size", "imageType", "isEmoji", "path", "base64")


def _read_local(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


# --------------------------------------------------------------------------- received


def _put(data: Dict[str, Any], element: Mapping[str, Any], *keys: str) -> None:
    for key in keys:
        value = element.get(key)
        if value is not None:
            data[key] = value


def _image_segment(element: Mapping[str, Any], flash: bool) -> MessageSegment:
    data: Dict[str, Any] = {}
    image_id = element.get("imageId")
    if image_id:
        data["file"] = image_id
    elif element.get("url"):
        data["file"] = element["url"]
    if flash:
        data["type"] = "flash"
    _put(data, element, "url", *_MEDIA_EXTRA)
    if image_id:
        data["imageId"] = image_id
    return MessageSegment("image", data)


def element_to_segment(element: Any, *, keep_source: bool = False) -> Optional[MessageSegment]:
    """One received chain element as a segment (see the module table).

    Returns None only for ``Source`` without ``keep_source``. An element of a
    type this module does not know becomes a segment of that type holding its
    other fields; something that is not an element at all becomes an
    ``unknown`` segment holding it in ``raw``. Never raises.
    """
    if not isinstance(element, abc.Mapping) or not isinstance(element.get("type"), str) or not element.get("type"):
        return MessageSegment("unknown", {"raw": element})
    kind = element["type"]
    if kind == "Source":
        if not keep_source:
            return None
        data: Dict[str, Any] = {}
        _put(data, element, "id", "time")
        return MessageSegment("source", data)
    if kind == "Plain":
        text = element.get("text")
        return MessageSegment("text", {"text": text if isinstance(text, str) else ("" if text is None else str(text))})
    if kind == "At":
        data = {"qq": str(element.get("target", ""))}
        if element.get("display"):
            data["name"] = element["display"]
        return MessageSegment("at", data)
    if kind == "AtAll":
        return MessageSegment("at", {"qq": "all"})
    if kind == "Face":
        data = {}
        if element.get("faceId") is not None:
            data["id"] = str(element["faceId"])
        _put(data, element, "name", "isSuperFace")
        return MessageSegment("face", data)
    if kind in ("Image", "FlashImage"):
        return _image_segment(element, kind == "FlashImage")
    if kind == "Voice":
        data = {}
        voice_id = element.get("voiceId")
        if voice_id:
            data["file"] = voice_id
            data["voiceId"] = voice_id
        elif element.get("url"):
            data["file"] = element["url"]
        _put(data, element, "url", "length", "path", "base64")
        return MessageSegment("record", data)
    if kind == "ShortVideo":
        data = {}
        if element.get("videoId"):
            data["file"] = element["videoId"]
        if element.get("videoUrl"):
            data["url"] = element["videoUrl"]
        _put(data, element, "videoId", "fileMd5", "fileSize", "fileFormat", "filename", "videoUrl", "thumbnailUrl")
        return MessageSegment("video", data)
    if kind == "Quote":
        data = {"id": str(element.get("id", ""))}
        _put(data, element, "groupId", "senderId", "targetId", "origin")
        return MessageSegment("reply", data)
    if kind == "Forward":
        data = {"nodeList": element.get("nodeList") or []}
        _put(data, element, "display")
        return MessageSegment("forward", data)
    if kind == "File":
        data = {}
        if element.get("id") is not None:
            data["file"] = str(element["id"])
        _put(data, element, "id", "name", "size")
        return MessageSegment("file", data)
    if kind == "Xml":
        return MessageSegment("xml", {"data": element.get("xml", "")})
    if kind == "Json":
        return MessageSegment("json", {"data": element.get("json", ""), "element": "Json"})
    if kind == "App":
        return MessageSegment("json", {"data": element.get("content", "")})
    if kind == "Poke":
        return MessageSegment("poke", {"name": element.get("name", "")})
    if kind == "Dice":
        return MessageSegment("dice", {"result": element.get("value")} if element.get("value") is not None else {})
    if kind == "MarketFace":
        data = {}
        if element.get("id") is not None:
            data["emoji_id"] = str(element["id"])
        if element.get("name") is not None:
            data["summary"] = element["name"]
        return MessageSegment("mface", data)
    if kind == "MusicShare":
        data = {"type": "custom"}
        for src, dst in (("kind", "kind"), ("title", "title"), ("summary", "content"), ("jumpUrl", "url"),
                         ("pictureUrl", "image"), ("musicUrl", "audio"), ("brief", "brief")):
            if element.get(src) is not None:
                data[dst] = element[src]
        return MessageSegment("music", data)
    if kind == "MiraiCode":
        return MessageSegment("mirai_code", {"code": element.get("code", "")})
    # A type MAH added after this table (or a plugin's): kept under its own name.
    return MessageSegment(kind, {k: v for k, v in element.items() if k != "type"})


def chain_to_message(chain: Any, *, keep_source: bool = False) -> Message:
    """A received chain as a :class:`Message`. Never raises; a chain that is
    not a list gives an empty message."""
    if not isinstance(chain, (list, tuple)):
        return Message()
    out = Message()
    for element in chain:
        segment = element_to_segment(element, keep_source=keep_source)
        if segment is not None:
            out.append(segment)
    return out


def source_of(chain: Any) -> Tuple[Optional[int], Optional[int]]:
    """``(id, time)`` of the chain's ``Source`` element; ``(None, None)`` without one."""
    # Runs on the reader thread for every live message: a dict tested as one first
    # (an ABC's isinstance costs a Python-level call), an int id taken as it is.
    if isinstance(chain, (list, tuple)):
        for element in chain:
            if (type(element) is dict or isinstance(element, abc.Mapping)) and element.get("type") == "Source":
                mid, when = element.get("id"), element.get("time")
                return (
                    mid if type(mid) is int else _int_or_none(mid),
                    when if type(when) is int else _int_or_none(when),
                )
    return None, None


def plain_text_of(chain: Any) -> str:
    """The ``Plain`` texts of a chain joined, without separators."""
    if not isinstance(chain, (list, tuple)):
        return ""
    return "".join(
        e["text"]
        for e in chain
        if isinstance(e, abc.Mapping) and e.get("type") == "Plain" and isinstance(e.get("text"), str)
    )


# --------------------------------------------------------------------------- sent


@dataclass
class OutgoingChain:
    """A message converted for a MAH send.

    Attributes:
        chain: the elements of ``messageChain``.
        quote: the message id of a ``reply`` segment (the send's ``quote``), or None.
        uploads: segments MAH cannot take inline (``file``, a ``video`` that is
            not a videoId): they need an HTTP upload (``file_upload``,
            ``uploadShortVideo``) and are not in ``chain``.
    """

    chain: List[Dict[str, Any]] = field(default_factory=list)
    quote: Optional[int] = None
    uploads: List[MessageSegment] = field(default_factory=list)


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, not {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, not {value!r}") from None


def _local_path(uri: str) -> str:
    parts = urlsplit(uri)
    path = unquote(parts.path)
    if os.name == "nt" and len(path) > 2 and path[0] == "/" and path[2] == ":":
        path = path[1:]
    return path


def _media_source(data: Mapping[str, Any], id_key: str, read_file: ReadFile, what: str) -> Dict[str, Any]:
    """The source fields of an Image / Voice element: id, url or base64."""
    if data.get(id_key):
        return {id_key: data[id_key]}
    raw = data.get("file")
    if raw is None or raw == "":
        if data.get("url"):
            return {"url": data["url"]}
        if data.get("base64"):
            return {"base64": data["base64"]}
        if data.get("path"):
            return {"path": data["path"]}
        raise ValueError(f"{what} segment has no file, url or id: {dict(data)!r}"[:200])
    if isinstance(raw, (bytes, bytearray, memoryview, os.PathLike)):
        raw = _media_file(raw)
    if not isinstance(raw, str):
        raise TypeError(f"{what} file must be bytes, a path, a URL or an id, not {type(raw).__name__}")
    head = raw[:10].lower()
    if head.startswith("base64://"):
        return {"base64": raw[len("base64://"):]}
    if head.startswith(("http://", "https://")):
        return {"url": raw}
    if head.startswith("file://"):
        path = _local_path(raw)
        try:
            content = read_file(path)
        except OSError as exc:
            raise MediaUnavailable(f"{what} {path!r} could not be read: {exc}", [exc]) from exc
        return {"base64": base64.b64encode(content).decode("ascii")}
    if os.path.isfile(raw):  # a path string (MessageSegment built by hand)
        return _media_source({"file": Path(raw).resolve().as_uri()}, id_key, read_file, what)
    # An id received earlier; a URL beside it (a received segment sent back) is a fallback MAH never needs.
    return {id_key: raw}


def _node_content(content: Any, read_file: ReadFile) -> List[Dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "Plain", "text": content}]
    return message_to_chain(Message(content), read_file=read_file).chain


def _forward_nodes(nodes: List[MessageSegment], read_file: ReadFile) -> Dict[str, Any]:
    node_list: List[Dict[str, Any]] = []
    now = int(time.time())
    for node in nodes:
        data = node.data
        if data.get("content") is None and data.get("id") is not None:
            node_list.append({"messageId": _int(data["id"], "node id")})
            continue
        item: Dict[str, Any] = {
            "senderId": _int(data.get("user_id", data.get("uin", 0)), "node user_id"),
            "senderName": str(data.get("nickname", data.get("name", ""))),
            "time": _int(data.get("time", now), "node time"),
            "messageChain": _node_content(data.get("content"), read_file),
        }
        node_list.append(item)
    return {"type": "Forward", "nodeList": node_list}


def _segment_to_element(seg: MessageSegment, read_file: ReadFile) -> Optional[Dict[str, Any]]:
    kind, data = seg.type, seg.data
    if kind == "text":
        text = data.get("text")
        return {"type": "Plain", "text": "" if text is None else str(text)}
    if kind == "at":
        qq = data.get("qq")
        if str(qq).lower() == "all":
            return {"type": "AtAll"}
        element: Dict[str, Any] = {"type": "At", "target": _int(qq, "at qq")}
        if data.get("name"):
            element["display"] = data["name"]
        return element
    if kind == "face":
        element = {"type": "Face"}
        if data.get("id") is not None and data.get("id") != "":
            element["faceId"] = _int(data["id"], "face id")
        elif data.get("name"):
            element["name"] = data["name"]
        else:
            raise ValueError("face segment needs an id (or a name)")
        if data.get("isSuperFace") is not None:
            element["isSuperFace"] = bool(data["isSuperFace"])
        return element
    if kind == "image":
        flash = str(data.get("type", "")).lower() == "flash"
        element = {"type": "FlashImage" if flash else "Image"}
        element.update(_media_source(data, "imageId", read_file, "image"))
        return element
    if kind == "record":
        element = {"type": "Voice"}
        element.update(_media_source(data, "voiceId", read_file, "voice"))
        return element
    if kind == "xml":
        return {"type": "Xml", "xml": str(data.get("data", ""))}
    if kind == "json":
        if data.get("element") == "Json":
            return {"type": "Json", "json": str(data.get("data", ""))}
        return {"type": "App", "content": str(data.get("data", ""))}
    if kind == "app":
        return {"type": "App", "content": str(data.get("content", data.get("data", "")))}
    if kind == "poke":
        return {"type": "Poke", "name": str(data.get("name") or "Poke")}
    if kind == "dice":
        value = data.get("result", data.get("value"))
        if value in (None, ""):
            return {"type": "Dice", "value": random.randint(1, 6)}
        return {"type": "Dice", "value": _int(value, "dice result")}
    if kind == "mface":
        element = {"type": "MarketFace", "id": _int(data.get("emoji_id", data.get("id")), "mface emoji_id")}
        if data.get("summary") is not None:
            element["name"] = data["summary"]
        return element
    if kind == "music":
        if data.get("type") != "custom":
            raise ValueError(
                f"mirai-api-http cannot send a music share by platform id (type={data.get('type')!r}); "
                "use MessageSegment.music_custom(...)"
            )
        kind_name = data.get("kind") or "QQMusic"
        element = {
            "type": "MusicShare",
            "kind": kind_name,
            "title": str(data.get("title", "")),
            "summary": str(data.get("content", "")),
            "jumpUrl": str(data.get("url", "")),
            "pictureUrl": str(data.get("image", "")),
            "musicUrl": str(data.get("audio", "")),
        }
        element["brief"] = str(data.get("brief") or element["title"])
        return element
    if kind == "forward":
        if data.get("nodeList") is not None:
            element = {"type": "Forward", "nodeList": list(data["nodeList"])}
            if data.get("display") is not None:
                element["display"] = data["display"]
            return element
        raise ValueError("a forward segment needs nodeList (OneBot forward ids do not exist on mirai)")
    if kind == "mirai_code":
        return {"type": "MiraiCode", "code": str(data.get("code", ""))}
    if kind == "source":
        return None  # receive-only: a received message sent back as it is
    if kind[:1].isupper():
        element = dict(data)
        element["type"] = kind
        return element
    raise ValueError(f"mirai-api-http has no element for a {kind!r} segment")


def message_to_chain(message: Any, *, read_file: Optional[ReadFile] = None) -> OutgoingChain:
    """Convert anything a send accepts (``str``, :class:`Message`, a segment,
    a list of segments or of MAH elements) to an :class:`OutgoingChain`.

    A plain ``str`` is sent as one ``Plain`` element (never parsed as CQ code).
    Dicts with a top-level MAH ``type`` (``{"type": "Plain", "text": "hi"}``)
    are taken as MAH elements as they are; ``{"type": ..., "data": {...}}``
    dicts as segments. Consecutive ``node`` segments become one ``Forward``.

    Raises:
        TypeError: ``message`` is of an unsupported type.
        ValueError: a segment has no MAH equivalent or a bad field (the message
            names it).
        MediaUnavailable: a local media file could not be read.
    """
    reader = read_file or _read_local
    out = OutgoingChain()
    if message is None:
        return out
    if isinstance(message, str):
        if message:
            out.chain.append({"type": "Plain", "text": message})
        return out
    items: Iterable[Any]
    if isinstance(message, (MessageSegment, Mapping)):
        items = [message]
    elif isinstance(message, (bytes, bytearray, memoryview)):
        raise TypeError("a message cannot be bytes; decode it to str first")
    elif isinstance(message, Iterable):
        items = message
    else:
        raise TypeError(f"a message must be a str, Message, segment or list, not {type(message).__name__}")
    pending_nodes: List[MessageSegment] = []

    def flush_nodes() -> None:
        if pending_nodes:
            out.chain.append(_forward_nodes(list(pending_nodes), reader))
            pending_nodes.clear()

    for item in items:
        if isinstance(item, str):
            flush_nodes()
            if item:
                out.chain.append({"type": "Plain", "text": item})
            continue
        if isinstance(item, abc.Mapping) and "data" not in item and isinstance(item.get("type"), str) \
                and item["type"][:1].isupper():
            flush_nodes()
            out.chain.append(dict(item))  # a MAH element, as given
            continue
        seg = item if isinstance(item, MessageSegment) else MessageSegment.from_dict(item) \
            if isinstance(item, abc.Mapping) else None
        if seg is None:
            raise TypeError(f"message items must be segments, dicts or str, not {type(item).__name__}")
        if seg.type == "node":
            pending_nodes.append(seg)
            continue
        flush_nodes()
        if seg.type == "reply":
            if seg.data.get("id") in (None, ""):
                raise ValueError("a reply segment needs the id of the message to quote")
            out.quote = _int(seg.data["id"], "reply id")
            continue
        if seg.type == "file" or (seg.type == "video" and not (seg.data.get("videoId") or _looks_like_id(seg.data))):
            out.uploads.append(seg)
            continue
        if seg.type == "video":
            out.chain.append({"type": "ShortVideo", "videoId": seg.data.get("videoId") or seg.data["file"]})
            continue
        element = _segment_to_element(seg, reader)
        if element is not None:
            out.chain.append(element)
    flush_nodes()
    return out


def _looks_like_id(data: Mapping[str, Any]) -> bool:
    raw = data.get("file")
    if not isinstance(raw, str) or not raw:
        return False
    return not raw[:10].lower().startswith(("base64://", "http://", "https://", "file://")) and not os.path.isfile(raw)
