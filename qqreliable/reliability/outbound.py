"""Outbound media the server can actually send (faults MEDIA-03/04/05).

A media element (an image, voice, video or file) names its bytes by a path, a
URL, inline base64 or an id, and the server has to get them:

* a local path or ``file://`` URI is read on the *implementation's* host. Under
  Docker, or on another machine, it is not there: go-cqhttp silently drops the
  segment (then answers "消息为空" when nothing is left), NapCat answers
  "识别URL失败" (MEDIA-04);
* an ``http(s)://`` URL is downloaded by the implementation, which follows it to
  HTML error pages, 15-byte anti-hotlink bodies or an expired QQ CDN link
  (``multimedia.nt.qq.com.cn`` with a stale ``rkey``) and then fails the whole
  send, or sends garbage (MEDIA-03);
* a huge ``base64://`` payload makes a frame the implementation (or a proxy)
  refuses by closing the connection, with every call in flight on it (MEDIA-05).

So before a send leaves, :class:`MediaPreparer` rewrites each media element into
a form that works anywhere (the protocol finds the elements and writes the
replacement: :meth:`~qqreliable.reliability.interfaces.MediaApi.rewrite_media`): local files are read and inlined as ``base64://``
(unless :attr:`OutboundMedia.shared_files`); URLs are downloaded here, with the
media fetcher's timeouts, retries, redirect cap and magic-byte validation, and
inlined; a segment received earlier (a file id plus its CDN URL) is fetched by
racing the URL against the API (the protocol's
:class:`~qqreliable.reliability.interfaces.MediaApi`), or taken from the
:meth:`Bot.fetch_image` cache. The ``url`` key is dropped (NapCat tries it before ``file``). A request
that would exceed :attr:`OutboundMedia.max_request_bytes` is refused with
:class:`~qqreliable.MediaTooLarge`. Every failure here happens before anything
is sent: the message is NOT_SENT and it is safe to try again.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, Optional
from urllib.parse import unquote, urlsplit

from ..exceptions import BotStopped, MediaTooLarge, MediaUnavailable
from .interfaces import MediaApi, MediaRef, OutboundElement, Replacement, is_http_url
from .media import MediaConfig, MediaFetcher
from .mediaconfig import OutboundMedia

__all__ = ["OutboundMedia", "MediaPreparer", "classify_file"]

log = logging.getLogger(__name__)

_DATA_URI = re.compile(r"^data:[^;,]*;base64,", re.IGNORECASE)


def _b64_len(n: int) -> int:
    return (n + 2) // 3 * 4


def _local_path(value: str) -> Optional[str]:
    """The local path a ``file://`` URI or a plain path names (None for other forms)."""
    if value[:7].lower() == "file://":
        parts = urlsplit(value)
        path = unquote(parts.path)
        if parts.netloc and parts.netloc.lower() != "localhost":
            path = f"//{parts.netloc}{path}"  # a UNC path
        if os.name == "nt" and re.match(r"^/[A-Za-z]:", path):
            path = path[1:]
        return path
    return value


