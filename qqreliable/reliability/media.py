"""Media that always arrives: race the URL against the API, validate, retry, cache.

``bot.fetch_image(segment)`` (and ``fetch_record`` / ``fetch_video`` /
``fetch_file``) lands here. Servers hand out media two ways and each fails in its
own fashion (``reference/faults.md`` MEDIA-01/02):

* the segment's ``url`` is signed with a short-lived ``rkey``; once it has
  expired the host answers a small JSON body, with HTTP 400 or even 200;
* asking the API for the file (the protocol's
  :class:`~qqreliable.reliability.interfaces.MediaApi`; OneBot: its image action)
  makes the server download through the QQ kernel, which may time out after many
  seconds, or never answer.

So both run at once on the bot's I/O pool and the first *valid* file wins;
the loser is cancelled. Each path retries on its own (exponential backoff
with jitter, ``Retry-After`` honoured and capped) inside one overall deadline,
a cut download resumes with ``Range`` where the server allows it, every body
is checked (status, type, length, magic bytes), and what was fetched is kept
in an on-disk cache keyed by the file id. Concurrent fetches of the same file
share one download.

Signed URLs are secrets for as long as they live: every log line and error message
built here passes through :func:`redact`, which blanks ``rkey`` and other signature
query parameters.
"""

from __future__ import annotations

import base64
import binascii
import collections
import email.utils
import hashlib
import logging
import os
import random
import re
import tempfile
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Deque, Dict, List, Mapping, Optional, Tuple, Union

from ..exceptions import AccountOffline, BotStopped, Error, MediaUnavailable
from ..stats import percentile
from ..transport.download import CancelToken, DownloadError, MediaHttp
from .backoff import Backoff
from .mediaconfig import MediaConfig, OfflineWatch, default_cache_dir
from .cache import MediaCache
from .interfaces import MediaApi, MediaRef, is_http_url
from .race import RaceLost, race
from .sniff import judge

__all__ = [
    "Media",
    "MediaConfig",
    "MediaRef",
    "MediaFetcher",
    "MediaAttemptError",
    "redact",
    "parse_retry_after",
    "retryable",
    "retry_delay",
    "default_cache_dir",
]

log = logging.getLogger(__name__)

_HEAD = 512  # bytes kept for sniffing
_TAIL = 16  # bytes kept for end markers
_EAGER_READ = 8 * 1024 * 1024  # cached files up to this size are read into Media.data at once

