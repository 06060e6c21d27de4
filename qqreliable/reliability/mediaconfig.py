"""The media options and the account's offline flag: what ``Bot`` needs at import time.

The fetching and preparing machinery (:mod:`.media`, :mod:`.outbound`, the disk
cache and the download transport) is imported on first use; these values are
all a ``Bot`` needs to be constructed, so ``import qqreliable`` stays cheap.
Both heavier modules re-export what is defined here.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Union

if not TYPE_CHECKING:
    from .._frozen import frozen_dataclass as dataclass  # dataclass(frozen=True), cheaper to import
else:
    from dataclasses import dataclass
from .backoff import Backoff

__all__ = ["MediaConfig", "OutboundMedia", "OfflineWatch", "default_cache_dir"]

log = logging.getLogger(__name__)


def default_cache_dir() -> str:
    """The per-user cache directory: ``%LOCALAPPDATA%\\qqreliable\\media`` on Windows,
    ``~/Library/Caches/qqreliable/media`` on macOS, else ``$XDG_CACHE_HOME`` (or
    ``~/.cache``) ``/qqreliable/media``."""
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "qqreliable", "media")


@dataclass(frozen=True)
class MediaConfig:
    """How media is fetched and cached; pass as ``Bot(media_cache=MediaConfig(...))``.

    Attributes:
        cache: keep fetched files on disk (``False``: every fetch downloads).
        cache_dir: where (None: :func:`default_cache_dir`).
        max_cache_bytes: cap on the cache's total size; least recently used go first.
        max_file_bytes: a file announced or grown larger than this is refused.
        timeout: the overall deadline of one fetch, both paths and all retries.
        connect_timeout: TCP + TLS of one direct download.
        read_timeout: seconds without a byte before a download attempt fails.
        url_attempts: direct download attempts (resumes included).
        api_attempts: attempts of asking the API for the file.
        backoff: waits between attempts of one path (exponential, with jitter).
        retry_after_max: cap on a server's ``Retry-After``.
        api_delay: head start of the URL before the action is asked (0: at once).
        workers: threads of the media I/O pool (direct downloads).
        api_workers: threads asking the API for files at once: the QQ kernel
            downloads slowly and a WebSocket call cannot be abandoned before its
            deadline, so these have their own small pool and never starve the
            direct downloads.
        verify: TLS verification of direct downloads (a CA bundle path works too).
        trust_env: honour ``HTTPS_PROXY``/``NO_PROXY`` for direct downloads.
        record_format: the audio format asked of the API (OneBot: ``out_format``).
    """

    cache: bool = True
    cache_dir: Optional[str] = None
    max_cache_bytes: int = 512 * 1024 * 1024
    max_file_bytes: int = 100 * 1024 * 1024
    timeout: float = 60.0
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    url_attempts: int = 4
    api_attempts: int = 3
    backoff: Backoff = field(default_factory=lambda: Backoff(initial=0.2, maximum=4.0, jitter=0.5))
    retry_after_max: float = 10.0
    api_delay: float = 0.0
    workers: int = 8
    api_workers: int = 4
    verify: Union[bool, str] = True
    trust_env: bool = False
    record_format: str = "mp3"

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.read_timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("media timeouts must be positive")
        if self.url_attempts < 1 or self.api_attempts < 1:
            raise ValueError("url_attempts and api_attempts must be at least 1")
        if self.max_file_bytes <= 0 or self.max_cache_bytes <= 0:
            raise ValueError("media size caps must be positive")
        if self.workers < 1 or self.api_workers < 1:
            raise ValueError("workers and api_workers must be at least 1")

    @classmethod
    def from_option(cls, value: Any) -> "MediaConfig":
        """``Bot(media_cache=...)``: True (default dir), False/None (off), a path, or a MediaConfig."""
        if isinstance(value, MediaConfig):
            return value
        if value is True:
            return cls()
        if value is False or value is None:
            return cls(cache=False)
        if isinstance(value, (str, os.PathLike)):
            return cls(cache_dir=os.fspath(value))
        raise TypeError("media_cache must be True, False, a directory path or a MediaConfig")


@dataclass(frozen=True)
class OutboundMedia:
    """How media in outgoing messages is prepared; ``Bot(outbound_media=...)``.

    Attributes:
        shared_files: the implementation runs on this host and sees this file
            system (no Docker): local paths and ``file://`` URIs are passed as
            absolute ``file://`` URIs instead of being inlined.
        fetch_urls: download ``http(s)://`` media here and send the bytes;
            ``False`` leaves URLs for the implementation to download.
        max_request_bytes: the largest request (media as ``base64://``, which is
            4/3 of the file) that is sent; a larger one raises
            :class:`~qqreliable.MediaTooLarge` before anything is sent. NapCat
            accepts frames up to 50 MiB, some builds and proxies only 1-2 MiB.
        fetch_timeout: seconds all downloads of one message may take together.
        reuse_cache: take a media file that :meth:`Bot.fetch_image` & co. cached
            instead of downloading it again.
    """

    shared_files: bool = False
    fetch_urls: bool = True
    max_request_bytes: int = 8 * 1024 * 1024
    fetch_timeout: float = 30.0
    reuse_cache: bool = True

    def __post_init__(self) -> None:
        if self.max_request_bytes < 1024:
            raise ValueError("OutboundMedia.max_request_bytes must be at least 1024")
        if self.fetch_timeout <= 0:
            raise ValueError("OutboundMedia.fetch_timeout must be positive")

    @property
    def max_file_bytes(self) -> int:
        """The largest file that fits in a request once base64-encoded."""
        return self.max_request_bytes * 3 // 4


class OfflineWatch:
    """Whether the account is known to be offline, learnt from events through the
    protocol's ``account_signal(event)`` (an :data:`~.interfaces.AccountSignalFn`).

    Thread-safety: :meth:`observe` runs on reader threads; readers of
    :attr:`offline` see one whole string or None (a single reference).
    Never blocks, never raises.
    """

    __slots__ = ("offline", "_signal")

    def __init__(self, signal: Callable[[Mapping[str, Any]], Any]) -> None:
        self.offline: Optional[str] = None
        self._signal = signal

    def observe(self, event: Mapping[str, Any]) -> None:
        """Learn the account's state from one event (offline notices, status reports)."""
        try:
            signal = self._signal(event)
        except Exception:  # bad input must not kill the reader
            log.exception("could not read the account state from an event")
            return
        if signal is not None:
            self.feed(signal)

    def feed(self, signal: Any) -> None:
        """Learn the account's state from a signal already read from an event."""
        self.offline = None if signal.online else (signal.reason or "the account is offline")
