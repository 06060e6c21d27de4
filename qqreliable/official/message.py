"""Official-API messages to and from the common :class:`~qqreliable.Message` model.

Inbound (qq-official.md §5.1): ``content`` (group @-messages start with a space,
guild ones with ``<@!botid>``), ``<@!id>`` / ``<@id>`` mentions, inline faces
``<faceType=N,faceId="...",ext="...">``, ``attachments[]`` (``url`` sometimes
without a scheme) become ``text``, ``at``, ``face``, ``image``, ``record``,
``video`` and ``file`` segments.

Outbound: a message is cut into *parts*, each one message on the wire: the text
(split at a UTF-8 byte limit, on paragraph, line, sentence, then space
boundaries) and each media segment apart (uploaded, then ``msg_type`` 7).
:func:`text_body` and :func:`media_body` build the bodies.

Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Sequence

from ..message import Message, MessageSegment

__all__ = [
    "to_message",
    "fix_url",
    "Part",
    "split_outbound",
    "split_text",
    "text_body",
    "media_body",
    "guild_body",
    "MEDIA_TYPES",
    "FILE_TYPES",
    "FILE_EXTENSIONS",
    "DEFAULT_TEXT_LIMIT",
]

#: Bytes of UTF-8 per text message before it is split (reports range 2000 bytes to 4000 chars).
DEFAULT_TEXT_LIMIT = 2000
MEDIA_TYPES = ("image", "record", "video", "file")
#: ``file_type`` of the ``/files`` upload per segment type.
FILE_TYPES = {"image": 1, "video": 2, "record": 3, "file": 4}
#: A file name's extension per ``file_type`` when the segment names none.
FILE_EXTENSIONS = {1: ".png", 2: ".mp4", 3: ".silk", 4: ".bin"}

_TOKEN = re.compile(r"<@!?([^>\s]+)>|<faceType=(\d+),faceId=\"([^\"]*)\"(?:,ext=\"([^\"]*)\")?>|<emoji:(\d+)>")


def fix_url(url: Any) -> str:
    """An attachment URL with a scheme (the platform sometimes sends ``gchat.qpic.cn/...``)."""
    text = str(url or "").strip()
    if not text:
        return ""
    if text.startswith("//"):
        return "https:" + text
    if "://" not in text:
        return "https://" + text
    return text


def _attachment_segment(att: Mapping[str, Any]) -> Optional[MessageSegment]:
    url = fix_url(att.get("url"))
    content_type = str(att.get("content_type") or "").lower()
    data: Dict[str, Any] = {"file": url, "url": url}
    for key in ("filename", "size", "width", "height"):
        if att.get(key) not in (None, ""):
            data[key] = att[key]
    if content_type.startswith("image"):
        return MessageSegment("image", data)
    if content_type.startswith("video"):
        return MessageSegment("video", data)
    if content_type.startswith("voice") or content_type.startswith("audio"):
        if att.get("voice_wav_url"):
            data["wav_url"] = fix_url(att["voice_wav_url"])
        if att.get("asr_refer_text"):
            data["asr_text"] = att["asr_refer_text"]
        return MessageSegment("record", data)
    if not url:
        return None
    if att.get("filename") is not None:
        data["name"] = att["filename"]
    return MessageSegment("file", data)


def to_message(d: Mapping[str, Any]) -> Message:
    """The ``d`` of a message event as a :class:`Message`.

    The leading space of group @-messages goes; a leading mention of the bot
    (``<@!id>`` at the start, guild @-messages) becomes an ``at`` segment and
    the space after it goes too, so ``plain_text`` is what the user typed.
    """
    content = d.get("content")
    text = content if isinstance(content, str) else ""
    segments: List[MessageSegment] = []
    leading = True  # only mentions and whitespace so far: whitespace is dropped

    def add_text(piece: str) -> None:
        nonlocal leading
        if leading:
            piece = piece.lstrip()
        if piece:
            segments.append(MessageSegment.text(piece))
            leading = False

    pos = 0
    for match in _TOKEN.finditer(text):
        add_text(text[pos : match.start()])
        pos = match.end()
        if match.group(1) is not None:
            segments.append(MessageSegment("at", {"qq": match.group(1)}))
            continue
        leading = False
        data: Dict[str, Any] = {"id": match.group(3) if match.group(3) is not None else match.group(5)}
        if match.group(2) is not None:
            data["type"] = match.group(2)
        if match.group(4):
            data["ext"] = match.group(4)
        segments.append(MessageSegment("face", data))
    add_text(text[pos:])
    for att in d.get("attachments") or ():
        if isinstance(att, Mapping):
            seg = _attachment_segment(att)
            if seg is not None:
                segments.append(seg)
    return Message(segments)


# --------------------------------------------------------------------------- outbound


@dataclass
class Part:
    """One message on the wire: text (``kind="text"``) or one media segment."""

    kind: str
    text: str = ""
    segment: Optional[MessageSegment] = None
    extra: Dict[str, Any] = field(default_factory=dict)


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(text: str, limit: int) -> int:
    """Index in ``text`` where a part of at most ``limit`` UTF-8 bytes should end."""
    # Longest prefix within the byte limit.
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _utf8_len(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    end = max(1, lo)
    window = text[:end]
    for sep in ("\n\n", "\n", "。", "！", "？", ". ", "! ", "? ", " "):
        at = window.rfind(sep)
        if at > end // 3:
            return at + len(sep)
    return end


def split_text(text: str, limit: int = DEFAULT_TEXT_LIMIT) -> List[str]:
    """``text`` in parts of at most ``limit`` UTF-8 bytes, cut at the best boundary."""
    if limit < 4:
        raise ValueError("limit must be at least 4 bytes")
    parts: List[str] = []
    while _utf8_len(text) > limit:
        end = _cut(text, limit)
        parts.append(text[:end])
        text = text[end:]
    if text:
        parts.append(text)
    return parts


def _render_text(seg: MessageSegment, scene: str) -> str:
    if seg.type == "text":
        return str(seg.data.get("text", ""))
    if seg.type == "at":
        qq = seg.data.get("qq")
        if scene in ("guild", "direct"):
            return "@everyone" if str(qq) == "all" else f"<@{qq}>"
        return ""  # v2 (C2C / group) messages cannot mention by openid
    if seg.type == "face":
        return f"<faceType=1,faceId=\"{seg.data.get('id')}\">"
    if seg.type == "markdown":
        return str(seg.data.get("content", ""))
    return ""


def split_outbound(message: Any, scene: str, *, limit: int = DEFAULT_TEXT_LIMIT) -> List[Part]:
    """``message`` (str, segment, list, :class:`Message`) as the parts to send, in order.

    Plain ``str`` is text as typed (never parsed as CQ codes). Media segments
    are parts of their own; the text between them is joined and split at
    ``limit`` bytes. A ``reply`` segment is dropped (replies are by ``msg_id``).

    Raises:
        TypeError: the message is of an unsupported type.
        ValueError: it holds a segment the official API cannot send.
    """
    if isinstance(message, str):
        segments: Sequence[MessageSegment] = [MessageSegment.text(message)]
    elif isinstance(message, MessageSegment):
        segments = [message]
    else:
        segments = Message(message)
    parts: List[Part] = []
    text = ""
    markdown = False

    def flush() -> None:
        nonlocal text, markdown
        if text.strip():
            for piece in split_text(text, limit):
                parts.append(Part("markdown" if markdown else "text", piece))
        text = ""
        markdown = False

    for seg in segments:
        if seg.type in MEDIA_TYPES:
            flush()
            parts.append(Part("media", segment=seg))
        elif seg.type in ("text", "at", "face", "markdown"):
            markdown = markdown or seg.type == "markdown"
            text += _render_text(seg, scene)
        elif seg.type == "reply":
            continue
        else:
            raise ValueError(f"the official API cannot send a {seg.type!r} segment")
    flush()
    return parts


def text_body(text: str, *, markdown: bool = False) -> Dict[str, Any]:
    """A v2 (C2C / group) text body: ``msg_type`` 0 ``content``, or 2 ``markdown``."""
    if markdown:
        return {"msg_type": 2, "markdown": {"content": text}}
    return {"msg_type": 0, "content": text}


def media_body(file_info: str, caption: str = "") -> Dict[str, Any]:
    """A v2 media body (after the upload): ``msg_type`` 7 with a non-empty ``content``."""
    return {"msg_type": 7, "media": {"file_info": file_info}, "content": caption or " "}


def guild_body(text: str = "", *, image: Optional[str] = None, markdown: bool = False) -> Dict[str, Any]:
    """A guild channel / DM body: no ``msg_type``; ``content``, ``markdown`` or ``image``."""
    body: Dict[str, Any] = {}
    if text:
        if markdown:
            body["markdown"] = {"content": text}
        else:
            body["content"] = text
    if image:
        body["image"] = image
    return body