#: Query parameters that sign or authorise a URL: their values never reach a log or
#: an error message (QQ's ``rkey``, cloud storage signatures, tokens).
_SECRET_PARAMS = (
    "rkey", "sign", "signature", "sig", "token", "access_token", "auth", "auth_key", "authkey",
    "key", "secret", "credential", "x-amz-signature", "x-amz-credential", "x-amz-security-token",
    "x-cos-security-token", "q-signature", "ossaccesskeyid", "x-oss-signature",
)
_SECRET_QUERY = re.compile(
    r"([?&;]|&amp;)(" + "|".join(re.escape(p) for p in _SECRET_PARAMS) + r")=[^&\s#\"'<>,\])]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with the values of signature query parameters (``rkey=...``,
    ``sign=...``, ``X-Amz-Signature=...``...) replaced by ``REDACTED``, wherever a
    URL or a bare query string appears in it. Pure; never raises."""
    if "=" not in text:
        return text
    return _SECRET_QUERY.sub(lambda m: f"{m.group(1)}{m.group(2)}=REDACTED", text)


# --------------------------------------------------------------------------- configuration


# --------------------------------------------------------------------------- values


class Media:
    """A fetched media file.

    Attributes:
        kind: ``"image"``, ``"record"``, ``"video"`` or ``"file"``.
        content_type: the type sniffed from the bytes (``image/png``…).
        size: bytes.
        source: ``"url"`` (direct download), ``"api"`` (asked of the API) or ``"cache"``.
        path: the cached file, when the cache is on (may be evicted later).
        file: the implementation's file id, when known.
        url: the URL it was downloaded from, when it was.
        elapsed: seconds the fetch took.
    """

    __slots__ = ("kind", "content_type", "size", "source", "path", "file", "url", "elapsed", "_data")

    def __init__(
        self,
        *,
        kind: str,
        content_type: str,
        size: int,
        source: str,
        path: Optional[str] = None,
        data: Optional[bytes] = None,
        file: Optional[str] = None,
        url: Optional[str] = None,
        elapsed: float = 0.0,
    ) -> None:
        self.kind = kind
        self.content_type = content_type
        self.size = size
        self.source = source
        self.path = path
        self.file = file
        self.url = url
        self.elapsed = elapsed
        self._data = data

    @property
    def data(self) -> bytes:
        """The bytes (read from :attr:`path` on first use for large cached files)."""
        if self._data is None:
            if self.path is None:
                return b""
            with open(self.path, "rb") as fh:
                self._data = fh.read()
        return self._data

    def save(self, path: Union[str, "os.PathLike[str]"]) -> str:
        """Write the bytes to ``path``; return it."""
        target = os.fspath(path)
        with open(target, "wb") as fh:
            fh.write(self.data)
        return target

    def _as(self, source: str, elapsed: float) -> "Media":
        return Media(kind=self.kind, content_type=self.content_type, size=self.size, source=source,
                     path=self.path, data=self._data, file=self.file, url=self.url, elapsed=elapsed)

    def __repr__(self) -> str:
        return f"<Media {self.kind} {self.content_type} {self.size} bytes from {self.source}>"


class MediaAttemptError(Error):
    """One attempt of one path failed; ``MediaUnavailable.errors`` holds these.

    Attributes:
        path: ``"url"`` or ``"api"``.
        cause: a short code (``"timeout"``, ``"http_404"``, ``"expired"``,
            ``"html"``, ``"truncated"``, ``"api_1200"``, ``"deadline"``…),
            counted in ``bot.stats()["media"]["failures"]``.
        retry_after: the server's ``Retry-After`` in seconds, if it sent one.
    """

    def __init__(self, path: str, cause: str, message: str, *, retry_after: Optional[float] = None) -> None:
        message = redact(message)
        super().__init__(message)
        self.path = path
        self.cause = cause
        self.detail = message
        self.retry_after = retry_after
        self.counted = False
        self.earlier: List["MediaAttemptError"] = []  # the same path's previous attempts

    def __str__(self) -> str:
        return f"{self.path}: {self.cause}: {self.detail}"


# --------------------------------------------------------------------------- retry decisions (pure)

_PERMANENT = {
    "http_400", "http_401", "http_403", "http_404", "http_405", "http_410", "http_451",
    "expired", "too_large", "bad_url", "redirects", "not_image", "not_record", "not_video",
    "api_not_found", "api_unsupported", "api_bad_request", "api_no_file", "api_unavailable",
    "cancelled", "deadline", "tls",
}


def retryable(cause: str) -> bool:
    """True when another attempt of the same path may succeed.

    An expired signature, a 404, a refusal, a body of the wrong kind or a
    file over the cap will not change by asking again; timeouts, cut
    connections, 5xx / 429, a truncated or empty body and an API 1200 may.
    ``html``/``json`` error pages are retried (a CDN hiccup) within the budget.
    """
    return cause not in _PERMANENT


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def retry_delay(
    failures: int,
    backoff: Backoff,
    *,
    retry_after: Optional[float] = None,
    retry_after_max: float = 10.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds before the next attempt after ``failures`` failed ones.

    A server's ``Retry-After`` wins over the backoff but is capped at
    ``retry_after_max`` (a hostile or confused server cannot park us).
    """
    if retry_after is not None:
        return min(max(0.0, retry_after), retry_after_max)
    return backoff.delay(failures, rand)


# --------------------------------------------------------------------------- streaming sink


