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

The clock, the HTTP call and the wait are injected, so this is pure logic.
Thread-safe.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Optional, Tuple, TypeVar

from ..exceptions import AuthenticationError, BotStopped, NetworkError, ProtocolError
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
            token = self._refresh()
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