def classify_file(value: Any) -> str:
    """The form of a media element's reference: ``"base64"``, ``"data"`` (a
    ``data:`` URI), ``"url"``, ``"file"`` (``file://``), ``"path"`` (an existing
    local path or an absolute one), ``"bytes"`` or ``"id"`` (anything else: a file
    id the implementation gave out). Pure, apart from one ``os.path.isfile``."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "bytes"
    if not isinstance(value, str) or not value:
        return "id"
    head = value[:16].lower()
    if head.startswith("base64://"):
        return "base64"
    if _DATA_URI.match(value[:100]):
        return "data"
    if is_http_url(head):
        return "url"
    if head.startswith("file://"):
        return "file"
    if len(value) < 4096 and (os.path.isabs(value) or os.path.isfile(value)):
        return "path"
    return "id"


class _Budget:
    """The request being built: bytes so far against the limit, one deadline."""

    def __init__(self, action: str, options: OutboundMedia, deadline: float) -> None:
        self.action = action
        self.options = options
        self.deadline = deadline
        self.bytes = 0

    def text(self, value: str) -> None:
        """Count a piece of text of the request."""
        self.bytes += len(value.encode("utf-8", "replace"))

    def add(self, n: int, what: str) -> None:
        self.bytes += n
        limit = self.options.max_request_bytes
        if self.bytes > limit:
            raise MediaTooLarge(
                f"{self.action}: the message would be about {self.bytes} bytes on the wire "
                f"(media inlined as base64; {what}), over the limit of {limit} bytes "
                "(OutboundMedia.max_request_bytes); nothing was sent. Send a smaller file, "
                "or host it on a URL the implementation can download (OutboundMedia(fetch_urls=False))",
                size=self.bytes,
                limit=limit,
            )


class MediaPreparer:
    """Rewrites the media of outgoing messages; one per bot. Thread-safe.

    Args:
        options: the :class:`OutboundMedia`.
        api: the protocol's :class:`MediaApi` (finds references in segments; asks the
            API for segments received earlier).
        submit: the media I/O pool's ``submit``.
        submit_api: the pool of the API path's calls.
        media: the bot's :class:`MediaFetcher` (its configuration and cache).
        clock: monotonic clock.
    """

    def __init__(
        self,
        options: OutboundMedia,
        *,
        api: MediaApi,
        submit: Callable[..., Any],
        submit_api: Optional[Callable[..., Any]] = None,
        media: Optional[MediaFetcher] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self._media = media
        self._clock = clock
        base = media.config if media is not None else MediaConfig()
        # Its own fetcher: no cache, the download capped at what fits in a request.
        config = replace(
            base,
            cache=False,
            max_file_bytes=max(1, options.max_file_bytes),
            timeout=options.fetch_timeout,
        )
        self._api = api
        self._fetcher = MediaFetcher(api, submit, config, submit_api=submit_api, clock=clock)
        self._lock = threading.Lock()
        self._closed = False
        self.counters: Dict[str, int] = {
            "prepared": 0,
            "inlined_files": 0,
            "fetched": 0,
            "from_cache": 0,
            "bytes_inlined": 0,
            "refused_too_large": 0,
            "failed": 0,
        }

    def close(self) -> None:
        self._closed = True
        self._fetcher.close()

    def stats(self) -> Dict[str, int]:
        with self._lock:
            return dict(self.counters)

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] += n

    # -- the entry point ---------------------------------------------------------

    def prepare(self, action: str, params: Dict[str, Any]) -> Dict[str, Any]:
        """``params`` of a send with every media segment in a sendable form.

        Returns ``params`` itself when nothing needed a change, else a new dict
        (the caller's segments are never modified). Blocks while downloading.

        Raises:
            MediaTooLarge: the request would exceed ``max_request_bytes``.
            MediaUnavailable: a file could not be read or downloaded here; nothing
                was sent, and trying again is safe.
            BotStopped: the bot stopped meanwhile.
        """
        budget = _Budget(action, self.options, self._clock() + self.options.fetch_timeout)
        try:
            out = self._api.rewrite_media(action, params, lambda element: self._element(element, budget), budget.text)
        except MediaTooLarge:
            self._count("refused_too_large")
            raise
        except MediaUnavailable:
            self._count("failed")
            raise
        if out is not params:
            self._count("prepared")
        return out

    # -- one media element ---------------------------------------------------------

    def _element(self, element: OutboundElement, budget: _Budget) -> Optional[Replacement]:
        kind, file, url = element.kind, element.file, element.url
        source: Any = file if file not in (None, "") else url
        form = classify_file(source)
        if form == "base64":
            budget.add(len(source), f"a base64 {kind}")
            return None
        if form == "data":
            payload = _DATA_URI.sub("", source, count=1)
            budget.add(len(payload) + 9, f"a base64 {kind}")
            return Replacement(base64=payload)
        if form == "bytes":
            raw = bytes(source)
            budget.add(_b64_len(len(raw)), f"a {len(raw)}-byte {kind}")
            return Replacement(base64=base64.b64encode(raw).decode("ascii"))
        if form in ("file", "path"):
            return self._local(kind, source, form, budget)
        if form == "url":
            if not self.options.fetch_urls:
                return None
            return self._fetched(kind, MediaRef(kind, url=source.strip()), str(source), budget)
        # A file id. With a URL beside it, it was received earlier: fetch it (the URL
        # races the API); without, use the cache if it holds it, else leave the id
        # to the server that gave it out.
        file_id = str(file).strip() if file not in (None, "") else None
        if isinstance(url, str) and is_http_url(url) and self.options.fetch_urls:
            return self._fetched(kind, MediaRef(kind, file=file_id, url=url.strip()), str(file), budget)
        cached = self._cached(MediaRef(kind, file=file_id)) if file_id else None
        if cached is not None:
            budget.add(_b64_len(len(cached)), f"the cached {kind} {file}")
            return Replacement(base64=base64.b64encode(cached).decode("ascii"))
        return None

    def _local(self, kind: str, source: str, form: str, budget: _Budget) -> Optional[Replacement]:
        path = _local_path(source)
        if path is None:
            return None
        if self.options.shared_files:
            if form == "path":
                try:
                    return Replacement(uri=Path(path).resolve().as_uri())
                except (OSError, ValueError):
                    return None
            return None
        try:
            size = os.path.getsize(path)
            if not os.path.isfile(path):
                raise OSError("not a regular file")
        except (OSError, ValueError) as exc:
            raise MediaUnavailable(
                f"{budget.action}: the {kind} {source!r} cannot be read on this host ({exc}); "
                "nothing was sent. The implementation may run elsewhere (Docker) and cannot "
                "read it either; if the path exists on the implementation's host, pass "
                "Bot(outbound_media=OutboundMedia(shared_files=True))",
                [exc],
            ) from exc
        budget.add(_b64_len(size), f"the {size}-byte {kind} {os.path.basename(path)}")
        if size == 0:
            raise MediaUnavailable(f"{budget.action}: the {kind} {source!r} is empty; nothing was sent")
        try:
            with open(path, "rb") as fh:
                raw = fh.read(self.options.max_file_bytes + 1)
        except OSError as exc:
            raise MediaUnavailable(
                f"{budget.action}: the {kind} {source!r} cannot be read ({exc}); nothing was sent", [exc]
            ) from exc
        self._count("inlined_files")
        self._count("bytes_inlined", len(raw))
        name = os.path.basename(path) if kind == "file" else None
        return Replacement(base64=base64.b64encode(raw).decode("ascii"), name=name)

    def _cached(self, ref: MediaRef) -> Optional[bytes]:
        """The bytes of ``ref`` from the fetch_image cache, or None."""
        media = self._media
        if media is None or not self.options.reuse_cache:
            return None
        cache = media.cache
        if cache is None:
            return None
        try:
            entry = cache.get(ref.key)
            if entry is None or entry.size > self.options.max_file_bytes:
                return None
            with open(entry.path, "rb") as fh:
                raw = fh.read()
        except (OSError, ValueError, TypeError):
            return None
        self._count("from_cache")
        return raw

    def _fetched(self, kind: str, ref: MediaRef, label: str, budget: _Budget) -> Replacement:
        cached = self._cached(ref)
        if cached is None:
            remaining = budget.deadline - self._clock()
            try:
                if remaining <= 0:
                    raise MediaUnavailable(f"no time left within {self.options.fetch_timeout:g}s")
                media = self._fetcher.fetch(kind, ref, timeout=remaining)
            except BotStopped:
                raise
            except MediaUnavailable as exc:
                if self._closed:
                    raise BotStopped(
                        f"{budget.action}: the bot stopped while downloading its media; nothing was sent"
                    ) from exc
                errors = list(getattr(exc, "errors", []))
                if any(getattr(e, "cause", None) == "too_large" for e in errors):
                    raise MediaTooLarge(
                        f"{budget.action}: the {kind} at {_short(label)} is larger than "
                        f"{self.options.max_file_bytes} bytes, which would exceed the request limit "
                        f"of {self.options.max_request_bytes} bytes as base64; nothing was sent",
                        errors,
                        limit=self.options.max_request_bytes,
                    ) from exc
                raise MediaUnavailable(
                    f"{budget.action}: could not download the {kind} {_short(label)} to send it "
                    f"({exc}); nothing was sent, and trying again is safe",
                    errors,
                ) from exc
            raw = media.data
            self._count("fetched")
        else:
            raw = cached
        budget.add(_b64_len(len(raw)), f"the {len(raw)}-byte {kind} {_short(label)}")
        self._count("bytes_inlined", len(raw))
        return Replacement(base64=base64.b64encode(raw).decode("ascii"))


def _short(text: str, limit: int = 80) -> str:
    """A URL or id for an error message: without the query (signatures) and bounded."""
    head = text.split("?", 1)[0]
    return head if len(head) <= limit else head[: limit - 3] + "..."

