"""The AccessToken: fetched, cached, refreshed in its last minute by one caller for all.

``POST {token_url}`` with ``{"appId", "clientSecret"}`` answers
``{"access_token": "...", "expires_in": "7200"}`` (qq-official.md §1.2):

* ``expires_in`` is a **string** (and the *remaining* lifetime when the token is
  asked for again): parsed with ``int(str(v))``, the expiry recomputed from every
  answer.
* A new token is only handed out in the last 60 s of the old one, so the
  manager refreshes inside that margin; a tiny ``expires_in`` never makes it
  spin (one fetch per ``min_interval`` at most while the old token still works).
* One caller fetches, the others wait for its result (single flight).
* HTTP 401 / code 11244 on any API call: :meth:`TokenManager.invalidate` with
  the token that failed, and the call is replayed once (:meth:`call`).
* 100001 "Too many requests": backed off (the old token is used meanwhile if it
  is still valid); a wrong app id or secret (100016, 100007, 10004, 401/403):
  :class:`~qqreliable.AuthenticationError`, never retried.

The dead fixed ``Bot {appid}.{token}`` credential is never built here.

**One refresh for the fleet** (:meth:`TokenManager.share`, with a bot's ``store=``):
the token is kept in the store under ``token:<app_id>`` with its remaining
lifetime as the key's TTL. A process whose own copy is due looks there first and
adopts a token another process fetched. When the shared one is due too, the
process that takes the refresh lock (``SET NX PX`` with its identity, released by
compare-and-delete) fetches and publishes; the others poll the store until the new
token appears. A lock whose holder died expires after ``lock_ttl`` and the next
process takes it; one still held after ``lock_ttl`` plus a fetch's ``timeout``
is ignored and the waiter fetches by itself. A token the API refused (401 /
11244) is deleted from the store only while it is still the shared one, so a
fleet of refusals of one old token costs one refresh. While the store is
unreachable it serves this process's own state (the store's degraded mode):
each process fetches for itself, as without a store.

The clock, the HTTP call and the wait are injected, so this is pure logic.
Thread-safe.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Optional, Tuple, TypeVar

from ..exceptions import AuthenticationError, BotStopped, NetworkError, ProtocolError
from ..reliability.shared import process_owner
from .codes import Kind, OfficialApiError, classify

__all__ = ["TokenManager", "Fetch", "parse_expires_in"]

log = logging.getLogger(__name__)

#: ``fetch(url, json_body, timeout) -> (status, decoded body or None, headers)``;
#: raises :class:`~qqreliable.NetworkError` when no answer came.
Fetch = Callable[[str, dict, float], Tuple[int, Any, dict]]
T = TypeVar("T")


def parse_expires_in(value: Any) -> int:
    """``expires_in`` as an int of seconds (it arrives as a string).

    Raises:
        ProtocolError: not a number.
    """
    if isinstance(value, bool):
        raise ProtocolError(f"getAppAccessToken: expires_in is not a number: {value!r}")
    try:
        seconds = int(float(str(value).strip()))
    except (TypeError, ValueError):
        raise ProtocolError(f"getAppAccessToken: expires_in is not a number: {value!r}") from None
    return max(0, seconds)


class TokenManager:
    """The access token of one bot (one ``app_id``), shared by every thread.

    Args:
        app_id: the bot's AppID.
        secret: the bot's AppSecret (never logged).
        token_url: the ``getAppAccessToken`` URL.
        fetch: the HTTP call (see :data:`Fetch`).
        clock: a monotonic clock.
        wait: ``wait(seconds) -> stopped``; True ends the wait early (the bot stops).
        margin: refresh this many seconds before expiry (the platform only gives a
            new token in the last 60 s).
        min_interval: never fetch more often than this while the current token works.
        timeout: seconds per fetch.
        attempts: fetches before a transient failure is raised.
        backoff: first wait after a failed fetch (doubled each time, at most 30 s).
    """

    def __init__(
        self,
        app_id: str,
        secret: str,
        *,
        token_url: str,
        fetch: Fetch,
        clock: Callable[[], float] = time.monotonic,
        wait: Optional[Callable[[float], bool]] = None,
        margin: float = 60.0,
        min_interval: float = 5.0,
        timeout: float = 10.0,
        attempts: int = 5,
        backoff: float = 1.0,
    ) -> None:
        if not app_id or not secret:
            raise AuthenticationError("OfficialBot needs app_id and secret")
        self.app_id = str(app_id)
        self._secret = str(secret)
        self.token_url = token_url
        self._fetch = fetch
        self._clock = clock
        self._wait = wait or _never_stopped
        self.margin = margin
        self.min_interval = min_interval
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self._cond = threading.Condition()
        self._token: Optional[str] = None
        self._expires_at = 0.0
        self._fetched_at: Optional[float] = None
        self._fetching = False
        self._error: Optional[BaseException] = None
        self._attempt = 0
        self._failed_attempt = -1
        self.fetches = 0
        self.refreshes_forced = 0
        self.adopted = 0  # tokens taken from the store (fetched by another process)
        self.waits = 0  # times this process waited for another one's refresh
        self._store: Any = None
        self._key = ""
        self._owner = ""
        self._rejected: Optional[str] = None  # the last token the API refused
        self.lock_ttl = max(5.0, timeout + 2.0)
        self.poll = 0.1

    def share(self, store: Any, *, owner: Optional[str] = None, lock_ttl: Optional[float] = None) -> None:
        """Share the token with every process of this ``app_id`` using ``store`` (a
        :class:`~qqreliable.reliability.store.Store`): one of them refreshes it for all.

        Args:
            store: the shared store (call before the first :meth:`token`).
            owner: this process's identity in the refresh lock (default: host, pid, random).
            lock_ttl: seconds the refresh lock lives: how long a dead refresher
                delays the others (default: the fetch timeout + 2 s, at least 5 s).
        """
        self._store = store
        self._key = f"token:{self.app_id}"
        self._owner = owner or process_owner()
        if lock_ttl is not None:
            if lock_ttl <= 0:
                raise ValueError("lock_ttl must be positive")
            self.lock_ttl = float(lock_ttl)

    def __repr__(self) -> str:  # never the secret nor the token
        return f"TokenManager(app_id={self.app_id!r}, valid_for={self.valid_for():.0f}s)"

    # ------------------------------------------------------------------ state

    def valid_for(self) -> float:
        """Seconds the cached token stays valid (0 when there is none)."""
        with self._cond:
            if self._token is None:
                return 0.0
            return max(0.0, self._expires_at - self._clock())

    def refresh_in(self) -> float:
        """Seconds until the token should be refreshed (0: now); for a background refresher."""
        with self._cond:
            if self._token is None:
                return 0.0
            due = self._expires_at - self.margin
            if self._fetched_at is not None:
                due = max(due, self._fetched_at + self.min_interval)
            return max(0.0, due - self._clock())

    def _usable(self, now: float) -> bool:
        return self._token is not None and now < self._expires_at

    def _fresh(self, now: float) -> bool:
        if not self._usable(now):
            return False
        if now < self._expires_at - self.margin:
            return True
        # In the last minute: refresh, but not more often than min_interval.
        return self._fetched_at is not None and now < self._fetched_at + self.min_interval

    # ------------------------------------------------------------------ API

    def token(self) -> str:
        """A valid access token, fetching one first when needed.

        Blocks while another thread fetches (single flight). Thread-safe.

        Raises:
            AuthenticationError: the app id or secret is wrong (never retried).
            NetworkError: the token endpoint could not be reached, every attempt.
            BotStopped: the wait was interrupted.
        """
        with self._cond:
            while True:
                now = self._clock()
                if self._fresh(now):
                    return self._token  # type: ignore[return-value]
                if not self._fetching:
                    self._fetching = True
                    self._attempt += 1
                    break
                if self._usable(now):
                    return self._token  # type: ignore[return-value]  # being refreshed; still valid
                attempt = self._attempt
                while self._fetching and self._attempt == attempt:
                    self._cond.wait(1.0)
                if self._failed_attempt == attempt and self._error is not None:
                    # The fetch we waited for failed: share its outcome, do not fetch again.
                    if self._usable(self._clock()) and not isinstance(self._error, AuthenticationError):
                        return self._token  # type: ignore[return-value]
                    raise self._error
        try:
            token = self._obtain()
        except BaseException as exc:
            with self._cond:
                self._fetching = False
                self._error = exc
                self._failed_attempt = self._attempt
                self._cond.notify_all()
                usable = self._usable(self._clock())
            if usable and not isinstance(exc, AuthenticationError):
                log.warning("access token refresh failed (%s); the current token is still valid", exc)
                return self._token  # type: ignore[return-value]
            raise
        with self._cond:
            self._fetching = False
            self._error = None
            self._cond.notify_all()
        return token

    def authorization(self) -> str:
        """The ``Authorization`` header value: ``QQBot <access_token>``."""
        return f"QQBot {self.token()}"

    def invalidate(self, token: Optional[str] = None) -> None:
        """Forget the cached token (the API said 401 / 11244 for it).

        With ``token``, only when it is still the cached one: many calls failing
        with the same old token cause one refresh, not many.
        """
        with self._cond:
            if token is not None and token != self._token:
                return
            if self._token is not None:
                self.refreshes_forced += 1
                # The shared copy is deleted by the next token() (a reader thread may
                # call this: no store round trip here).
                self._rejected = self._token
            self._token = None
            self._expires_at = 0.0

    def call(self, fn: Callable[[str], T]) -> T:
        """Run ``fn(authorization)``; on a token refusal refresh at once and replay once.

        ``fn`` signals a refusal by raising :class:`OfficialApiError` of kind
        ``TOKEN`` (401 / 11244). A second refusal is raised as
        :class:`~qqreliable.AuthenticationError`.
        """
        token = self.token()
        try:
            return fn(f"QQBot {token}")
        except OfficialApiError as exc:
            if exc.kind is not Kind.TOKEN:
                raise
            log.info("access token refused (%s); refreshing and replaying once", exc)
            self.invalidate(token)
        token = self.token()
        try:
            return fn(f"QQBot {token}")
        except OfficialApiError as exc:
            if exc.kind is not Kind.TOKEN:
                raise
            raise AuthenticationError(
                f"the API refused a fresh access token too: {exc}", status=exc.http_status
            ) from exc

    # ------------------------------------------------------------------ fetching

    def _obtain(self) -> str:
        """A new token: fetched here, or (shared) adopted from the store / another process."""
        if self._store is None:
            return self._refresh()
        store = self._store
        rejected = self._rejected
        if rejected is not None:
            store.release(self._key, rejected)  # only while it is still the shared one
            store.release(self._key + ":fresh", rejected)
            with self._cond:
                if self._rejected == rejected:
                    self._rejected = None
        deadline: Optional[float] = None
        while True:
            adopted = self._adopt(rejected)
            if adopted is not None:
                return adopted
            lock = self._key + ":lock"
            if store.claim(lock, self._owner, self.lock_ttl):
                try:
                    adopted = self._adopt(rejected)  # published while we took the lock
                    if adopted is not None:
                        return adopted
                    token = self._refresh()
                    self._publish(token)
                    return token
                finally:
                    store.release(lock, self._owner)
            now = self._clock()
            if deadline is None:
                self.waits += 1
                deadline = now + self.lock_ttl + self.timeout
                log.info("access token: another process is refreshing it; waiting for its result")
            elif now >= deadline:
                log.warning(
                    "access token: the process refreshing it published nothing in %.0fs; fetching it here",
                    self.lock_ttl + self.timeout,
                )
                token = self._refresh()
                self._publish(token)
                return token
            if self._wait(self.poll):
                raise BotStopped("stopped while waiting for another process's access token")

    def _adopt(self, rejected: Optional[str]) -> Optional[str]:
        """The shared token when it is usable and not due (or fetched just now): cached here."""
        found = self._store.peek(self._key)
        if found is None:
            return None
        token, ttl = found
        if not token or token == rejected or ttl <= 0:
            return None
        if ttl <= self.margin and self._store.get(self._key + ":fresh") != token:
            return None  # due: refresh it (one process, under the lock)
        now = self._clock()
        with self._cond:
            self._token = token
            self._expires_at = now + min(ttl, 10 * 365 * 86400.0)
            self._fetched_at = now  # in its last minute: not asked again before min_interval
        self.adopted += 1
        log.debug("access token for app %s taken from the store, valid for %.0fs", self.app_id, ttl)
        return token

    def _publish(self, token: str) -> None:
        with self._cond:
            ttl = self._expires_at - self._clock() if self._token == token else 0.0
        if ttl > 0:
            self._store.put(self._key, token, ttl)
            # Fetched just now: in its last minute it is still the newest (no refetch loop).
            self._store.put(self._key + ":fresh", token, min(self.min_interval, ttl))

    def _refresh(self) -> str:
        delay = self.backoff
        last: Optional[BaseException] = None
        for attempt in range(1, self.attempts + 1):
            try:
                return self._fetch_once()
            except (AuthenticationError, ProtocolError):
                raise
            except _RateLimited as exc:
                last = exc
                wait = exc.retry_after if exc.retry_after is not None else delay
            except NetworkError as exc:
                last = exc
                wait = delay
            if attempt == self.attempts:
                break
            with self._cond:
                if self._usable(self._clock()):
                    raise last  # the old token still works: do not block the caller
            log.warning("access token fetch failed (%s); retrying in %.1fs", last, wait)
            if self._wait(wait):
                raise BotStopped("stopped while waiting to fetch the access token") from last
            delay = min(30.0, delay * 2)
        assert last is not None
        if isinstance(last, _RateLimited):
            raise NetworkError(f"getAppAccessToken kept answering 'too many requests': {last}") from last
        raise last

    def _fetch_once(self) -> str:
        self.fetches += 1
        started = self._clock()
        status, body, headers = self._fetch(
            self.token_url, {"appId": self.app_id, "clientSecret": self._secret}, self.timeout
        )
        obj = body if isinstance(body, dict) else {}
        token = obj.get("access_token")
        if 200 <= status < 300 and isinstance(token, str) and token:
            expires_in = parse_expires_in(obj.get("expires_in", 0))
            with self._cond:
                self._token = token
                self._expires_at = started + expires_in
                self._fetched_at = started
            log.debug("access token fetched for app %s, valid for %ss", self.app_id, expires_in)
            return token
        answer = classify(status, body, headers)
        if answer.kind is Kind.RATE_LIMITED or status == 429:
            raise _RateLimited(f"getAppAccessToken: {answer.code} {answer.message}".strip(), answer.retry_after)
        if answer.kind in (Kind.AUTH, Kind.TOKEN) or status in (401, 403):
            raise AuthenticationError(
                f"getAppAccessToken refused app_id {self.app_id}: "
                f"{answer.code or status} {answer.message or 'wrong app_id or secret'}",
                status=status,
            )
        if status >= 500 or answer.kind in (Kind.RETRY, Kind.UNKNOWN):
            raise _Transient(f"getAppAccessToken answered HTTP {status} {answer.message}".strip())
        if 200 <= status < 300:
            raise ProtocolError(f"getAppAccessToken answered without an access_token: {answer.code} {answer.message}")
        raise AuthenticationError(
            f"getAppAccessToken answered HTTP {status}: {answer.code} {answer.message}".strip(), status=status
        )


class _RateLimited(NetworkError):
    sent = False

    def __init__(self, message: str, retry_after: Optional[float]) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Transient(NetworkError):
    sent = False


def _never_stopped(seconds: float) -> bool:
    threading.Event().wait(seconds)
    return False
