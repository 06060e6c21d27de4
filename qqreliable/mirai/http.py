"""mirai-api-http's HTTP adapter: sessions, calls and the polling loop (:class:`MiraiHttp`).

* Session: ``/verify`` (code 1: :class:`~qqreliable.AuthenticationError`,
  never retried), then ``/bind`` (skipped in singleMode; code 2, the account
  not logged in yet: retried with backoff). The key goes in the ``sessionKey``
  header of every request.
* Calls: GET commands with the content as query, POST as JSON, uploads as
  multipart. An answer of code 3 or 4 (MAH restarted, the session expired or
  was never bound) was rejected before anything ran: the adapter verifies and
  binds again, then replays the call once.
* Receiving: one polling thread (:meth:`MiraiHttp.run`, started by the
  runtime): ``fetchMessage?count=N``, never two polls at once, the next one
  at once while batches come back full. Code 3/4 on a poll → a new session
  and polling resumes (YiriMirai polls into code 3 for ever). A batch as large
  as MAH's ``unreadQueueMaxSize`` means the queue may have overflowed: logged
  and counted as possible loss (MAH drops overflow silently). HTTP delivery is
  at-most-once (``fetchMessage`` is destructive).
* ``/release`` on stop.

No ``requests`` here: the wire is :class:`~qqreliable.transport.rest.RestClient`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import abc
from typing import Any, Callable, Dict, Iterator, Optional, Tuple, Union

from ..exceptions import (
    AuthenticationError,
    BotStopped,
    ConnectFailed,
    ConnectionLost,
    Error,
    ProtocolError,
)
from ..transport.download import CancelToken, cancel_scope, make_cancellable
from ..transport.rest import RestClient
from .codes import AUTH, OK, classify_handshake
from .commands import command as command_info
from .commands import http_route

__all__ = ["MiraiHttp"]

log = logging.getLogger(__name__)

_POLL_TIMEOUT = 10.0
_LOGIN_TIMEOUT = 10.0


class _NotReady(ConnectFailed):
    """The session could not be made now (MAH not up, account not logged in): retry later."""


class MiraiHttp:
    """One bot's mirai-api-http HTTP adapter. Thread-safe.

    Args:
        url: ``http://host:port`` of MAH.
        verify_key: MAH's ``verifyKey`` (None: verification off).
        qq: the bot account.
        single_mode: MAH's ``singleMode`` (no bind, no session key needed).
        on_event: ``on_event(obj)`` for each polled event (poller thread; must not block).
        on_session: called when a session works (connected).
        on_lost: ``on_lost(self, reason)`` when a working session stopped working.
        stopping: the bot's stop Event.
        fail: reports a final error (wrong key, budget spent) to the owner.
        backoff: between failed attempts to make a session.
        poll_interval: seconds between polls (a full batch is followed at once).
        poll_count: events asked for per poll.
        unread_queue_max_size: MAH's ``unreadQueueMaxSize``: a batch this large
            may mean MAH dropped events.
    """

    via = "http"

    def __init__(
        self,
        url: str,
        *,
        verify_key: Optional[str],
        qq: int,
        single_mode: bool = False,
        on_event: Callable[[Dict[str, Any]], None],
        on_session: Callable[[], None],
        on_lost: Callable[[Any, str], None],
        stopping: threading.Event,
        fail: Callable[[BaseException], None],
        backoff: Any,
        poll_interval: float = 0.5,
        poll_count: int = 100,
        unread_queue_max_size: int = 100,
        connect_timeout: float = 5.0,
        verify_tls: Union[bool, str] = True,
        pool_size: int = 12,
    ) -> None:
        if poll_interval <= 0 or poll_count < 1:
            raise ValueError("poll_interval must be positive and poll_count at least 1")
        self.url = url.rstrip("/")
        self.verify_key = verify_key or ""
        self.qq = int(qq)
        self.single_mode = single_mode
        self._on_event = on_event
        self._on_session = on_session
        self._on_lost = on_lost
        self._stopping = stopping
        self._fail = fail
        self.backoff = backoff
        self.poll_interval = poll_interval
        self.poll_count = poll_count
        self.unread_queue_max_size = unread_queue_max_size
        self._rest = RestClient(self.url, pool_size=pool_size, connect_timeout=connect_timeout, verify=verify_tls)
        make_cancellable(self._rest.session)  # stop() aborts a poll MAH never answers
        self._poll_token: Optional[CancelToken] = None
        self._login_lock = threading.Lock()
        self._lock = threading.Lock()
        self._session: Optional[str] = None
        self._generation = 0
        self._working = False
        self._fatal: Optional[BaseException] = None
        # counters
        self.sessions = 0
        self.polls = 0
        self._answered_polls = 0  # polls answered with events (code 0)
        self.poll_errors = 0
        self.events = 0
        self.replays = 0
        self.possible_loss = 0
        self.last_lost_reason: Optional[str] = None

    # -- state ---------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._working

    def stats(self) -> Dict[str, Any]:
        return {
            "url": self.url,
            "connected": self._working,
            "sessions": self.sessions,
            "polls": self.polls,
            "poll_errors": self.poll_errors,
            "events": self.events,
            "replays": self.replays,
            "possible_loss": self.possible_loss,
            "last_lost_reason": self.last_lost_reason,
        }

    # -- sessions ------------------------------------------------------------

    def _post_json(self, path: str, body: Dict[str, Any], timeout: float) -> Any:
        answer = self._rest.checked("POST", path, body, timeout=timeout, name=path.strip("/"))
        return self._body(path.strip("/"), answer)

    def _body(self, name: str, answer: Any) -> Any:
        if answer.status == 404:
            raise _NotReady(f"{name}: {self.url} answered HTTP 404: not mirai-api-http 2.x with the http adapter?")
        if answer.status != 200:
            raise _NotReady(f"{name}: {self.url} answered HTTP {answer.status}")
        if answer.body is None:
            raise ProtocolError(f"{name}: the answer of {self.url} is not JSON: {answer.text()!r}")
        return answer.body

    def _login(self, timeout: float) -> Tuple[str, int]:
        """Verify and bind a new session; return (key, generation).

        Raises:
            AuthenticationError: code 1 / 400 (final).
            _NotReady: MAH not up, account not logged in: retry later.
            ConnectFailed, ResponseLost, ProtocolError: the wire failed.
        """
        verify = self._post_json("/verify", {"verifyKey": self.verify_key}, timeout)
        verdict = classify_handshake(verify)
        if verdict.kind == AUTH:
            raise AuthenticationError(f"mirai-api-http /verify: {verdict.describe()}: check verify_key=",
                                      status=verdict.code)
        if verdict.kind != OK or not isinstance(verify.get("session"), str):
            raise _NotReady(f"mirai-api-http /verify: {verdict.describe()}")
        key: str = verify["session"]
        if not self.single_mode:
            bound = self._post_json("/bind", {"sessionKey": key, "qq": self.qq}, timeout)
            verdict = classify_handshake(bound)
            if verdict.kind == AUTH:
                raise AuthenticationError(f"mirai-api-http /bind: {verdict.describe()}", status=verdict.code)
            if verdict.kind != OK:
                what = "not logged in to mirai (yet)" if verdict.code == 2 else "could not be bound"
                raise _NotReady(f"mirai-api-http /bind: {verdict.describe()}: bot {self.qq} {what}")
        with self._lock:
            self._session = key
            self._generation += 1
            generation = self._generation
        self.sessions += 1
        log.info("mirai-api-http session %d made at %s", generation, self.url)
        return key, generation

    def _current(self, timeout: float) -> Tuple[str, int]:
        """The session to use, made now if there is none (one login at a time)."""
        with self._lock:
            if self._session is not None:
                return self._session, self._generation
            seen = self._generation
        with self._login_lock:
            with self._lock:
                if self._session is not None and self._generation != seen:
                    return self._session, self._generation
            if self._stopping.is_set():
                raise BotStopped("the bot is stopping")
            return self._login(timeout)

    def _invalidate(self, generation: int) -> None:
        with self._lock:
            if self._generation == generation:
                self._session = None

    # -- calls ---------------------------------------------------------------

    def _request(self, command: str, sub_command: Optional[str], content: Dict[str, Any], key: str,
                 timeout: float) -> Any:
        method, path = http_route(command, sub_command)
        headers = {"sessionKey": key} if not self.single_mode else {}
        info = command_info(command, sub_command)
        if info is not None and info.multipart:
            form: Dict[str, str] = {}
            files: Dict[str, Tuple[str, bytes, str]] = {}
            for name, value in content.items():
                if isinstance(value, (bytes, bytearray, memoryview)):
                    files[name] = (name, bytes(value), "application/octet-stream")
                elif isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], (bytes, bytearray)):
                    files[name] = (str(value[0]), bytes(value[1]), "application/octet-stream")
                elif value is not None:
                    form[name] = str(value)
            answer = self._rest.checked("POST", path, timeout=timeout, form=form, files=files, headers=headers,
                                        name=command)
        elif method == "GET":
            params = {k: _query_value(v) for k, v in content.items() if v is not None}
            answer = self._rest.checked("GET", path, timeout=timeout, params=params, headers=headers, name=command)
        else:
            answer = self._rest.checked("POST", path, content, timeout=timeout, headers=headers, name=command)
        if answer.status == 404:
            raise ProtocolError(f"{command}: {self.url}{path} answered HTTP 404 (not a mirai-api-http 2.x route)")
        if answer.body is None:
            raise ProtocolError(f"{command}: the answer of {self.url} is not JSON: {answer.text()!r}")
        return answer.body

    def call(self, command: str, sub_command: Optional[str], content: Dict[str, Any], timeout: float) -> Any:
        """One call; the answer object as MAH sent it (classification is the caller's).

        A code 3/4 answer (session gone or unbound: nothing ran) makes a new
        session and replays the call once.

        Raises:
            ConnectFailed: no session could be made, or nothing reached MAH.
            ResponseLost, ApiTimeout: the request may have run.
            AuthenticationError: the verifyKey is wrong.
            ProtocolError: MAH answered something that is not its JSON.
            BotStopped: the bot is stopping.
        """
        if self._fatal is not None:
            raise self._fatal
        deadline = time.monotonic() + timeout
        key, generation = self._session_for(command, timeout)
        answer = self._request(command, sub_command, content, key, timeout)
        code = answer.get("code") if isinstance(answer, abc.Mapping) else None
        if code in (3, 4) and not self.single_mode:
            log.warning("%s: mirai-api-http answered code %s (session gone): new session, replaying once",
                        command, code)
            self._invalidate(generation)
            self.replays += 1
            remaining = max(1.0, deadline - time.monotonic())
            key, generation = self._session_for(command, remaining)
            answer = self._request(command, sub_command, content, key, remaining)
        return answer

    def _session_for(self, command: str, timeout: float) -> Tuple[str, int]:
        try:
            return self._current(min(timeout, _LOGIN_TIMEOUT))
        except _NotReady as exc:
            raise ConnectFailed(f"{command}: no mirai-api-http session: {exc}") from exc

    # -- polling (the runtime's thread) ----------------------------------------

    def run(self) -> None:
        """Make sessions and poll until the bot stops or an error is final."""
        failures = 0
        while not self._stopping.is_set():
            try:
                with self._cancellable():
                    key, generation = self._current(_LOGIN_TIMEOUT)
            except AuthenticationError as exc:
                self._give_up(exc)
                return
            except BotStopped:
                return
            except Error as exc:
                failures += 1
                if not self._wait_retry(failures, f"cannot make a mirai-api-http session at {self.url}: {exc}"):
                    return
                continue
            answered_before = self._answered_polls
            reason = self._poll_session(key, generation)
            if self._stopping.is_set():
                return
            self._lost(reason)
            worked = self._answered_polls > answered_before
            if worked:
                failures = 0  # it worked for a while: a fresh count
            if worked and reason.startswith("code"):
                continue  # the session is gone (MAH restarted): a new one at once
            failures += 1
            if not self._wait_retry(failures, f"mirai-api-http polling failed: {reason}"):
                return

    @contextlib.contextmanager
    def _cancellable(self) -> Iterator[None]:
        """The poller's requests inside can be aborted by :meth:`close`."""
        token = CancelToken()
        with self._lock:
            self._poll_token = token
        try:
            if self._stopping.is_set():
                raise BotStopped("the bot is stopping")
            with cancel_scope(token):
                yield
        finally:
            with self._lock:
                self._poll_token = None

    def _poll_session(self, key: str, generation: int) -> str:
        """Poll with one session until it stops working; return why."""
        while not self._stopping.is_set():
            try:
                with self._cancellable():
                    answer = self._request("fetchMessage", None, {"count": self.poll_count}, key, _POLL_TIMEOUT)
            except Error as exc:
                self.poll_errors += 1
                return f"{type(exc).__name__}: {exc}"
            self.polls += 1
            code = answer.get("code") if isinstance(answer, abc.Mapping) else None
            if code in (3, 4):
                self._invalidate(generation)
                return f"code {code} (the session is gone: MAH restarted?)"
            if code != 0:
                self.poll_errors += 1
                return f"fetchMessage answered {answer!r}"[:200]
            self._answered_polls += 1
            if not self._working:
                self._working = True
                self._on_session()
            batch = answer.get("data")
            if not isinstance(batch, list):
                self.poll_errors += 1
                return "fetchMessage answered no event list"
            for obj in batch:
                if isinstance(obj, dict):
                    self.events += 1
                    self._on_event(obj)
            if len(batch) >= self.unread_queue_max_size:
                self.possible_loss += 1
                log.warning(
                    "mirai-api-http returned a full unread queue (%d events): it may have dropped events "
                    "(raise unreadQueueMaxSize, poll more often, or use the WebSocket adapter)", len(batch))
            if len(batch) < self.poll_count and self._stopping.wait(self.poll_interval):
                break
        return "bot stopped"

    def _lost(self, reason: str) -> None:
        self.last_lost_reason = reason
        if self._working:
            self._working = False
            log.warning("mirai-api-http session at %s lost: %s", self.url, reason)
            self._on_lost(self, reason)

    def _wait_retry(self, failures: int, why: str) -> bool:
        if self.backoff.exhausted(failures):
            self._give_up(ConnectionLost(f"{why}; giving up after {failures} consecutive failed attempts"))
            return False
        delay = self.backoff.delay(failures)
        level = logging.WARNING if failures <= 1 or failures % 10 == 0 else logging.DEBUG
        log.log(level, "%s; retrying in %.2fs (attempt %d)", why, delay, failures)
        return not self._stopping.wait(delay)

    def _give_up(self, exc: BaseException) -> None:
        self._fatal = exc
        log.error("%s", exc)
        self._fail(exc)

    # -- shutdown --------------------------------------------------------------

    def close(self, timeout: float = 2.0) -> None:
        """``/release`` the session (best effort, bounded), then close the pool."""
        with self._lock:
            key, self._session = self._session, None
            token = self._poll_token
        if token is not None:
            token.cancel()  # the poller's request, if MAH is not answering it
        self._working = False
        if key is not None and not self.single_mode and timeout > 0:
            try:
                self._post_json("/release", {"sessionKey": key, "qq": self.qq}, timeout)
            except Error as exc:
                log.debug("could not release the mirai-api-http session: %s", exc)
        self._rest.close()


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return value
