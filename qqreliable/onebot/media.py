"""OneBot v11's facts for the media fetcher: :class:`OneBotMedia`.

Where a fetchable reference is in a OneBot message (an ``image`` / ``record`` /
``video`` / ``file`` segment's ``file`` id and ``url``: :func:`parse_ref`), how the
API hands a file out (``get_image`` / ``get_record`` / ``get_file``, answering
``base64``, a local ``file`` path or a fresh ``url``), what its failures mean
(retcode 1200: the QQ kernel's ``downloadRichMedia`` timed out), and the account
state (``bot_offline`` notices, heartbeats, ``get_status``). The race, retries,
validation and cache are :class:`qqreliable.reliability.media.MediaFetcher`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Dict, List, Optional

from ..exceptions import ActionFailed, Error
from ..message import Message, MessageSegment
from ..reliability.interfaces import (
    AccountSignal,
    MediaRef,
    OutboundElement,
    Replacement,
    clean_text,
    first_media_data,
    is_http_url,
    transport_cause,
)
from ..reliability.media import MediaAttemptError
from .outbound import clean_url, rewrite_media
from .sends import account_signal

__all__ = ["OneBotMedia", "parse_ref", "clean_url", "API_ACTIONS"]

#: The action that hands out each kind of media.
API_ACTIONS: Dict[str, str] = {"image": "get_image", "record": "get_record", "video": "get_file", "file": "get_file"}


def _find_segment(kind: str, message: Message) -> Mapping[str, Any]:
    data = first_media_data(kind, message)
    if data is None:
        raise ValueError(f"no {kind} segment in the message")
    return data


def parse_ref(kind: str, target: Any) -> MediaRef:
    """Turn what the user passed into a :class:`MediaRef`.

    ``target`` may be a :class:`MessageSegment`, a segment dict
    (``{"type": "image", "data": {...}}``), a segment's ``data`` dict, an event
    or message holding such a segment (the first one is used), a ``file`` id, or
    a URL.

    Raises:
        ValueError: nothing fetchable was found.
        TypeError: ``target`` is of an unsupported type.
    """
    data: Optional[Mapping[str, Any]] = None
    if isinstance(target, MessageSegment):
        data = target.data
    elif isinstance(target, str):
        if not target.strip():
            raise ValueError(f"an empty {kind} id")
        text = clean_url(target) if is_http_url(target.strip()) else target.strip()
        return MediaRef(kind, url=text) if is_http_url(text) else MediaRef(kind, file=text)
    elif isinstance(target, Mapping) and "type" in target and isinstance(target.get("data"), Mapping):
        data = target["data"]
    elif isinstance(target, Mapping) and "message" in target:
        data = _find_segment(kind, Message(target.get("message")))
    elif isinstance(target, Message) or (isinstance(target, list)):
        data = _find_segment(kind, Message(target))
    elif isinstance(target, Mapping) and ("file" in target or "url" in target or "file_id" in target):
        data = target
    else:
        raise TypeError(f"cannot fetch a {kind} from {type(target).__name__}")
    file = clean_text(data.get("file")) or clean_text(data.get("file_id")) or clean_text(data.get("file_unique"))
    url = clean_text(data.get("url"))
    if url and not is_http_url(url):
        url = None
    if file and is_http_url(file):
        url = url or file
    url = clean_url(url) if url else None
    if not file and not url:
        raise ValueError(f"the {kind} segment has neither a file id nor a URL")
    return MediaRef(kind, file=file, url=url)


def _cause(exc: BaseException) -> str:
    if isinstance(exc, ActionFailed):
        text = f"{exc.message} {exc.wording}".lower()
        if exc.retcode in (1404, 404) or exc.category == "unsupported":
            return "api_unsupported"
        if "not found" in text or "不存在" in text or "找不到" in text:
            return "api_not_found"
        if exc.retcode in (1400, 400, 100) or exc.category == "bad_request":
            return "api_bad_request"
        if exc.retcode in (1200, 200):  # NapCat/LLOneBot's catch-all: 1200 over WS, 200 over HTTP
            return "api_1200"
        return "api_failed"
    return transport_cause(exc)


class OneBotMedia:
    """:class:`~qqreliable.reliability.interfaces.MediaApi` for OneBot v11.

    Args:
        call: ``call(action, api_timeout=..., **params)``: the bot's ``call_action``
            (raises a qqreliable error).
    """

    def __init__(self, call: Callable[..., Any]) -> None:
        self._call = call

    def find(self, kind: str, target: Any) -> MediaRef:
        return parse_ref(kind, target)

    def describe(self, kind: str) -> str:
        return API_ACTIONS[kind]

    def ask(self, ref: MediaRef, timeout: float, options: Mapping[str, Any]) -> List[str]:
        action = API_ACTIONS[ref.kind]
        params: Dict[str, Any] = {"file": ref.file}
        if ref.kind == "record":
            params["out_format"] = options.get("record_format", "mp3")
        data = self._call(action, api_timeout=timeout, **params)
        if not isinstance(data, Mapping):
            raise MediaAttemptError("api", "api_no_file", f"{action} answered {type(data).__name__}, not an object")
        out: List[str] = []
        b64 = data.get("base64")
        if isinstance(b64, str) and b64:
            out.append(b64 if b64.startswith("base64://") else f"base64://{b64}")
        for key in ("file", "url"):
            value = data.get(key)
            if isinstance(value, str) and value:
                out.append(clean_url(value) if is_http_url(value) else value)
        return out

    def cause(self, error: BaseException) -> str:
        return _cause(error)

    def probe_offline(self, timeout: float) -> Optional[str]:
        try:
            status = self._call("get_status", api_timeout=timeout)
        except Error:
            return None
        if isinstance(status, Mapping) and status.get("online") is False:
            return "get_status says the account is offline"
        return None

    def account_signal(self, event: Mapping[str, Any]) -> Optional[AccountSignal]:
        return account_signal(event)

    def rewrite_media(
        self,
        action: str,
        params: Dict[str, Any],
        visit: Callable[[OutboundElement], Optional[Replacement]],
        text: Callable[[str], None],
    ) -> Dict[str, Any]:
        return rewrite_media(action, params, visit, text)
