"""mirai-api-http's facts for the media fetcher: :class:`MiraiMedia`.

A received ``Image`` / ``FlashImage`` / ``Voice`` / ``ShortVideo`` element
carries the id MAH knows it by and a ``url`` on QQ's servers. MAH has no call
that hands a received file out again, so the fetcher's API path is refused at
once (a permanent ``api_unsupported``) and the element's URL is what is
fetched, with the fetcher's retries, validation (an expired link's HTML page
is a failure, never a result) and cache. The account state comes from
``BotOfflineEvent*`` and, when asked, from ``botList``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import unquote, urlsplit

from ..exceptions import ActionFailed, Error
from ..message import Message, MessageSegment
from ..outcome import Category
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
from .chain import chain_to_message, element_to_segment
from .sends import account_signal

__all__ = ["MiraiMedia", "parse_ref", "rewrite_chain"]

#: MAH media elements -> (the fetcher's kind, the element's id field).
_MEDIA_ELEMENTS = {
    "Image": ("image", "imageId"),
    "FlashImage": ("image", "imageId"),
    "Voice": ("record", "voiceId"),
}


def _first(kind: str, message: Message) -> Mapping[str, Any]:
    data = first_media_data(kind, message)
    if data is None:
        raise ValueError(f"no {kind} in the message")
    return data


def parse_ref(kind: str, target: Any) -> MediaRef:
    """What to fetch: ``target`` is a segment (or its dict / data), a MAH element
    (``{"type": "Image", "imageId", "url"}``), an event or message holding one
    (the first is used), a chain, a URL or an id.

    Raises:
        ValueError: nothing fetchable was found.
        TypeError: ``target`` is of an unsupported type.
    """
    data: Optional[Mapping[str, Any]] = None
    if isinstance(target, MessageSegment):
        data = target.data
    elif isinstance(target, str):
        text = target.strip()
        if not text:
            raise ValueError(f"an empty {kind} id")
        return MediaRef(kind, url=text) if is_http_url(text) else MediaRef(kind, file=text)
    elif isinstance(target, Mapping) and "messageChain" in target:
        data = _first(kind, chain_to_message(target.get("messageChain")))
    elif isinstance(target, Mapping) and isinstance(target.get("type"), str) and target["type"][:1].isupper():
        segment = element_to_segment(target)
        if segment is None:
            raise ValueError(f"no {kind} in a {target['type']} element")
        data = _first(kind, Message([segment]))
    elif isinstance(target, Mapping) and "type" in target and isinstance(target.get("data"), Mapping):
        data = target["data"]
    elif isinstance(target, (list, tuple)):
        items = list(target)
        if items and all(isinstance(i, Mapping) and "data" not in i for i in items):
            data = _first(kind, chain_to_message(items))
        else:
            data = _first(kind, Message(items))
    elif isinstance(target, Mapping) and ("file" in target or "url" in target):
        data = target
    else:
        raise TypeError(f"cannot fetch a {kind} from {type(target).__name__}")
    file = clean_text(data.get("file"))
    url = clean_text(data.get("url"))
    if url and not is_http_url(url):
        url = None
    if file and is_http_url(file):
        url = url or file
        file = None
    if not file and not url:
        raise ValueError(f"the {kind} has neither an id nor a URL")
    return MediaRef(kind, file=file, url=url)


def _rewrite_element(element: Mapping[str, Any], visit: Callable[[OutboundElement], Optional[Replacement]],
                     ) -> Optional[Dict[str, Any]]:
    """One media element as the preparer wants it, or None when unchanged."""
    kind, id_key = _MEDIA_ELEMENTS[element["type"]]
    if element.get(id_key):
        # An id MAH gave out: MAH has the file; nothing to transfer.
        return None
    if element.get("base64"):
        source: Any = "base64://" + str(element["base64"])
    elif element.get("url"):
        source = str(element["url"])
    else:
        return None  # a path on the MAH host, or nothing at all: MAH answers for it
    replacement = visit(OutboundElement(kind, source))
    if replacement is None:
        return None
    out = {k: v for k, v in element.items() if k not in ("url", "base64", "path", id_key)}
    if replacement.base64 is not None:
        out["base64"] = replacement.base64
    elif replacement.uri is not None:
        out["path"] = unquote(urlsplit(replacement.uri).path)  # shared_files: MAH runs on this host
    else:
        return None
    return out


def rewrite_chain(chain: Any, visit: Callable[[OutboundElement], Optional[Replacement]],
                  text: Callable[[str], None]) -> Any:
    """``chain`` with every Image / FlashImage / Voice sent by URL or base64 replaced as
    ``visit`` answers (Forward nodes included); the chain itself when nothing changed."""
    if not isinstance(chain, list):
        return chain
    changed = False
    out: List[Any] = []
    for element in chain:
        new: Any = element
        if isinstance(element, Mapping):
            kind = element.get("type")
            if kind in _MEDIA_ELEMENTS:
                rewritten = _rewrite_element(element, visit)
                if rewritten is not None:
                    new = rewritten
            elif kind == "Forward" and isinstance(element.get("nodeList"), list):
                nodes: List[Any] = []
                nodes_changed = False
                for node in element["nodeList"]:
                    if isinstance(node, Mapping) and isinstance(node.get("messageChain"), list):
                        inner = rewrite_chain(node["messageChain"], visit, text)
                        if inner is not node["messageChain"]:
                            node = dict(node, messageChain=inner)
                            nodes_changed = True
                    nodes.append(node)
                if nodes_changed:
                    new = dict(element, nodeList=nodes)
            else:
                for key in ("text", "xml", "json", "content"):
                    value = element.get(key)
                    if isinstance(value, str):
                        text(value)
        changed = changed or new is not element
        out.append(new)
    return out if changed else chain


def _cause(exc: BaseException) -> str:
    if isinstance(exc, ActionFailed):
        if exc.category == Category.UNSUPPORTED:
            return "api_unsupported"
        if exc.category == Category.NOT_FOUND:
            return "api_not_found"
        if exc.category == Category.BAD_REQUEST:
            return "api_bad_request"
        return "api_failed"
    return transport_cause(exc)


class MiraiMedia:
    """:class:`~qqreliable.reliability.interfaces.MediaApi` for mirai-api-http.

    Args:
        call: ``call(command, **content)``: the bot's :meth:`~.bot.MiraiBot.call`.
        qq: the bot account (for :meth:`probe_offline`).
    """

    def __init__(self, call: Callable[..., Any], qq: int) -> None:
        self._call = call
        self._qq = qq

    def find(self, kind: str, target: Any) -> MediaRef:
        return parse_ref(kind, target)

    def describe(self, kind: str) -> str:
        return "mirai-api-http (no API hands received files out)"

    def ask(self, ref: MediaRef, timeout: float, options: Mapping[str, Any]) -> List[str]:
        raise ActionFailed(
            "fetch",
            6,
            "mirai-api-http has no call that hands out a received file; only the element's url can be fetched",
            category=Category.UNSUPPORTED,
        )

    def cause(self, error: BaseException) -> str:
        return _cause(error)

    def probe_offline(self, timeout: float) -> Optional[str]:
        try:
            bots = self._call("botList", timeout=timeout)
        except Error:
            return None
        if isinstance(bots, list) and self._qq not in bots:
            return f"mirai-api-http's botList does not list {self._qq}: the account is not logged in"
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
        """A send's ``messageChain`` with media made sendable from anywhere: URLs
        downloaded here (checked) and inlined as ``base64``, the request size
        counted (:class:`~qqreliable.reliability.outbound.MediaPreparer`). Ids MAH
        gave out are left alone; a ``path`` is MAH's own business."""
        chain = params.get("messageChain")
        out = rewrite_chain(chain, visit, text)
        if out is chain:
            return params
        return dict(params, messageChain=out)
