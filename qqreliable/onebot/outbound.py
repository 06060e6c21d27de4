"""OneBot v11's outgoing media: where it is in a send, and how a replacement is written.

:func:`rewrite_media` walks a send's ``message`` / ``messages`` (CQ strings, segment
arrays, one segment, forward ``node`` contents) and hands every ``image`` /
``record`` / ``video`` / ``file`` segment to the neutral
:class:`~qqreliable.reliability.outbound.MediaPreparer` as an
:class:`~qqreliable.reliability.interfaces.OutboundElement`; a
:class:`~qqreliable.reliability.interfaces.Replacement` it answers becomes
``file=base64://...`` (or a ``file://`` URI) with the ``url`` key dropped (NapCat
tries it before ``file``). Text segments are counted toward the request size.
"""

from __future__ import annotations

import re
from collections import abc
from collections.abc import Mapping
from typing import Any, Callable, Dict, List, Optional

from ..message import Message
from ..reliability.interfaces import OutboundElement, Replacement, is_http_url

__all__ = ["MEDIA_SEGMENTS", "clean_url", "rewrite_media"]

MEDIA_SEGMENTS = ("image", "record", "video", "file")
"""Segment types whose ``file`` the implementation must read or download."""

_MAX_DEPTH = 32  # forward nodes inside forward nodes
_CQ_MEDIA = re.compile(r"\[CQ:(?:image|record|video|file)[,\]]")

Visit = Callable[[OutboundElement], Optional[Replacement]]
CountText = Callable[[str], None]


def clean_url(url: str) -> str:
    """Undo CQ-code escaping left in a URL (``&amp;`` → ``&``…); strip blanks.

    A URL copied out of a CQ string keeps ``&amp;`` and the host then rejects
    it (``invalid rkey``). A real URL never needs a literal ``&amp;``.
    """
    url = url.strip()
    for _ in range(3):  # doubly escaped URLs exist
        cleaned = url.replace("&#44;", ",").replace("&#91;", "[").replace("&#93;", "]").replace("&amp;", "&")
        if cleaned == url:
            break
        url = cleaned
    return url


def rewrite_media(action: str, params: Dict[str, Any], visit: Visit, text: CountText) -> Dict[str, Any]:
    """``params`` with every media segment replaced as ``visit`` says.

    Returns ``params`` itself when nothing changed, else a new dict (the caller's
    segments are never modified). Exceptions of ``visit`` propagate.
    """
    out = params
    for key in ("message", "messages"):
        value = params.get(key)
        if value is None:
            continue
        new = _message(value, visit, text, 0, bool(params.get("auto_escape")))
        if new is not value:
            if out is params:
                out = dict(params)
            out[key] = new
    return out


def _message(message: Any, visit: Visit, text: CountText, depth: int, auto_escape: bool = False) -> Any:
    if depth > _MAX_DEPTH:
        return message
    if isinstance(message, str):
        if auto_escape or not _CQ_MEDIA.search(message):
            return message
        segments: List[Any] = Message(message).to_list()
        new_list = _segments(segments, visit, text, depth)
        return new_list if new_list is not segments else message
    if isinstance(message, abc.Mapping):
        return _segment(message, visit, text, depth)
    if isinstance(message, (list, tuple)):
        return _segments(message, visit, text, depth)
    return message


def _segments(segments: Any, visit: Visit, text: CountText, depth: int) -> Any:
    out: Optional[List[Any]] = None
    for i, seg in enumerate(segments):
        new = _segment(seg, visit, text, depth) if isinstance(seg, abc.Mapping) else seg
        if new is not seg and out is None:
            out = list(segments[:i])
        if out is not None:
            out.append(new)
    return out if out is not None else segments


def _segment(seg: Mapping[str, Any], visit: Visit, text: CountText, depth: int) -> Any:
    kind = seg.get("type")
    data = seg.get("data")
    if not isinstance(data, abc.Mapping):
        return seg
    if kind == "node":
        content = data.get("content")
        if content is None:
            return seg
        new_content = _message(content, visit, text, depth + 1)
        if new_content is content:
            return seg
        return {**seg, "data": {**data, "content": new_content}}
    if kind == "text":
        value = data.get("text")
        if isinstance(value, str):
            text(value)
        return seg
    if kind not in MEDIA_SEGMENTS:
        return seg
    file = data.get("file")
    if isinstance(file, str) and is_http_url(file.strip()):
        file = clean_url(file)  # a URL copied out of a CQ string keeps its escapes
    url = data.get("url")
    url = clean_url(url) if isinstance(url, str) and is_http_url(url.strip()) else url
    replacement = visit(OutboundElement(str(kind), file, url if isinstance(url, str) else None))
    if replacement is None:
        return seg
    return {**seg, "data": _replaced(data, replacement)}


def _replaced(data: Mapping[str, Any], replacement: Replacement) -> Dict[str, Any]:
    new = {k: v for k, v in data.items() if k != "url"}
    if replacement.base64 is not None:
        new["file"] = "base64://" + replacement.base64
    elif replacement.uri is not None:
        new["file"] = replacement.uri
    if replacement.name and data.get("name") in (None, ""):
        new["name"] = replacement.name
    return new