class _Sink:
    """A download being written to a temp file: hash, head, tail and size as it goes."""

    def __init__(self, fh: BinaryIO, path: str, max_bytes: int) -> None:
        self.fh = fh
        self.path = path
        self.max_bytes = max_bytes
        self.reset()

    def reset(self) -> None:
        self.fh.seek(0)
        self.fh.truncate()
        self.size = 0
        self.digest = hashlib.sha256()
        self.head = b""
        self.tail = b""

    def write(self, chunk: bytes) -> None:
        if self.size + len(chunk) > self.max_bytes:
            raise MediaAttemptError("-", "too_large", f"larger than the cap of {self.max_bytes} bytes")
        self.fh.write(chunk)
        self.size += len(chunk)
        self.digest.update(chunk)
        if len(self.head) < _HEAD:
            self.head += chunk[: _HEAD - len(self.head)]
        self.tail = (self.tail + chunk)[-_TAIL:]

    def discard(self) -> None:
        try:
            self.fh.close()
        finally:
            try:
                os.remove(self.path)
            except OSError:
                pass


@dataclass
class _Got:
    """A validated file in a temp file, ready to be cached or read."""

    sink: _Sink
    content_type: str
    source: str
    url: Optional[str] = None


class _Flight:
    """One download in progress that concurrent fetches of the same file share."""

    __slots__ = ("future", "deadline")

    def __init__(self, deadline: float) -> None:
        self.future: "Future[Media]" = Future()
        self.deadline = deadline


@dataclass
class _UrlState:
    """What one URL path remembers between its attempts (for resume)."""

    validator: Optional[str] = None
    expected: Optional[int] = None
    resumes: int = 0
    restarts: int = 0


# --------------------------------------------------------------------------- statistics


