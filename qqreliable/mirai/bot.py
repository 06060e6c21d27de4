"""The mirai-api-http v2 facade: :class:`MiraiBot`.

``MiraiBot("ws://host:port", verify_key=..., qq=...)`` speaks the WebSocket
adapter (``/all``): the transport's reconnecting :class:`~qqreliable.transport.ws.WsClient`
with :class:`~.codec.MiraiCodec` (a fresh session on every connection,
WebSocket pings for liveness, pending calls failed at once when the socket
drops). ``MiraiBot("http://host:port", ...)`` speaks the HTTP adapter
(:mod:`.http`: verify, bind, one ``fetchMessage`` polling thread, re-verify
and replay on codes 3/4, ``/release`` on stop).

Events arrive on the transport's reader thread, become :class:`~.events.Event`
objects, are de-duplicated by ``(chat, messageId)`` and queued for the
runtime's handler pool (:class:`~qqreliable.runtime.base.BotBase`). Sends go
through the reliability layer's :class:`~qqreliable.reliability.verify.SendPipeline`
with :class:`~.sends.MiraiSends`: ``messageId -1`` raises
:class:`~qqreliable.NotDelivered`, a 500 or a lost answer is verified through
``roamingMessages`` before any resend, else :class:`~qqreliable.SendUnconfirmed`.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections import abc
from collections.abc import Mapping
from typing import Any, Callable, Dict, FrozenSet, Hashable, List, Optional, Tuple, TypeVar, Union
from urllib.parse import unquote, urlsplit, urlunsplit

from ..exceptions import (
    ActionFailed,
    ApiNotAvailable,
    AuthenticationError,
    ApiTimeout,
    MediaUnavailable,
    NotDelivered,
    ProtocolError,
    RateLimited,
    ResponseLost,
)
from ..outcome import Category
from ..receipt import Receipt
from ..reliability import Backoff, Liveness
from ..reliability.dedupe import Deduper
from ..reliability.gapfill import ChatTracker, GapFiller
from ..reliability.media import Media, MediaConfig, MediaFetcher
from ..reliability.outbound import MediaPreparer, OutboundMedia
from ..reliability.sendpolicy import Pacing, SendPolicy
from ..reliability.verify import SendPipeline, attribute_of
from ..runtime.base import BotBase
from ..runtime.options import COMMON_OPTIONS, check_options, count, flag, seconds, text
from ..runtime.supervisor import IoPool, Periodic
from ..scale import open_queue, open_store
from ..transport.rest import RestClient
from ..transport.ws import WsClient
from .chain import message_to_chain
from .codec import MiraiCodec
from .codes import (
    AUTH,
    NOT_DELIVERED,
    RESEND_WITHOUT_QUOTE,
    RETRY,
    SESSION,
    UNKNOWN,
    Verdict,
    classify,
)
from .commands import (
    Version,
    http_route,
    message_from_id_content,
    parse_version,
    recall_content,
)
from .commands import READ_ONLY as _READ_ONLY
from .commands import command as command_info
from .events import MESSAGE_KINDS, MESSAGE_TYPES, Event, handler_key, reply_route
from .history import MiraiHistory
from .http import MiraiHttp
from .media import MiraiMedia
from .sends import MiraiSends

__all__ = ["MiraiBot", "MIRAI_OPTIONS"]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_CATEGORY_OF_CODE: Dict[int, str] = {
    5: Category.NOT_FOUND,
    6: Category.BAD_REQUEST,
    10: Category.PERMISSION,
    20: Category.PERMISSION,
    30: Category.BAD_REQUEST,
    400: Category.BAD_REQUEST,
}


def event_key(event: Mapping[str, Any]) -> Optional[Tuple[Hashable, ...]]:
    """The de-duplication identity of a MAH event: ``(chat, messageId)`` for messages,
    None for everything else (never dropped). Never raises."""
    try:
        wrapped = event if isinstance(event, Event) else Event(event)
        if not wrapped.is_message:
            return None
        mid = wrapped.message_id
        chat = wrapped.chat
        if mid is None or chat is None:
            return None
        return ("mirai", wrapped.is_self, chat, mid)
    except Exception:  # odd input: never dropped, never fatal
        return None


def _qq(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"{name} must be the bot's QQ number (an int), not {type(value).__name__} {value!r}")
    if isinstance(value, str) and not value.strip().isdigit():
        raise ValueError(f"{name} must be the bot's QQ number, not {value!r}")
    if int(value) <= 0:
        raise ValueError(f"{name} must be the bot's QQ number, not {value!r}")


#: The options of :class:`MiraiBot`, by name (shared ones from the runtime).
MIRAI_OPTIONS: Dict[str, Any] = dict(
    COMMON_OPTIONS,
    url=text(none=False, empty=False, what="a URL string (ws://, wss://, http:// or https://)"),
    verify_key=text(),
    qq=_qq,
    reserved_sync_id=text(none=False, empty=False),
    single_mode=flag(),
    poll_interval=seconds(),
    poll_count=count(minimum=1, what="a whole number of events"),
    unread_queue_max_size=count(minimum=1, what="a whole number of events"),
    recover_chats=count(what="a whole number of chats"),
    recover_window=seconds(),
    recover_page=count(minimum=1, what="a whole number of messages"),
    recover_pages=count(minimum=1, what="a whole number of pages"),
)


def _read_media(source: Any, default_name: str) -> Tuple[bytes, str]:
    """``(bytes, file name)`` of bytes or a local path.

    Raises:
        MediaUnavailable: the path cannot be read.
        TypeError: ``source`` is neither.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), default_name
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if isinstance(path, str) and path.lower().startswith("file://"):
            path = unquote(urlsplit(path).path)
        try:
            with open(path, "rb") as fh:
                return fh.read(), os.path.basename(str(path)) or default_name
        except OSError as exc:
            raise MediaUnavailable(f"cannot read {path!r} to upload it: {exc}", [exc]) from exc
    raise TypeError(f"an upload takes bytes or a path, not {type(source).__name__}")