class MediaStats:
    """Thread-safe counters of media fetches; ``snapshot()`` is ``stats()["media"]``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.fetches = 0
        self.ok = 0
        self.failed = 0
        self.wins: Dict[str, int] = {"url": 0, "api": 0, "cache": 0}
        self.shared = 0
        self.failures: Dict[str, int] = {}
        self.errors: Dict[str, int] = {}
        self.resumes = 0
        self.restarts = 0
        self.bytes = 0
        self.cache_hits = 0
        self.cache_misses = 0
        self._latency: Dict[str, Deque[float]] = {}

    def attempt_failed(self, path: str, cause: str) -> None:
        with self._lock:
            name = f"{path}:{cause}"
            self.failures[name] = self.failures.get(name, 0) + 1

    def done(self, source: Optional[str], elapsed: float, error: Optional[BaseException] = None,
             shared: bool = False) -> None:
        with self._lock:
            self.fetches += 1
            if shared:
                self.shared += 1
            if error is not None:
                self.failed += 1
                name = type(error).__name__
                self.errors[name] = self.errors.get(name, 0) + 1
                return
            self.ok += 1
            if source is not None and not shared:
                self.wins[source] = self.wins.get(source, 0) + 1
            self._latency.setdefault(source or "?", collections.deque(maxlen=1024)).append(elapsed)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def snapshot(self) -> Dict[str, Any]:
        with self._lock:
            latency = {}
            for source, samples in self._latency.items():
                ordered = sorted(samples)
                latency[source] = {"p50": percentile(ordered, 0.5), "p90": percentile(ordered, 0.9),
                                   "max": ordered[-1] if ordered else None}
            return {
                "fetches": self.fetches, "ok": self.ok, "failed": self.failed,
                "wins": dict(self.wins), "shared": self.shared,
                "cache_hits": self.cache_hits, "cache_misses": self.cache_misses,
                "failures": dict(self.failures), "errors": dict(self.errors),
                "resumes": self.resumes, "restarts": self.restarts, "bytes": self.bytes,
                "latency": latency,
            }


# --------------------------------------------------------------------------- the fetcher


class MediaFetcher:
    """Fetches media for one bot. Thread-safe; any number of threads may fetch at once.

    Args:
        api: the protocol's :class:`MediaApi` (finds references, asks the API).
        submit: ``submit(fn, *args) -> Future`` of the media I/O pool.
        config: the :class:`MediaConfig`.
        submit_api: the pool of the API path (default: ``submit``).
        http: the direct-download transport (made on first use when None).
        clock: monotonic clock (tests inject one).
        offline: the account's offline flag when the owner keeps it (default: a
            new one fed by ``api.account_signal``).
    """

    def __init__(
        self,
        api: MediaApi,
        submit: Callable[..., "Future[Any]"],
        config: MediaConfig,
        *,
        submit_api: Optional[Callable[..., "Future[Any]"]] = None,
        http: Optional[MediaHttp] = None,
        clock: Callable[[], float] = time.monotonic,
        offline: Optional[OfflineWatch] = None,
    ) -> None:
        self.api = api
        self._submit = submit
        self._submit_api = submit_api or submit
        self.config = config
        self._http = http
        self._clock = clock
        self._lock = threading.Lock()
        self._flights: Dict[str, _Flight] = {}
        self._tokens: List[CancelToken] = []
        self._cache: Optional[MediaCache] = None
        self._cache_broken = False
        self._closed = False
        self._watch = offline if offline is not None else OfflineWatch(api.account_signal)
        self.stats = MediaStats()

    # -- lifecycle ------------------------------------------------------------

    def _transport(self) -> MediaHttp:
        with self._lock:
            if self._http is None:
                self._http = MediaHttp(
                    verify=self.config.verify,
                    connect_timeout=self.config.connect_timeout,
                    pool_size=self.config.workers,
                    trust_env=self.config.trust_env,
                )
            return self._http

    @property
    def cache(self) -> Optional[MediaCache]:
        """The disk cache, or None when it is off (or its directory proved unusable)."""
        if not self.config.cache or self._cache_broken:
            return None
        with self._lock:
            if self._cache is None:
                self._cache = MediaCache(self.config.cache_dir or default_cache_dir(), self.config.max_cache_bytes)
            return self._cache

    def _cache_failed(self, exc: OSError) -> None:
        """An unusable cache directory turns the cache off; fetching goes on without it."""
        if not self._cache_broken:
            self._cache_broken = True
            log.warning("media cache at %s is unusable (%s): continuing without a disk cache",
                        self.config.cache_dir or default_cache_dir(), exc)

    def close(self) -> None:
        """Refuse new fetches and cancel every download in flight (sockets shut at once)."""
        with self._lock:
            self._closed = True
            tokens = list(self._tokens)
            http = self._http
        for token in tokens:
            token.cancel()
        if http is not None:
            http.close()

    # -- account status -------------------------------------------------------

    def observe(self, event: Mapping[str, Any]) -> None:
        """Learn the account's state from events (the protocol's account signals:
        offline notices, status reports). Reader thread: never blocks."""
        self._watch.observe(event)

    @property
    def offline(self) -> Optional[str]:
        """Why the account is known to be offline, or None."""
        return self._watch.offline

    def _probe_offline(self, deadline: float) -> Optional[str]:
        """Ask the API (briefly) whether the account is online."""
        remaining = min(2.0, deadline - self._clock())
        if remaining <= 0.05:
            return None
        try:
            return self.api.probe_offline(remaining)
        except Error:
            return None

    # -- fetching -------------------------------------------------------------

    def fetch(self, kind: str, target: Any, timeout: Optional[float] = None) -> Media:
        """Fetch one media file; see ``Bot.fetch_image``. Blocks up to ``timeout``.

        ``target`` is a :class:`MediaRef`, or anything the protocol's
        :meth:`MediaApi.find` reads (a segment, an event, a file id, a URL).

        Raises:
            MediaUnavailable: no path produced a valid file in time.
            AccountOffline: the account is offline and there was no URL (or every
                path failed while it is).
            BotStopped: the fetcher is closed.
            ValueError, TypeError: nothing fetchable in ``target``.
        """
        ref = target if isinstance(target, MediaRef) else self.api.find(kind, target)
        started = self._clock()
        deadline = started + (self.config.timeout if timeout is None else timeout)
        if self._closed:
            raise BotStopped(f"fetch_{kind}: the bot is stopped")
        cached = self._from_cache(ref, started)
        if cached is not None:
            return cached
        if self.config.cache:
            self.stats.add(cache_misses=1)
        while True:
            with self._lock:
                flight = self._flights.get(ref.key)
                leader = flight is None
                if flight is None:
                    flight = self._flights[ref.key] = _Flight(deadline)
            if leader:
                return self._lead(ref, flight, started, deadline)
            try:
                media = flight.future.result(timeout=max(0.0, deadline - self._clock()))
            except FutureTimeout:
                error = MediaUnavailable(
                    redact(f"fetch_{kind}: timed out waiting for the shared download of {ref.key}"))
                self.stats.done(None, self._clock() - started, error, shared=True)
                raise error from None
            except MediaUnavailable as exc:
                if flight.deadline + 0.5 < deadline and self._clock() < deadline - 0.5:
                    continue  # the leader's shorter deadline ran out; ours has not: try again
                self.stats.done(None, self._clock() - started, exc, shared=True)
                raise
            except Error as exc:
                self.stats.done(None, self._clock() - started, exc, shared=True)
                raise
            self.stats.done(media.source, self._clock() - started, shared=True)
            return media._as(media.source, self._clock() - started)

    def _from_cache(self, ref: MediaRef, started: float) -> Optional[Media]:
        cache = self.cache
        try:
            entry = cache.get(ref.key) if cache is not None else None
        except OSError as exc:
            self._cache_failed(exc)
            return None
        if entry is None:
            return None
        data = _read_small(entry.path, entry.size)
        if data is None and not os.path.exists(entry.path):
            return None  # evicted between the lookup and the read
        self.stats.add(cache_hits=1)
        media = Media(kind=ref.kind, content_type=entry.content_type, size=entry.size, source="cache",
                      path=entry.path, data=data, file=ref.file, url=ref.url, elapsed=self._clock() - started)
        self.stats.done("cache", media.elapsed)
        return media

    def _lead(self, ref: MediaRef, flight: "_Flight", started: float, deadline: float) -> Media:
        """Fetch for everyone waiting on ``flight``."""
        try:
            # A fetch that finished just before this flight began is in the cache by now.
            media = self._from_cache(ref, started)
            if media is None:
                media = self._fetch_new(ref, started, deadline)
                self.stats.done(media.source, media.elapsed)
        except BaseException as exc:
            flight.future.set_exception(exc)
            self.stats.done(None, self._clock() - started, exc)
            raise
        finally:
            with self._lock:
                self._flights.pop(ref.key, None)
        flight.future.set_result(media)
        return media

    def _fetch_new(self, ref: MediaRef, started: float, deadline: float) -> Media:
        offline = self._watch.offline
        contenders: List[Any] = []
        if ref.url:
            url = ref.url
            contenders.append(("url", lambda token: self._url_path(ref, url, deadline, token, "url"), self._submit))
        if ref.file and not offline:
            contenders.append(("api", lambda token: self._api_path(ref, deadline, token), self._submit_api))
        if not contenders:
            if offline:
                raise AccountOffline(f"fetch_{ref.kind}: the account is offline ({offline}) and there is no URL")
            raise MediaUnavailable(f"fetch_{ref.kind}: nothing to fetch")
        try:
            source, got, _ = race(contenders, deadline, discard=_discard, clock=self._clock,
                                  tokens=self._tokens)
        except RaceLost as lost:
            errors: List[BaseException] = []
            for error in lost.errors:
                errors.extend(getattr(error, "earlier", ()))
                errors.append(error)
            for name in lost.timed_out:
                errors.append(self._fail(name, MediaAttemptError(name, "deadline", "still running at the deadline")))
            why = offline or self._probe_offline(deadline)
            causes = "; ".join(str(e) for e in errors) or "no attempt finished"
            if why:
                error_cls: Any = AccountOffline
                raise error_cls(redact(f"fetch_{ref.kind}: the account is offline ({why}); {causes}")) from (
                    errors[-1] if errors else None)
            raise MediaUnavailable(redact(f"fetch_{ref.kind} {ref.key} failed: {causes}"), errors) from (
                errors[-1] if errors else None)
        return self._commit(ref, got, started)

    def _commit(self, ref: MediaRef, got: _Got, started: float) -> Media:
        sink = got.sink
        self.stats.add(bytes=sink.size)
        cache = self.cache
        if cache is not None:
            sink.fh.close()
            try:
                entry = cache.put(ref.key, sink.path, sink.digest.hexdigest(), sink.size, got.content_type)
            except OSError as exc:
                log.warning("media cache write failed (%s); returning the file uncached", redact(str(exc)))
            else:
                return Media(kind=ref.kind, content_type=got.content_type, size=sink.size, source=got.source,
                             path=entry.path, data=_read_small(entry.path, entry.size), file=ref.file,
                             url=got.url, elapsed=self._clock() - started)
            with open(sink.path, "rb") as fh:
                data = fh.read()
        else:
            sink.fh.seek(0)
            data = sink.fh.read()
        sink.discard()
        return Media(kind=ref.kind, content_type=got.content_type, size=len(data), source=got.source,
                     data=data, file=ref.file, url=got.url, elapsed=self._clock() - started)

    def _new_sink(self) -> _Sink:
        """A temp file for a download: in the cache (so it can be renamed in), else in the temp dir."""
        cache = self.cache
        if cache is not None:
            try:
                fh, path = cache.new_temp()
                return _Sink(fh, path, self.config.max_file_bytes)
            except OSError as exc:
                self._cache_failed(exc)
        fd, path = tempfile.mkstemp(prefix="qqreliable-media-", suffix=".part")
        return _Sink(os.fdopen(fd, "w+b"), path, self.config.max_file_bytes)

    # -- the direct path ------------------------------------------------------

    def _fail(self, path: str, error: MediaAttemptError) -> MediaAttemptError:
        """Count a failed attempt once (cancelled losers are not failures)."""
        error.path = path
        if not error.counted and error.cause != "cancelled":
            self.stats.attempt_failed(path, error.cause)
        error.counted = True
        return error

    def _url_path(self, ref: MediaRef, url: str, deadline: float, token: CancelToken, path: str,
                  attempts: Optional[int] = None) -> _Got:
        """Download ``url`` with retries and resume; return the validated file."""
        sink = self._new_sink()
        state = _UrlState()
        failures = 0
        budget = attempts or self.config.url_attempts
        earlier: List[MediaAttemptError] = []
        try:
            while True:
                try:
                    content_type = self._download(ref.kind, url, sink, state, deadline, token)
                except MediaAttemptError as exc:
                    error = self._fail(path, exc)
                    if token.cancelled:
                        raise MediaAttemptError(path, "cancelled", "the race was decided") from exc
                    error.earlier, earlier = earlier, earlier + [error]
                    failures += 1
                    if not retryable(error.cause) or failures >= budget:
                        raise  # error is exc (_fail returns it): re-raise it
                    resuming = error.cause in ("cut", "timeout") and sink.size > 0
                    delay = 0.0 if resuming and error.retry_after is None else retry_delay(
                        failures, self.config.backoff, retry_after=error.retry_after,
                        retry_after_max=self.config.retry_after_max)
                    if self._clock() + delay >= deadline:
                        raise  # error is exc: re-raise it
                    if token.wait(delay):
                        raise MediaAttemptError(path, "cancelled", "the race was decided") from error
                    continue
                self.stats.add(resumes=state.resumes, restarts=state.restarts)
                return _Got(sink, content_type, "url" if path == "url" else "api", url)
        except BaseException:
            sink.discard()
            raise

    def _download(self, kind: str, url: str, sink: _Sink, state: _UrlState, deadline: float,
                  token: CancelToken) -> str:
        """One GET (resuming when ``sink`` holds a prefix); raises MediaAttemptError."""
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise MediaAttemptError("url", "deadline", "no time left")
        offset = sink.size
        # A read timeout cut short to the time left fires at the deadline: that is the
        # deadline, not a slow server (and not worth another attempt).
        capped = remaining < self.config.read_timeout

        def cause_of(exc: DownloadError) -> str:
            if token.cancelled:
                return "cancelled"
            return "deadline" if capped and exc.cause == "timeout" else exc.cause

        try:
            resp = self._transport().get(
                url, read_timeout=min(self.config.read_timeout, remaining), offset=offset,
                if_range=state.validator, connect_timeout=min(self.config.connect_timeout, remaining))
        except DownloadError as exc:
            raise MediaAttemptError("url", cause_of(exc), str(exc)) from exc
        with resp:
            status = resp.status
            headers = resp.headers
            content_type = headers.get("Content-Type")
            if offset and status == 206:
                start, total = _content_range(headers.get("Content-Range"))
                if start != offset:
                    sink.reset()
                    state.restarts += 1
                    raise MediaAttemptError("url", "cut", f"asked to resume at {offset}, got bytes from {start}")
                state.resumes += 1
                expected = total
            else:
                if offset and 200 <= status < 300:
                    sink.reset()  # the server ignored Range (or the file changed): start over
                    state.restarts += 1
                expected = _int(headers.get("Content-Length"))
            if not 200 <= status < 300:
                body = b""
                try:
                    for chunk in resp.chunks(4096):
                        body += chunk
                        if len(body) >= 4096:
                            break
                except DownloadError:
                    pass
                _, cause = judge(kind, status=status, content_type=content_type, head=body, tail=body[-_TAIL:],
                                 size=len(body), expected_size=None)
                if status == 416:
                    sink.reset()
                    state.restarts += 1
                    cause = "range"
                raise MediaAttemptError("url", cause or f"http_{status}", f"HTTP {status} from the media host",
                                        retry_after=parse_retry_after(headers.get("Retry-After")))
            if expected is not None and expected > self.config.max_file_bytes:
                raise MediaAttemptError(
                    "url", "too_large", f"{expected} bytes announced, cap {self.config.max_file_bytes}"
                )
            etag = headers.get("ETag")
            state.validator = etag if etag and not etag.startswith("W/") else headers.get("Last-Modified")
            state.expected = expected
            try:
                for chunk in resp.chunks():
                    sink.write(chunk)
                    if token.cancelled:
                        raise MediaAttemptError("url", "cancelled", "the race was decided")
                    if self._clock() > deadline:
                        raise MediaAttemptError("url", "deadline", "the download outlived the deadline")
            except DownloadError as exc:
                raise MediaAttemptError("url", cause_of(exc), str(exc)) from exc
        if expected is not None and sink.size < expected:
            raise MediaAttemptError("url", "cut", f"got {sink.size} of {expected} bytes")
        mime, cause = judge(kind, status=status, content_type=content_type, head=sink.head, tail=sink.tail,
                            size=sink.size, expected_size=expected)
        if cause is not None:
            sink.reset()
            raise MediaAttemptError("url", cause, f"the body is not a valid {kind} ({cause})")
        assert mime is not None
        return mime

    # -- the API path ---------------------------------------------------------

    def _api_path(self, ref: MediaRef, deadline: float, token: CancelToken) -> _Got:
        options = {"record_format": self.config.record_format}
        if token.cancelled:  # decided while this waited for a pool thread
            raise MediaAttemptError("api", "cancelled", "the race was decided before the action was asked")
        if self.config.api_delay > 0 and token.wait(self.config.api_delay):
            raise MediaAttemptError("api", "cancelled", "the race was decided before the action was asked")
        failures = 0
        earlier: List[MediaAttemptError] = []
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                error = self._fail("api", MediaAttemptError("api", "deadline", "no time left"))
                error.earlier = earlier
                raise error
            try:
                values = self.api.ask(ref, remaining, options)
                return self._resolve(ref, values, deadline, token)
            except MediaAttemptError as exc:
                error = self._fail("api", exc)
            except Error as exc:
                if token.cancelled:
                    raise MediaAttemptError("api", "cancelled", "the race was decided") from exc
                error = self._fail("api", MediaAttemptError("api", self.api.cause(exc), str(exc)))
                error.__cause__ = exc
            if token.cancelled:
                raise MediaAttemptError("api", "cancelled", "the race was decided") from error
            error.earlier, earlier = earlier + error.earlier, earlier + error.earlier + [error]
            failures += 1
            if not retryable(error.cause) or failures >= self.config.api_attempts:
                raise error
            delay = retry_delay(failures, self.config.backoff, retry_after=error.retry_after,
                                retry_after_max=self.config.retry_after_max)
            if self._clock() + delay >= deadline:
                raise error
            if token.wait(delay):
                raise MediaAttemptError("api", "cancelled", "the race was decided") from error

    def _resolve(self, ref: MediaRef, values: List[str], deadline: float, token: CancelToken) -> _Got:
        """Turn what the API handed out into a validated file.

        Answers come as ``base64://``, a local path (readable only when we share a
        file system with the server), or a fresh URL; each is tried.
        """
        action = self.api.describe(ref.kind)
        values = [v for v in values if isinstance(v, str) and v]
        problems: List[str] = []
        for value in values:
            if value.startswith("base64://"):
                return self._from_base64(ref, value[len("base64://"):])
        for value in values:
            path = value[len("file://"):] if value.startswith("file://") else value
            if is_http_url(path) or value.startswith("base64://"):
                continue
            if os.path.isfile(path):
                try:
                    return self._from_path(ref, path)
                except OSError as exc:
                    problems.append(f"{path}: {exc}")
            else:
                problems.append(f"{path}: not readable here")
        for value in values:
            if is_http_url(value):
                return self._url_path(ref, value.strip(), deadline, token, "api", attempts=1)
        raise MediaAttemptError(
            "api", "api_no_file", f"{action} gave nothing usable ({'; '.join(problems) or 'no file'})"
        )

    def _check(self, ref: MediaRef, sink: _Sink) -> str:
        mime, cause = judge(ref.kind, status=0, content_type=None, head=sink.head, tail=sink.tail,
                            size=sink.size, expected_size=None)
        if cause is not None:
            raise MediaAttemptError("api", cause, f"the file is not a valid {ref.kind} ({cause})")
        assert mime is not None
        return mime

    def _from_base64(self, ref: MediaRef, text: str) -> _Got:
        sink = self._new_sink()
        try:
            try:
                raw = base64.b64decode(text, validate=False)
            except (binascii.Error, ValueError) as exc:
                raise MediaAttemptError("api", "bad_base64", str(exc)) from exc
            for i in range(0, len(raw), 1 << 20):
                sink.write(raw[i : i + (1 << 20)])
            return _Got(sink, self._check(ref, sink), "api")
        except BaseException:
            sink.discard()
            raise

    def _from_path(self, ref: MediaRef, path: str) -> _Got:
        sink = self._new_sink()
        try:
            with open(path, "rb") as fh:
                while True:
                    chunk = fh.read(1 << 20)
                    if not chunk:
                        break
                    sink.write(chunk)
            return _Got(sink, self._check(ref, sink), "api")
        except BaseException:
            sink.discard()
            raise


def _discard(got: Any) -> None:
    if isinstance(got, _Got):
        got.sink.discard()


def _read_small(path: str, size: int) -> Optional[bytes]:
    if size > _EAGER_READ:
        return None
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def _int(value: Optional[str]) -> Optional[int]:
    try:
        number = int(value) if value is not None else None
    except ValueError:
        return None
    return number if number is None or number >= 0 else None


def _content_range(value: Optional[str]) -> Tuple[Optional[int], Optional[int]]:
    """``bytes 100-199/200`` → ``(100, 200)``; unknown parts are None."""
    if not value or not value.lower().startswith("bytes "):
        return None, None
    spec, _, total = value[6:].partition("/")
    start = _int(spec.partition("-")[0].strip())
    return start, (_int(total.strip()) if total.strip() != "*" else None)