def _sslopt(verify: Union[bool, str]) -> Optional[Dict[str, Any]]:
    if verify is True:
        return None
    if verify is False:
        return {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
    return {"ca_certs": verify}


def _ws_url(url: str) -> str:
    """``ws://host:port`` → ``ws://host:port/all`` (a path given is kept)."""
    parts = urlsplit(url)
    path = parts.path if parts.path not in ("", "/") else "/all"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _is_message(obj: Mapping[str, Any]) -> bool:
    """Someone's message (``GroupMessage``, ``FriendMessage``, ...): nothing in it for
    the offline watch or the send pipeline (a type that is not a string, from odd
    input, is not one: those go the careful way)."""
    kind = obj.get("type")
    return type(kind) is str and kind in MESSAGE_TYPES


class MiraiBot(BotBase):
    """A mirai-api-http v2 bot with a blocking, thread-safe API.

    Args:
        url: ``ws://host:port`` (WebSocket adapter, ``/all`` appended when no
            path is given) or ``http://host:port`` (HTTP adapter).
        verify_key: MAH's ``verifyKey`` (None when MAH has verification off).
        qq: the bot account logged in to mirai.
        api_timeout: seconds one call may take (sends: one attempt).
        connect_timeout: seconds for TCP + the upgrade + MAH's handshake frame.
        reconnect: the :class:`~qqreliable.Backoff` between connection attempts
            (a MAH that is not up, an account not logged in yet, a dropped
            socket); ``max_attempts`` is the budget, after which ``run()``
            raises :class:`~qqreliable.ConnectionLost` (default: for ever).
        ping_interval: seconds of quiet before a WebSocket ping (MAH has no
            heartbeat of its own); None: never.
        pong_timeout: seconds a ping may go unanswered before the link is closed.
        workers: handler threads.
        queue_size: events waiting for a handler before new ones are dropped.
        shutdown_grace: seconds ``stop()`` waits for handlers and threads.
        send_policy: verification of sends with an unknown outcome (a
            :class:`~qqreliable.SendPolicy`); None: a send is one plain call.
        pacing: rate limits and risk-control circuits (a :class:`~qqreliable.Pacing`; None: none).
        dedupe_size: ``(chat, messageId)`` identities remembered to drop repeats (0: off).
        dedupe_ttl: seconds an identity is remembered.
        reserved_sync_id: MAH's ``adapterSettings.ws.reservedSyncId``.
        single_mode: MAH runs with ``singleMode: true``.
        verify_tls: TLS verification for ``wss``/``https`` (a CA bundle path works too).
        io_timeout: socket timeout of an open WebSocket.
        max_message_size: the largest WebSocket message accepted, in bytes (None: no limit).
        poll_interval: HTTP adapter: seconds between two ``fetchMessage`` polls.
        poll_count: HTTP adapter: the batch size of one poll.
        unread_queue_max_size: HTTP adapter: MAH's ``unreadQueueMaxSize``; a
            batch that large is logged and counted as possible loss.
        media_cache: how :meth:`fetch_image` caches (as ``Bot``): True (the
            per-user cache dir), False (none), a directory, or a
            :class:`~qqreliable.reliability.media.MediaConfig`.
        outbound_media: how media in outgoing messages is prepared (as ``Bot``):
            by default an image or voice given by URL is downloaded here, checked
            and sent inline (MAH, often elsewhere, need not reach the URL), and a
            request over 8 MiB is refused with :class:`~qqreliable.MediaTooLarge`
            before anything is sent. None: URLs go to MAH as they are.
        recover_chats: after a reconnect, read back through ``roamingMessages``
            what the most recently active friend chats (and group chats on MAH
            2.10+) missed, up to this many chats (0: off). Recovered events have
            ``event.recovered == True``.
        recover_window: only chats active within this many seconds are recovered
            (also the time span of one history page).
        recover_page: messages per history page.
        recover_pages: history pages per chat at most.
        store: where state shared by several processes of this bot lives:
            ``"redis://host:port/db"`` (the ``qqreliable[redis]`` extra), a
            :class:`~qqreliable.reliability.store.Store`, or None (default: this
            process's memory). With a store, processes connected to the same MAH
            account act as one bot: each event is handled once across them (a
            dead process's events are taken over), and pacing, circuits and
            send-verification claims are shared. The URL is checked here;
            ``start()`` raises :class:`ConnectFailed` when it is unreachable.
        handlers: ``"threads"`` (default: this process's handler pool) or
            ``"queue"`` (needs a Redis ``store``): events go to an RQ queue run by
            ``python -m qqreliable worker app:bot`` processes.
    """

    MESSAGE_KINDS: FrozenSet[str] = frozenset(MESSAGE_KINDS)

    def __init__(
        self,
        url: str,
        *,
        verify_key: Optional[str] = None,
        qq: int,
        api_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        reconnect: Backoff = Backoff(),
        ping_interval: Optional[float] = 15.0,
        pong_timeout: float = 10.0,
        workers: int = 8,
        queue_size: int = 10_000,
        shutdown_grace: float = 5.0,
        send_policy: Optional[SendPolicy] = SendPolicy(),
        pacing: Optional[Pacing] = Pacing(),
        dedupe_size: int = 20_000,
        dedupe_ttl: float = 3600.0,
        reserved_sync_id: str = "-1",
        single_mode: bool = False,
        verify_tls: Union[bool, str] = True,
        io_timeout: float = 10.0,
        max_message_size: Optional[int] = 64 * 1024 * 1024,
        poll_interval: float = 0.5,
        poll_count: int = 100,
        unread_queue_max_size: int = 100,
        media_cache: Union[bool, str, "os.PathLike[str]", MediaConfig, None] = True,
        outbound_media: Optional[OutboundMedia] = OutboundMedia(),
        recover_chats: int = 20,
        recover_window: float = 600.0,
        recover_page: int = 50,
        recover_pages: int = 10,
        store: Union[str, Any, None] = None,
        handlers: str = "threads",
    ) -> None:
        check_options(dict(locals()), MIRAI_OPTIONS)  # TypeError/ValueError naming the option
        self.qq = int(qq)
        shared = open_store(store)  # ValueError for a bad URL; nothing connects yet
        queue = open_queue(shared, handlers)
        super().__init__(workers=workers, queue_size=queue_size, shutdown_grace=shutdown_grace, store=shared)
        self.url = url
        self.verify_key = verify_key
        self.api_timeout = api_timeout
        self.events_received = 0
        self._version: Optional[Version] = None
        self._version_lock = threading.Lock()
        self._ws: Optional[WsClient] = None
        self._http: Optional[MiraiHttp] = None
        self._upload_rest: Optional[RestClient] = None  # ws bots: uploads over HTTP on the same port
        self._upload_lock = threading.Lock()
        self._verify_tls = verify_tls
        self._connect_timeout = connect_timeout
        scheme = urlsplit(url).scheme.lower()
        if scheme in ("ws", "wss"):
            self._codec = MiraiCodec(verify_key, self.qq, reserved_sync_id=reserved_sync_id,
                                     single_mode=single_mode)
            self._ws = WsClient(
                _ws_url(url),
                codec=self._codec,
                liveness=Liveness(ping_interval=ping_interval, pong_timeout=pong_timeout),
                backoff=reconnect,
                role="universal",
                on_event=self._on_event,
                on_events=self._on_events,
                on_open=self._on_open,
                on_close=self._on_close,
                stopping=self._supervisor.stopping,
                fail=self._supervisor.fail,
                connect_timeout=connect_timeout,
                io_timeout=io_timeout,
                sslopt=_sslopt(verify_tls),
                max_message_size=max_message_size,
            )
        elif scheme in ("http", "https"):
            self._http = MiraiHttp(
                url,
                verify_key=verify_key,
                qq=self.qq,
                single_mode=single_mode,
                on_event=self._on_event,
                on_session=self._on_http_session,
                on_lost=self._on_close,
                stopping=self._supervisor.stopping,
                fail=self._supervisor.fail,
                backoff=reconnect,
                poll_interval=poll_interval,
                poll_count=poll_count,
                unread_queue_max_size=unread_queue_max_size,
                connect_timeout=connect_timeout,
                verify_tls=verify_tls,
                pool_size=workers + 4,
            )
        else:
            raise ValueError(f"unsupported url scheme {scheme!r}: use ws://, wss://, http:// or https://")
        self._sends: Optional[SendPipeline] = None
        if send_policy is not None:
            self._sends = SendPipeline(
                policy=send_policy,
                pacing=pacing,
                call=self._attempt,
                facts=MiraiSends(self._read, qq=self.qq, version=lambda: self._version),
                self_id=attribute_of(self, "qq"),
                events_live=lambda: self.connected,
                stopping=self._supervisor.stopping,
                stats=self._call_stats,
            )
        self._dedupe = Deduper(size=dedupe_size, ttl=dedupe_ttl, key=event_key)
        self._share_events(self._shared_key, dedupe_ttl, queue)
        if self._store is not None and self._sends is not None:
            self._sends.share(self._store)
        # Media: its own bounded pools (never the handler pool); threads start on first use.
        media_config = MediaConfig.from_option(media_cache)
        self._io_pool = IoPool("mirai-media-io", max_workers=media_config.workers)
        self._api_pool = IoPool("mirai-media-api", max_workers=media_config.api_workers)
        history = MiraiHistory(self._read, self.qq, version=lambda: self._version, span=recover_window,
                               timeout=min(api_timeout, 10.0))
        self._gapfill = GapFiller(
            ChatTracker(max_chats=recover_chats, window=recover_window, locate=history.locate),
            history=history,
            deliver=self._deliver_recovered,
            stopping=self._supervisor.stopping,
            page_size=recover_page,
            max_pages=recover_pages,
        )
        media_api = MiraiMedia(self.call, self.qq)
        self._media = MediaFetcher(media_api, self._io_pool.submit, media_config, submit_api=self._api_pool.submit)
        self._outbound: Optional[MediaPreparer] = None
        if outbound_media is not None:
            self._outbound = MediaPreparer(outbound_media, api=media_api, submit=self._io_pool.submit,
                                           submit_api=self._api_pool.submit, media=self._media)

    # -- runtime hooks -------------------------------------------------------

    def _open(self) -> None:
        if self._ws is not None:
            client = self._ws
            self._supervisor.spawn("mirai-ws", client.run)
            self._supervisor.spawn(
                "mirai-ws-watchdog", Periodic(client.watchdog, client.watchdog_period, self._supervisor.stopping)
            )
        if self._http is not None:
            self._supervisor.spawn("mirai-http-poll", self._http.run)

    def _close(self, deadline: float) -> None:
        if self._sends is not None:
            self._sends.close()
        self._media.close()
        if self._outbound is not None:
            self._outbound.close()
        if self._ws is not None:
            self._ws.close()
        if self._http is not None:
            self._http.close(max(0.0, min(2.0, deadline - time.monotonic())))
        with self._upload_lock:
            rest, self._upload_rest = self._upload_rest, None
        if rest is not None:
            rest.close()
        self._io_pool.shutdown(max(0.0, deadline - time.monotonic()))
        self._api_pool.shutdown(max(0.0, deadline - time.monotonic()))

    def _stats(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "events_received": self.events_received,
            "events_duplicate": self._dedupe.duplicates + (self._claims.duplicates if self._claims else 0),
            "mah_version": ".".join(map(str, self._version)) if self._version else None,
            "events_recovered": self._gapfill.recovered,
            "gap_fills": self._gapfill.fills,
            "gap_fill_errors": self._gapfill.errors,
            "gap_fill_incomplete": self._gapfill.incomplete,
        }
        if self._ws is not None:
            ws = self._ws.stats()
            ws["bare_errors"] = self._codec.bare_errors
            out["ws"] = ws
        if self._http is not None:
            out["http"] = self._http.stats()
        if self._sends is not None:
            out["sends"] = self._sends.stats()
        if self._outbound is not None:
            out["outbound_media"] = self._outbound.stats()
        return out

    def _describe(self) -> str:
        return self.url

    # -- handlers ------------------------------------------------------------

    def on(self, *names: str) -> Callable[[F], F]:
        """Register a handler by event name: a MAH type (``"MemberJoinRequestEvent"``,
        ``"GroupMessage"``) or a dotted name (``"message.group"``, ``"message"``,
        ``"message_sent"`` for the bot's own messages from other clients).

        Raises:
            TypeError: no name, or a name that is not a non-empty string.
        """
        if not names or not all(isinstance(n, str) and n.strip() for n in names):
            raise TypeError("on() takes one or more event names, e.g. on('MemberJoinRequestEvent')")
        return super().on(*(handler_key(n) for n in names))

    # -- reader-thread callbacks (never block) -------------------------------

    def _on_event(self, obj: Dict[str, Any]) -> None:
        self.events_received += 1
        if not _is_message(obj):
            self._note(obj)
        admitted, claim = self._admit(obj, self._dedupe)
        event = Event(obj, bot=self)
        if not admitted:
            log.debug("dropped a repeated %s %s", event.name, event.message_id)
            return
        if event.is_message:
            self._gapfill.tracker.observe(obj)
        self._submit(event, claim)

    def _on_events(self, objs: List[Dict[str, Any]]) -> None:
        """The events of one WebSocket read, in order: what :meth:`_on_event` does for
        each, with one de-duplication lock, one chat-tracker note and one queue lock
        for all of them (reader thread). With a shared store or a worker queue, each
        event is taken on its own, as :meth:`_on_event`."""
        if self._claims is not None or self._worker_mode or self._queue is not None:
            for obj in objs:
                self._on_event(obj)
            return
        self.events_received += len(objs)
        note = self._note
        for obj in objs:
            kind = obj.get("type")
            if type(kind) is not str or kind not in MESSAGE_TYPES:  # not _is_message(obj), inline
                note(obj)
        fresh = self._dedupe.fresh(objs)
        if len(fresh) < len(objs):
            log.debug("dropped %d repeated events", len(objs) - len(fresh))
        if fresh:
            self._gapfill.tracker.observe_many(fresh)  # message events only: locate() skips the rest
            self._dispatcher.submit_events([Event(obj, bot=self) for obj in fresh])

    def _note(self, obj: Dict[str, Any]) -> None:
        """What the media fetcher's offline watch and the send pipeline learn from an
        event that is not someone's message (reader threads; cheap, never raises).
        A message (``GroupMessage``, ``FriendMessage``, ...) tells neither anything:
        the account's state comes in ``Bot*Event``s, and MAH reports the bot's own
        messages as ``*SyncMessage``s, so the callers skip those in one test."""
        self._media.observe(obj)
        if self._sends is not None:
            self._sends.observe(obj)

    def _deliver_recovered(self, obj: Dict[str, Any]) -> bool:
        """A message read back from roamingMessages: dispatched once, marked ``recovered``."""
        admitted, claim = self._admit(obj, self._dedupe)
        if not admitted:
            return False
        event = Event(obj, bot=self)
        event.recovered = True
        self._submit(event, claim)
        return True

    def _shared_key(self, obj: Mapping[str, Any]) -> Optional[Tuple[Hashable, ...]]:
        """The identity claimed in a shared store: :func:`event_key` under this account."""
        key = event_key(obj)
        return None if key is None else (self.qq,) + key

    def _event_from(self, obj: Dict[str, Any]) -> Event:
        return Event(obj, bot=self)

    def _on_open(self, client: Any) -> None:
        with self._version_lock:
            self._version = None  # read /about again: MAH may have been upgraded meanwhile
        self._mark_connected(self.qq)
        if self._gapfill.has_gap(self.qq) and not self._worker_mode:  # a queue worker takes no events
            self._dispatcher.submit_job(self._gapfill.fill, self.qq)  # handler pool, never the reader

    def _on_http_session(self) -> None:
        self._on_open(None)

    def _on_close(self, client: Any, reason: str) -> None:
        if self._sends is not None:
            self._sends.connection_lost()
        self._gapfill.connection_lost(self.qq)
        self._mark_disconnected(reason)

    # -- calls ---------------------------------------------------------------

    def _raw(self, command: str, sub_command: Optional[str], content: Mapping[str, Any], timeout: float) -> Any:
        """One round trip; the answer object as MAH sent it."""
        if self._ws is not None:
            name = f"{command}:{sub_command}" if sub_command else command
            return self._ws.call(name, dict(content), timeout)
        assert self._http is not None
        return self._http.call(command, sub_command, dict(content), timeout)

    def _error(self, command: str, verdict: Verdict, answer: Any) -> Exception:
        """The exception for an answer that is not a success."""
        response = answer if isinstance(answer, abc.Mapping) else {"answer": answer}
        text = verdict.describe()
        if verdict.kind == NOT_DELIVERED:
            return NotDelivered(command, 0, text, response=response)
        if verdict.kind == AUTH:
            return AuthenticationError(f"{command}: {text}", status=verdict.code)
        if verdict.kind == UNKNOWN:
            return ActionFailed(command, verdict.code, text, category=Category.AMBIGUOUS, response=response)
        if verdict.kind == RETRY:
            category = Category.OFFLINE if verdict.code == 2 else Category.RETRYABLE
            return ActionFailed(command, verdict.code, text, category=category, response=response)
        if verdict.kind == SESSION:
            return ActionFailed(command, verdict.code, text, category=Category.RETRYABLE, response=response)
        category = _CATEGORY_OF_CODE.get(verdict.code, Category.FAILED)
        if verdict.code == 6:
            info = command_info(command)
            if info is None or (self._ws is not None and not info.ws):
                category = Category.UNSUPPORTED
        return ActionFailed(command, verdict.code, text, category=category, response=response)

    def _checked(self, command: str, sub_command: Optional[str], content: Mapping[str, Any], timeout: float) -> Any:
        answer = self._raw(command, sub_command, content, timeout)
        verdict = classify(command, answer, sub_command=sub_command, content=content)
        if not verdict.ok:
            raise self._error(command, verdict, answer)
        return answer

    def call(self, command: str, sub_command: Optional[str] = None, *, timeout: Optional[float] = None,
             **content: Any) -> Any:
        """Run any MAH command (reference §3.5) and return its result.

        The result is the answer's ``data`` when it has one (lists, ``about``),
        else the answer itself (bare objects such as ``memberInfo get``, state
        results ``{"code": 0, "msg": ...}``, a send's ``messageId``). Blocking;
        thread-safe. Sends made here bypass verification: use the ``send_*``
        methods for messages.

        A read-only command (``commands.READ_ONLY``) cut off by a dropped
        connection is asked again once on the next connection, within the same
        deadline; a command with effects never is.

        Raises:
            ActionFailed: MAH answered a non-zero code (``category`` says what it means).
            AuthenticationError: code 1.
            ConnectFailed, ResponseLost, ApiTimeout, BotStopped: the transport's errors.
        """
        self._require_started(command)
        budget = self.api_timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        try:
            answer = self._checked(command, sub_command, content, budget)
        except ResponseLost as exc:
            # A read-only command cut off by a dropped connection is asked again, once,
            # on the next connection (it changed nothing); anything else is not.
            remaining = deadline - time.monotonic()
            if isinstance(exc, ApiTimeout) or (command, sub_command) not in _READ_ONLY or remaining <= 0:
                raise
            log.info("%s: the connection dropped mid-call; asking again (read-only)", command)
            answer = self._checked(command, sub_command, content, remaining)
        if isinstance(answer, abc.Mapping) and "data" in answer and "code" in answer:
            return answer["data"]
        return answer

    def _read(self, command: str, content: Dict[str, Any], timeout: float) -> Any:
        """The send pipeline's read-only lookups."""
        return self._checked(command, None, content, timeout)

    def server_version(self, timeout: Optional[float] = None) -> Optional[Version]:
        """MAH's version as ``(major, minor, patch)``, read from ``about`` once per
        connection; None when ``about`` gives none. Blocking.

        Raises:
            the errors of :meth:`call`.
        """
        with self._version_lock:
            known = self._version
        if known is not None:
            return known
        data = self.call("about", timeout=timeout)
        version = parse_version(data.get("version") if isinstance(data, abc.Mapping) else None)
        with self._version_lock:
            self._version = version
        return version

    # -- sends ---------------------------------------------------------------

    def _attempt(self, action: str, params: Dict[str, Any], timeout: float) -> Any:
        """One send attempt for the pipeline: the answer's data, or a typed error.

        A quote MAH no longer has cached (code 5 on a send with ``quote``) was
        rejected before anything was sent: the message goes again without it, once.
        """
        started = time.monotonic()
        answer = self._raw(action, None, params, timeout)
        verdict = classify(action, answer, content=params)
        if verdict.kind == RESEND_WITHOUT_QUOTE:
            log.warning("%s: the quoted message %s is not in mirai's cache; sending without the quote",
                        action, params.get("quote"))
            params = {k: v for k, v in params.items() if k != "quote"}
            answer = self._raw(action, None, params, max(1.0, timeout - (time.monotonic() - started)))
            verdict = classify(action, answer, content=params)
        if verdict.ok:
            return {"message_id": verdict.message_id, "messageId": verdict.message_id}
        raise self._error(action, verdict, answer)

    def _send(self, command: str, where: Dict[str, Any], message: Any, quote: Optional[int],
              timeout: Optional[float]) -> Receipt:
        self._require_started(command)
        out = message_to_chain(message)
        if out.uploads:
            kinds = ", ".join(sorted({seg.type for seg in out.uploads}))
            raise ValueError(
                f"{command}: {kinds} segments cannot go in a mirai message chain (MAH takes them only as "
                "an upload: bot.upload_file(group, ...) for files)"
            )
        if not out.chain:
            raise ValueError(f"{command}: the message is empty")
        params: Dict[str, Any] = dict(where)
        params["messageChain"] = out.chain
        quote_id = quote if quote is not None else out.quote
        if quote_id is not None:
            params["quote"] = int(quote_id)
        budget = self.api_timeout if timeout is None else timeout
        if self._outbound is not None:
            params = self._outbound.prepare(command, params)  # MediaUnavailable / MediaTooLarge: nothing sent
        if self._sends is not None:
            try:
                return self._sends.send(command, params, budget)
            except RateLimited as exc:
                # messageId -1 opened the chat's risk-control circuit (later sends get
                # RateLimited until it closes); this send itself was NotDelivered.
                cause = exc.__cause__
                if isinstance(cause, NotDelivered):
                    raise cause from None
                raise
        data = self._attempt(command, params, budget)
        return Receipt(data)

    def send_group_message(self, group: int, message: Any, *, quote: Optional[int] = None,
                           timeout: Optional[float] = None) -> Receipt:
        """Send ``message`` (str, :class:`~qqreliable.Message`, segments, MAH elements)
        to a group; return a :class:`~qqreliable.Receipt` with MAH's messageId.

        Blocking; thread-safe. ``quote``: the messageId to quote.

        Raises:
            NotDelivered: MAH answered ``messageId -1`` (not delivered; not resent).
            SendUnconfirmed: the outcome was unknown and could not be verified.
            ActionFailed: MAH refused it (muted: 20, too long: 30, unknown group: 5 ...).
            ValueError, TypeError: the message cannot be sent to mirai (names the segment).
            ConnectFailed, BotStopped, AuthenticationError: nothing was sent.
        """
        return self._send("sendGroupMessage", {"target": int(group)}, message, quote, timeout)

    def send_friend_message(self, qq: int, message: Any, *, quote: Optional[int] = None,
                            timeout: Optional[float] = None) -> Receipt:
        """Send ``message`` to a friend (or a stranger); see :meth:`send_group_message`."""
        return self._send("sendFriendMessage", {"target": int(qq)}, message, quote, timeout)

    def send_temp_message(self, qq: int, group: int, message: Any, *, quote: Optional[int] = None,
                          timeout: Optional[float] = None) -> Receipt:
        """Send ``message`` to a group member in a temporary chat; see :meth:`send_group_message`."""
        return self._send("sendTempMessage", {"qq": int(qq), "group": int(group)}, message, quote, timeout)

    def send(self, event: Mapping[str, Any], message: Any, *, quote: bool = False,
             timeout: Optional[float] = None) -> Receipt:
        """Answer ``event`` where it came from (sendGroupMessage, sendFriendMessage or
        sendTempMessage by source); ``quote=True`` quotes it. What ``event.reply()`` calls.

        Raises:
            ApiNotAvailable: the event has no chat to answer in (a friend request ...).
            the errors of :meth:`send_group_message`.
        """
        route = reply_route(event)
        if route is None:
            raise ApiNotAvailable(f"a {event.get('type')!r} event has no chat to answer in")
        command, where = route
        quote_id = None
        if quote:
            quote_id = event.message_id if isinstance(event, Event) else Event(event).message_id
        return self._send(command, where, message, quote_id, timeout)

    def recall(self, message_id: int, target: Optional[int] = None, *, timeout: Optional[float] = None) -> None:
        """Recall a message: ``target`` is the group or friend it was sent to (MAH >= 2.6
        needs it; older MAH takes the message id alone, chosen by ``about``'s version).

        Raises:
            ValueError: MAH >= 2.6 and no ``target``.
            ActionFailed: code 5 (not in MAH's cache), 10 (no permission) ...
        """
        version = self.server_version(timeout)
        self.call("recall", timeout=timeout, **recall_content(version, message_id, target))

    def message_from_id(self, message_id: int, target: Optional[int] = None, *,
                        timeout: Optional[float] = None) -> Event:
        """The cached message ``message_id`` of chat ``target``, as an :class:`Event`.

        Raises:
            ValueError: MAH >= 2.6 and no ``target``.
            ActionFailed: code 5: not in MAH's cache (1024 messages, lost on restart).
        """
        version = self.server_version(timeout)
        data = self.call("messageFromId", timeout=timeout, **message_from_id_content(version, message_id, target))
        return Event(data if isinstance(data, abc.Mapping) else {}, bot=self)

    # -- uploads (HTTP multipart: MAH refuses them as WebSocket commands) ------

    def _upload(self, command: str, form: Dict[str, Any], field: str, data: Optional[bytes], filename: str,
                timeout: Optional[float]) -> Any:
        self._require_started(command)
        budget = self.api_timeout if timeout is None else timeout
        content: Dict[str, Any] = {k: v for k, v in form.items() if v is not None}
        if data is not None:
            content[field] = (filename, data)
        if self._http is not None:
            answer = self._http.call(command, None, content, budget)
        else:
            answer = self._upload_over_http(command, content, field, budget)
        verdict = classify(command, answer, content=form)
        if not verdict.ok:
            raise self._error(command, verdict, answer)
        if isinstance(answer, abc.Mapping) and "data" in answer and "code" in answer:
            return answer["data"]
        return answer

    def _upload_over_http(self, command: str, content: Dict[str, Any], field: str, timeout: float) -> Any:
        """A WebSocket bot's upload: HTTP on MAH's port, with the socket's session key."""
        assert self._ws is not None
        self.wait_connected(timeout)
        session = self._codec.session
        with self._upload_lock:
            if self._upload_rest is None:
                parts = urlsplit(self.url)
                base = urlunsplit(("https" if parts.scheme == "wss" else "http", parts.netloc, "", "", ""))
                self._upload_rest = RestClient(base, connect_timeout=self._connect_timeout, verify=self._verify_tls)
            rest = self._upload_rest
        method, path = http_route(command)
        form = {k: str(v) for k, v in content.items() if k != field}
        files = {}
        if field in content:
            filename, data = content[field]
            files[field] = (filename, data, "application/octet-stream")
        answer = rest.checked(method, path, timeout=timeout, form=form, files=files,
                              headers={"sessionKey": session or ""}, name=command)
        if answer.body is None:
            raise ProtocolError(f"{command}: MAH answered HTTP {answer.status}, not JSON: {answer.text()!r} "
                                "(is the http adapter on the ws port? MAH 2.10 serves uploads there)")
        return answer.body

    def upload_image(self, image: Any, *, kind: str = "group", timeout: Optional[float] = None) -> Dict[str, Any]:
        """Upload an image (bytes, a local path, or a URL MAH downloads); return
        ``{"imageId", "url"}``. Send it with ``{"type": "Image", "imageId": ...}``.

        ``kind``: ``"group"``, ``"friend"`` or ``"temp"`` (MAH uploads through the
        bot's first chat of that kind). Over HTTP multipart on either adapter.

        Raises:
            MediaUnavailable: a local file could not be read.
            ActionFailed: MAH refused it (code 400: no chat of that kind to upload through).
        """
        return self._upload_media("uploadImage", "img", image, kind, timeout)

    def upload_voice(self, voice: Any, *, kind: str = "group", timeout: Optional[float] = None) -> Dict[str, Any]:
        """Upload a voice (amr / silk); return ``{"voiceId"}``. See :meth:`upload_image`."""
        return self._upload_media("uploadVoice", "voice", voice, kind, timeout)

    def upload_file(self, group: int, file: Any, *, name: Optional[str] = None, path: str = "",
                    timeout: Optional[float] = None) -> Dict[str, Any]:
        """Upload a file to a group's files (``file_upload``: MAH sends files only this
        way); ``path``: the folder id (``""``: the root). Returns MAH's file object.

        Raises:
            MediaUnavailable: a local file could not be read.
            ActionFailed: MAH refused it.
        """
        data, filename = _read_media(file, name or "file")
        return self._upload("file_upload", {"type": "group", "target": int(group), "path": path}, "file",
                            data, filename, timeout)

    def _upload_media(self, command: str, field: str, source: Any, kind: str, timeout: Optional[float]) -> Any:
        if kind not in ("group", "friend", "temp"):
            raise ValueError(f"kind must be 'group', 'friend' or 'temp', not {kind!r}")
        if isinstance(source, str) and source[:8].lower().startswith(("http://", "https://")):
            return self._upload(command, {"type": kind, "url": source}, field, None, field, timeout)
        data, filename = _read_media(source, field)
        return self._upload(command, {"type": kind}, field, data, filename, timeout)

    # -- media -----------------------------------------------------------------

    def fetch_image(self, image: Any, timeout: Optional[float] = None) -> Media:
        """Fetch a received image; return it as :class:`~qqreliable.Media`.

        ``image``: an ``image`` segment (``event.message[i]``), a MAH ``Image``
        element, an event or message holding one (the first), a URL. The
        element's URL is downloaded with retries and ``Range`` resumes; an
        expired link's HTML page, a JSON error or a truncated file is a failure,
        never a result; results are cached by image id (``media_cache``).
        Blocks for at most ``timeout`` seconds (default 60). Thread-safe.

        Raises:
            MediaUnavailable: every attempt failed (``errors`` lists why).
            ValueError, TypeError: ``image`` holds no image.
        """
        return self._media.fetch("image", image, timeout)

    def fetch_record(self, record: Any, timeout: Optional[float] = None) -> Media:
        """Like :meth:`fetch_image` for a ``Voice`` (``record`` segment)."""
        return self._media.fetch("record", record, timeout)

    @property
    def account_online(self) -> bool:
        """False while the QQ account is known to be offline (``BotOfflineEvent*``)."""
        return self._sends is None or self._sends.account.online
