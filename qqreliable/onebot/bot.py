"""The facade: one ``Bot`` holds the defaults, the lifecycle and the handlers.

A call goes from :meth:`Bot.call_action` to one transport and comes back as a
value or a typed error. An event comes in on a transport's reader thread,
becomes an :class:`Event` and is queued for the handler pool. Threads are
started in :meth:`Bot.start`, never in ``__init__``, and joined in
:meth:`Bot.stop`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, TypeVar, Union, overload
from urllib.parse import urlsplit

from .actions import READ_ONLY, SEND_ACTIONS, ApiMixin, Receipt, decode_response
from .history import OneBotHistory, event_key
from .sends import OneBotSends, account_signal
from .events import Event
from ..exceptions import (
    ApiNotAvailable,
    ApiTimeout,
    AuthenticationError,
    BotStopped,
    ConnectFailed,
    Error,
    NotStarted,
    ResponseLost,
)
from ..message import Message, MessageSegment, to_wire
from .codec import OneBotCodec
from .listen import ReversePolicy, WebhookPolicy
from .quick import QuickOperations
from ..reliability import Backoff, Liveness
from ..reliability.dedupe import Deduper
from ..reliability.gapfill import ChatTracker, GapFiller, StallWatch
from ..reliability.mediaconfig import MediaConfig, OfflineWatch, OutboundMedia
from ..reliability.sendpolicy import Pacing, SendPolicy
from ..reliability.verify import SendPipeline, attribute_of
from ..runtime.base import BotBase
from ..scale import open_queue, open_store
from ..runtime.supervisor import IoPool, Periodic
from .http import HttpApi
from ..transport.download import make_cancellable
from ..transport.server import AccountRoute, Listener, ReverseWsServer, WebhookServer, parse_listen
from ..transport.ws import WsClient
from ..reliability.interfaces import as_int as _as_int

if TYPE_CHECKING:
    from urllib3.util.retry import Retry

    from .media import OneBotMedia
    from ..reliability.media import Media, MediaFetcher
    from ..reliability.outbound import MediaPreparer

__all__ = ["Bot"]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_MESSAGE_PARAMS = ("message", "messages")
_NOBODY = object()  # no account seen yet

# What on_notice / on_request / on_meta_event accept (v11, then the extensions of
# go-cqhttp, NapCat, LLOneBot and Lagrange). Anything else: bot.on("notice.x").
NOTICE_KINDS = frozenset({
    "group_upload", "group_admin", "group_decrease", "group_increase", "group_ban",
    "friend_add", "group_recall", "friend_recall", "notify",
    "group_card", "offline_file", "client_status", "essence", "group_msg_emoji_like",
    "bot_offline", "input_status", "group_name", "group_title", "flash_file",
})
REQUEST_KINDS = frozenset({"friend", "group"})
META_KINDS = frozenset({"lifecycle", "heartbeat"})


class _SendRoute(threading.local):
    """The account (and its API) a send in this thread goes through (listen modes).

    Class-level defaults: reading an unset route is a plain attribute read, not
    a failed look-up (the send ledger asks for it on every inbound event)."""

    api: Any = None
    self_id: Optional[int] = None


class Bot(BotBase, ApiMixin):
    """A OneBot v11 bot with a blocking, thread-safe API.

    ``on_message`` takes ``"group"`` or ``"private"``; ``on_notice``,
    ``on_request`` and ``on_meta_event`` take the v11 types and the common
    extensions; anything else is reachable through ``bot.on("notice.x")``.

    Args:
        url: where the bot connects: ``ws://``/``wss://`` (forward WebSocket: ``/``
            universal, or ``/api`` with ``events=``) or ``http://``/``https://``
            (HTTP API; calls work at once, without ``start()``).
        events: a separate event source (``ws://…/event``) when ``url`` carries the API only.
        listen: where the bot accepts connections: ``ws://host:port/path``
            (reverse WebSocket; several accounts, roles Universal/API/Event) or
            ``http://host:port/path`` (HTTP POST events). Bound by ``start()``,
            which raises :class:`ListenFailed` when the port is in use.
        access_token: sent as ``Authorization: Bearer …``; required of reverse
            WebSocket peers (``Bearer``/``Token`` header or ``access_token``
            query); never logged.
        secret: the HMAC secret of HTTP POST events: ``X-Signature`` is then
            required (missing: 401, wrong: 403).
        api_timeout: seconds one action may take before :class:`ApiTimeout`.
        connect_timeout: seconds for TCP + TLS + the WebSocket handshake.
        reconnect: the :class:`Backoff` between reconnect attempts; its
            ``max_attempts`` is the reconnect budget (default: for ever).
        heartbeat_grace: a link with no inbound frame for this many heartbeat
            intervals is closed and reconnected.
        ping_interval: seconds of quiet before a WebSocket ping (None: never).
        pong_timeout: seconds a ping may stay unanswered.
        workers: handler threads.
        queue_size: events waiting for a handler before new ones are dropped
            (counted in ``stats()["events_dropped"]``, logged at WARNING).
        shutdown_grace: seconds ``stop()`` waits for handlers and threads.
        http_retry: the ``urllib3`` ``Retry`` of the HTTP transport; by default
            only connection setup is retried (a POST that may have arrived never is).
        verify_tls: TLS verification for ``https``/``wss`` (a CA bundle path works too).
        io_timeout: socket timeout of an open WebSocket (a send that makes no
            progress for this long kills the connection).
        max_message_size: the largest WebSocket message accepted, in bytes; a
            larger one is refused before it is read (counted as a bad frame,
            and the connection is reopened). None: no limit.
        media_cache: how :meth:`fetch_image` & co. cache: ``True`` (default: the
            per-user cache dir, 512 MiB LRU), ``False`` (no disk cache), a
            directory path, or a :class:`~qqreliable.reliability.media.MediaConfig`
            (cache dir and caps, deadlines, retries, TLS, I/O pool size).
        store: where state shared by several processes of this bot lives:
            ``"redis://host:port/db"`` (the ``qqreliable[redis]`` extra), a
            :class:`~qqreliable.reliability.store.Store`, or None (default: this
            process's memory, as a single bot). With a store, processes connected
            to the same accounts act as one bot: each event is handled once
            across them (a dead process's events are taken over), and pacing,
            circuits and send-verification claims are shared. The URL is checked
            here; ``start()`` raises :class:`ConnectFailed` when it is unreachable.
            See docs/deployment.md.
        handlers: ``"threads"`` (default: this process's handler pool) or
            ``"queue"`` (needs a Redis ``store``): events go to an RQ queue and
            ``python -m qqreliable worker app:bot`` processes run the handlers.
        send_policy: how sends with an unknown outcome (retcode 1200, a timeout,
            a lost connection) are verified and re-sent: a
            :class:`~qqreliable.reliability.sendpolicy.SendPolicy`. ``None`` turns
            the send pipeline off (no verification, pacing, circuits or offline
            check: a send is one plain call).
        pacing: token buckets per target and per account, risk-control circuits
            and the large-media limit: a
            :class:`~qqreliable.reliability.sendpolicy.Pacing`; ``None``: no rate
            limits (circuits and the offline check stay on).
        dedupe_size: event identities remembered to drop repeats (0: off).
        dedupe_ttl: seconds an event identity is remembered.
        recover_chats: after a reconnect, read back from history what the
            most recently active chats (up to this many per account) missed
            (0: off). Recovered events have ``event.recovered == True``.
        recover_window: only chats active within this many seconds are recovered.
        recover_page: messages per history call; recover_pages: calls per chat at most.
        quick_timeout: how long an HTTP POST answer may wait for a
            :meth:`quick_operation` handler (go-cqhttp re-posts after 5 s).
        reconcile_after: when no message event has arrived for this many
            seconds while chats were active within ``recover_window``, read
            their history and deliver what never arrived (an implementation
            whose message listener died while heartbeats go on). None: never.
        outbound_media: how media in outgoing messages is prepared before the send
            leaves: an :class:`~qqreliable.reliability.outbound.OutboundMedia`.
            By default local files and URLs are read / downloaded here and sent as
            ``base64://`` (the implementation may run in Docker or elsewhere), and a
            request over 8 MiB is refused with :class:`MediaTooLarge`. ``None``:
            segments are sent as given.
    """

    MESSAGE_KINDS = frozenset({"group", "private"})

    def __init__(
        self,
        url: Optional[str] = None,
        *,
        events: Optional[str] = None,
        listen: Optional[str] = None,
        access_token: Optional[str] = None,
        secret: Optional[str] = None,
        api_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        reconnect: Backoff = Backoff(),
        heartbeat_grace: float = 2.5,
        ping_interval: Optional[float] = 15.0,
        pong_timeout: float = 10.0,
        workers: int = 8,
        queue_size: int = 10_000,
        shutdown_grace: float = 5.0,
        http_retry: Optional["Retry"] = None,
        verify_tls: Union[bool, str] = True,
        io_timeout: float = 10.0,
        max_message_size: Optional[int] = 64 * 1024 * 1024,
        media_cache: Union[bool, str, "os.PathLike[str]", MediaConfig, None] = True,
        send_policy: Optional[SendPolicy] = SendPolicy(),
        pacing: Optional[Pacing] = Pacing(),
        dedupe_size: int = 20_000,
        dedupe_ttl: float = 3600.0,
        recover_chats: int = 20,
        recover_window: float = 600.0,
        recover_page: int = 50,
        recover_pages: int = 10,
        quick_timeout: float = 4.0,
        reconcile_after: Optional[float] = 300.0,
        outbound_media: Optional[OutboundMedia] = OutboundMedia(),
        store: Union[str, Any, None] = None,
        handlers: str = "threads",
    ) -> None:
        from ..runtime.options import ONEBOT_OPTIONS, check_options

        check_options(dict(locals()), ONEBOT_OPTIONS)  # TypeError/ValueError naming the option
        if url is None and listen is None:
            raise ValueError("Bot needs a url to connect to (or listen= for reverse modes)")
        if api_timeout <= 0:
            raise ValueError("api_timeout must be positive")
        shared = open_store(store)  # ValueError for a bad URL; nothing connects yet
        queue = open_queue(shared, handlers)
        super().__init__(workers=workers, queue_size=queue_size, shutdown_grace=shutdown_grace, store=shared)
        self.url = url
        self.api_timeout = api_timeout
        self._secret = secret
        self._announced = False
        self.events_received = 0

        liveness_options: Dict[str, Any] = dict(
            grace=heartbeat_grace, ping_interval=ping_interval, pong_timeout=pong_timeout
        )
        ws_options: Dict[str, Any] = dict(
            on_event=self._on_event,
            on_events=self._on_events,
            on_open=self._on_open,
            on_close=self._on_close,
            stopping=self._supervisor.stopping,
            fail=self._supervisor.fail,
            backoff=reconnect,
            connect_timeout=connect_timeout,
            io_timeout=io_timeout,
            sslopt=_sslopt(verify_tls),
            max_message_size=max_message_size,
        )
        self._ws_clients: List[WsClient] = []
        self._api: Union[HttpApi, WsClient, None] = None
        self._http: Optional[HttpApi] = None
        self._events_client: Optional[WsClient] = None

        scheme = urlsplit(url).scheme.lower() if url else ""
        if url is not None and scheme in ("http", "https"):
            self._http = HttpApi(
                url,
                access_token=access_token,
                retry=http_retry,
                pool_size=workers + 4,
                connect_timeout=connect_timeout,
                verify=verify_tls,
            )
            self._api = self._http
        elif url is not None and scheme in ("ws", "wss"):
            client = WsClient(
                url,
                role="api" if events else "universal",
                codec=OneBotCodec(access_token, url),
                liveness=Liveness(**liveness_options),
                **ws_options,
            )
            self._ws_clients.append(client)
            self._api = client
            if events is None:
                self._events_client = client
        elif url is not None:
            raise ValueError(f"unsupported url scheme {scheme!r}: use ws://, wss://, http:// or https://")
        if events is not None:
            if urlsplit(events).scheme.lower() not in ("ws", "wss"):
                raise ValueError("events= must be a ws:// or wss:// URL")
            client = WsClient(
                events,
                role="event",
                codec=OneBotCodec(access_token, events),
                liveness=Liveness(**liveness_options),
                **ws_options,
            )
            self._ws_clients.append(client)
            self._events_client = client
        self._sends: Optional[SendPipeline] = None
        self._send_route = _SendRoute()  # listen modes: the account a send goes through
        if send_policy is not None:
            events_client = self._events_client
            events_live: Optional[Callable[[], bool]] = None
            if events_client is not None:
                events_live = lambda: events_client.connected  # noqa: E731
            elif listen is not None:
                events_live = self._listen_events_live
            # Only the listen modes route a send through one account (call_action sets
            # the route): other bots skip the thread-local look-up on every send.
            routed = listen is not None
            self._sends = SendPipeline(
                policy=send_policy,
                pacing=pacing,
                call=self._attempt if routed else self._attempt_direct,
                facts=OneBotSends(read=self._read_for_sends),
                self_id=(
                    (lambda: self._send_route.self_id or self._self_id) if routed else attribute_of(self, "_self_id")
                ),
                events_live=events_live,
                stopping=self._supervisor.stopping,
                stats=self._call_stats,
            )

        # Media: its own bounded I/O pool (never the handler pool: a handler waiting
        # on work queued behind itself would deadlock); threads start on first use.
        # The fetcher and the preparer (and the modules behind them) are made on
        # first use: a bot that never fetches nor sends media never imports them.
        self._media_config = MediaConfig.from_option(media_cache)
        self._io_pool = IoPool("media-io", max_workers=self._media_config.workers)
        self._api_pool = IoPool("media-api", max_workers=self._media_config.api_workers)
        self._offline_watch = OfflineWatch(account_signal)
        self._media_lock = threading.Lock()
        self._media_api: Optional[OneBotMedia] = None
        self._media_fetcher: Optional[MediaFetcher] = None
        self._outbound_media = outbound_media
        self._outbound_preparer: Optional[MediaPreparer] = None
        if self._http is not None:
            make_cancellable(self._http.session)  # a losing get_image is abandoned at once
        self._dedupe = Deduper(size=dedupe_size, ttl=dedupe_ttl, key=event_key)
        self._share_events(event_key, dedupe_ttl, queue)
        if self._store is not None and self._sends is not None:
            self._sends.share(self._store)
        self._stalls = StallWatch(reconcile_after)
        history = OneBotHistory(self._history_call)
        self._gapfill = GapFiller(
            ChatTracker(max_chats=recover_chats, window=recover_window, locate=history.locate),
            history=history,
            deliver=self._deliver_recovered,
            stopping=self._supervisor.stopping,
            page_size=recover_page,
            max_pages=recover_pages,
        )
        self._quick = QuickOperations(self._dispatcher, self._apply_quick, quick_timeout)
        self._webhook_accounts: List[int] = []
        self._listener: Optional[Listener] = None
        if listen is not None:
            self._listener = self._make_listener(
                listen, access_token, liveness_options, io_timeout, max_message_size
            )

    # -- media machinery, made on first use --

    @property
    def _media(self) -> "MediaFetcher":
        fetcher = self._media_fetcher
        if fetcher is None:
            from ..reliability.media import MediaFetcher
            from .media import OneBotMedia

            with self._media_lock:
                if self._media_fetcher is None:
                    self._media_api = OneBotMedia(self.call_action)
                    self._media_fetcher = MediaFetcher(
                        self._media_api, self._io_pool.submit, self._media_config,
                        submit_api=self._api_pool.submit, offline=self._offline_watch,
                    )
                fetcher = self._media_fetcher
        return fetcher

    @property
    def _outbound(self) -> "Optional[MediaPreparer]":
        if self._outbound_media is None:
            return None
        preparer = self._outbound_preparer
        if preparer is None:
            from ..reliability.outbound import MediaPreparer

            media = self._media
            api = self._media_api
            assert api is not None  # set together with the fetcher, by self._media above
            with self._media_lock:
                if self._outbound_preparer is None:
                    self._outbound_preparer = MediaPreparer(
                        self._outbound_media, api=api, submit=self._io_pool.submit,
                        submit_api=self._api_pool.submit, media=media,
                    )
                preparer = self._outbound_preparer
        return preparer

    # -- handlers (on, on_message, on_connect, on_disconnect, on_error: BotBase) --

    @overload
    def on_notice(self, arg: F) -> F: ...
    @overload
    def on_notice(self, arg: Optional[str] = None) -> Callable[[F], F]: ...
    def on_notice(self, arg: Any = None) -> Any:
        """``@bot.on_notice("group_increase")`` or ``@bot.on_notice()`` for every notice."""
        return self._selector("notice", arg, NOTICE_KINDS, "on_notice")

    @overload
    def on_request(self, arg: F) -> F: ...
    @overload
    def on_request(self, arg: Optional[str] = None) -> Callable[[F], F]: ...
    def on_request(self, arg: Any = None) -> Any:
        """``@bot.on_request("friend")`` or ``@bot.on_request("group")``."""
        return self._selector("request", arg, REQUEST_KINDS, "on_request")

    @overload
    def on_meta_event(self, arg: F) -> F: ...
    @overload
    def on_meta_event(self, arg: Optional[str] = None) -> Callable[[F], F]: ...
    def on_meta_event(self, arg: Any = None) -> Any:
        """``@bot.on_meta_event("heartbeat")`` or ``@bot.on_meta_event("lifecycle")``."""
        return self._selector("meta_event", arg, META_KINDS, "on_meta_event")

    # -- lifecycle hooks (start/stop/run/wait_connected: BotBase) ------------

    def _open(self) -> None:
        if self._events_client is None and self._listener is None:
            self._check_http_only()  # before any thread: a wrong token raises from start()
        if self._listener is not None:
            self._listener.start()  # binds now: a port in use raises here
        if self._stalls.enabled and self._gapfill.enabled:
            self._supervisor.spawn(
                "stall-watch", Periodic(self._check_stalls, self._stalls.period, self._supervisor.stopping)
            )
        for client in self._ws_clients:
            self._supervisor.spawn(f"ws-{client.role}", client.run)
            self._supervisor.spawn(
                f"ws-{client.role}-watchdog",
                Periodic(client.watchdog, client.watchdog_period, self._supervisor.stopping),
            )

    def _check_http_only(self) -> None:
        """An HTTP-only bot: check the token now (a wrong one raises from start()/run())."""
        log.warning(
            "%s has no event source (no WebSocket, no listen=): it can call the API, "
            "but no handler will ever run",
            self.url,
        )
        try:
            self.call_action("get_login_info", api_timeout=min(self.api_timeout, 10.0))
        except AuthenticationError:
            raise
        except Error as exc:
            log.warning("cannot reach %s yet: %s", self.url, exc)

    def _close(self, deadline: float) -> None:
        if self._sends is not None:
            self._sends.close()
        for client in self._ws_clients:
            client.close()
        if self._listener is not None:
            self._listener.close()
        with self._media_lock:
            fetcher, preparer = self._media_fetcher, self._outbound_preparer
        if fetcher is not None:
            fetcher.close()
        if preparer is not None:
            preparer.close()
        self._io_pool.shutdown(max(0.0, deadline - time.monotonic()))
        self._api_pool.shutdown(max(0.0, deadline - time.monotonic()))
        if self._http is not None:
            self._http.close()

    def _describe(self) -> str:
        return self.url or self.listen_url or ""

    def wait_connected(self, timeout: Optional[float] = None) -> Optional[int]:
        """Block until the bot is connected and working; return its ``self_id``.

        An HTTP-only bot is working when it answers ``get_login_info``; a
        listening bot once an account connected (or posted its first event).

        Raises:
            ConnectFailed: not connected within ``timeout`` seconds.
            AuthenticationError, ConnectionLost: the connection failed for good.
            NotStarted: the bot is not started; BotStopped: the bot stopped.
        """
        if isinstance(self._listener, ReverseWsServer) or (self._listener is not None and self._api is None):
            return self._wait_account(timeout)
        if self._events_client is None:  # HTTP API only: working means answering
            info = self.call_action("get_login_info", api_timeout=timeout or self.api_timeout)
            self._self_id = _as_int(info.get("user_id")) if isinstance(info, Mapping) else None
            return self._self_id  # type: ignore[no-any-return]
        return super().wait_connected(timeout)  # type: ignore[no-any-return]

    @property
    def account_online(self) -> bool:
        """False while the QQ account is known to be offline (kicked, logged out)."""
        return self._sends is None or self._sends.account.online

    # -- connection callbacks (reader threads: never block) -----------------

    def _on_event(self, obj: Dict[str, Any]) -> None:
        self.events_received += 1
        self._note(obj)
        self._inbound(obj)

    def _on_events(self, objs: List[Dict[str, Any]]) -> None:
        """The events of one read, in order: what :meth:`_on_event` does for each,
        with one de-duplication lock, one chat-tracker note and one queue lock
        for all of them."""
        self.events_received += len(objs)
        note = self._note
        for obj in objs:
            if obj.get("post_type") == "message":
                user_id, own_id = obj.get("user_id"), obj.get("self_id")
                if type(user_id) is int and type(own_id) is int and user_id != own_id:
                    continue  # someone else's message (_someone_elses_message, inline): nothing to note
            note(obj)
        self._inbound_many(objs)

    def _note(self, obj: Dict[str, Any]) -> None:
        """What the account state and the send pipeline learn from one event (reader
        threads; cheap, never raises)."""
        if obj.get("post_type") == "message_sent":
            # The bot's own message (reportSelfMessage; NapCat reports every send): no
            # account state in it, and the send pipeline keeps it unread until a
            # verification looks (a send answered with its id never does).
            sends = self._sends
            if sends is not None:
                account = obj.get("self_id")
                if type(account) is int:
                    sends.ledger.saw(obj, account)  # SendPipeline.saw_own, one call less
                else:
                    sends.observe(obj)
        elif not _someone_elses_message(obj):
            self._observe_state(obj)

    def _observe_state(self, obj: Dict[str, Any]) -> None:
        """An event that may tell the account's state or be the bot's own message:
        its account signal read once, for the media offline watch and the send
        pipeline (reader threads; cheap, never raises)."""
        try:
            signal = account_signal(obj)
        except Exception:  # bad input must not kill the reader
            log.exception("could not read the account state from an event")
            signal = None
        if signal is not None:
            self._offline_watch.feed(signal)
        if self._sends is not None:
            self._sends.observe(obj, signal)  # bot_offline, Lagrange's own messages

    def _on_open(self, client: WsClient) -> None:
        if client is self._events_client:
            # Not the handler pool: a busy pool must not hide a working connection.
            self._supervisor.spawn("announce", lambda: self._announce_connect(client))

    def _announce_connect(self, client: WsClient) -> None:
        """One-shot thread per connection: learn self_id, then mark the bot connected."""
        self_id = client.account
        if self_id is None and self._api is not None:
            try:
                info = self.call_action("get_login_info", api_timeout=min(self.api_timeout, 10.0))
                self_id = _as_int(info.get("user_id")) if isinstance(info, Mapping) else None
            except Error as exc:
                log.warning("connected, but get_login_info failed: %s", exc)
        with self._cond:
            if not client.connected or self._state != "running":
                return
            self._announced = True
        self._mark_connected(self_id)
        if self._gapfill.has_gap(self._self_id):
            self._dispatcher.submit_job(self._gapfill.fill, self._self_id)

    def _on_close(self, client: WsClient, reason: str) -> None:
        if client is not self._events_client:
            return
        if self._sends is not None:
            self._sends.connection_lost()
        self._gapfill.connection_lost(client.account if client.account is not None else self._self_id)
        with self._cond:
            announced, self._announced = self._announced, False
        if announced:
            self._mark_disconnected(reason)
        else:
            with self._cond:
                self._connected = False
                self._cond.notify_all()

    # -- listen modes, de-duplication, recovery, quick operations ----------

    def _make_listener(
        self,
        listen: str,
        access_token: Optional[str],
        liveness_options: Dict[str, Any],
        io_timeout: float,
        max_message_size: Optional[int],
    ) -> Listener:
        address = parse_listen(listen)
        spawn = self._supervisor.spawn
        if address.kind == "ws":
            return ReverseWsServer(
                address,
                spawn=spawn,
                stopping=self._supervisor.stopping,
                policy=ReversePolicy(access_token),
                new_liveness=lambda: Liveness(**liveness_options),
                on_event=self._on_event,
                on_events=self._on_events,
                on_account=self._on_account,
                api_elsewhere=self._api is not None,
                io_timeout=io_timeout,
                max_message_size=max_message_size,
            )
        return WebhookServer(
            address,
            spawn=spawn,
            stopping=self._supervisor.stopping,
            policy=WebhookPolicy(self._secret),
            on_event=self._on_webhook,
            io_timeout=io_timeout,
        )

    @property
    def listen_url(self) -> Optional[str]:
        """Where the bot listens, with the real port once started (``listen=…:0``)."""
        return self._listener.url if self._listener is not None else None

    @property
    def self_ids(self) -> List[int]:
        """The accounts connected now (several in reverse-WebSocket mode), in connection order."""
        if isinstance(self._listener, ReverseWsServer):
            return [a for a in self._listener.accounts() if a is not None]
        if self._listener is not None and self._api is None:
            return list(self._webhook_accounts)
        return [self._self_id] if self._connected and self._self_id is not None else []

    def quick_operation(self, *names: str) -> Callable[[F], F]:
        """Register ``fn(event) -> dict | None`` whose dict is the event's quick operation.

        ``@bot.quick_operation("message.group")`` then ``return {"reply": "pong"}``.
        Over HTTP POST the dict is the answer to the POST (which waits for it
        at most ``quick_timeout`` seconds; events without such a handler are
        answered 204 at once); over WebSocket, or when late, it is applied with
        ``.handle_quick_operation``. Several handlers' dicts are merged in
        order. They run on the handler pool, besides the ordinary handlers.
        See :mod:`qqreliable.onebot.quick`.
        """
        if not names or not all(isinstance(n, str) and n for n in names):
            raise TypeError("quick_operation() takes one or more event names, e.g. 'message.group'")

        def register(fn: F) -> F:
            for name in names:
                self._quick.add(name, fn)
            return fn

        return register

    def _inbound(self, obj: Dict[str, Any], webhook: bool = False) -> Optional[Event]:
        """Every live event: drop repeats, note the chat, queue the handlers (never blocks)."""
        admitted, claim = self._admit(obj, self._dedupe)
        if not admitted:
            return None
        self._gapfill.tracker.observe(obj)
        if obj.get("post_type") in ("message", "message_sent"):
            self._stalls.saw_message(_as_int(obj.get("self_id")))
        event = Event._received(obj, self)  # named once; dispatcher and quick read the name
        self._submit(event, claim)
        if not webhook and self._quick.registered:
            self._quick.schedule(event)
        return event

    def _inbound_many(self, objs: List[Dict[str, Any]]) -> None:
        """:meth:`_inbound` for each of ``objs`` in order, batched where nothing
        per event needs it (no shared store, no worker queue, no quick operation)."""
        if self._claims is not None or self._worker_mode or self._queue is not None or self._quick.registered:
            for obj in objs:
                self._inbound(obj)
            return
        fresh = self._dedupe.fresh(objs)
        if not fresh:
            return
        self._gapfill.tracker.observe_many(fresh)
        stalls = self._stalls
        last_account: Any = _NOBODY
        events = []
        for obj in fresh:
            if obj.get("post_type") in ("message", "message_sent"):
                account = obj.get("self_id")
                if account != last_account:  # one note per account per read is as good
                    stalls.saw_message(_as_int(account))
                    last_account = account
            events.append(Event._received(obj, self))
        self._dispatcher.submit_events(events)

    def _on_webhook(self, obj: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """An HTTP POST event (connection thread): returns the quick operation, if any."""
        self.events_received += 1
        self._observe_state(obj)  # message_sent over HTTP POST verifies sends too
        event = self._inbound(obj, webhook=True)
        if event is None:
            return None
        self_id = _as_int(event.get("self_id"))
        if self._events_client is None and self_id is not None and self_id not in self._webhook_accounts:
            self._on_account(self_id, True, "first event")  # the webhook is the only event source
        return self._quick.answer(event)

    def _apply_quick(self, event: Event, operation: Dict[str, Any]) -> None:
        if self._api is None and not isinstance(self._listener, ReverseWsServer):
            log.warning("cannot apply the quick operation for %s: this bot has no API", event.name)
            return
        try:
            self.call_action(
                ".handle_quick_operation",
                self_id=_as_int(event.get("self_id")),
                context=dict(event),
                operation=operation,
            )
        except Error as exc:
            log.warning("could not apply the quick operation for %s: %s", event.name, exc)

    def _on_account(self, self_id: Optional[int], up: bool, reason: str) -> None:
        """An account became usable or stopped being usable (listen modes)."""
        if self_id is None:
            return  # not identified yet: announced once its first event names it
        if up:
            with self._cond:
                if self._state != "running":
                    return
                if self_id not in self._webhook_accounts and not isinstance(self._listener, ReverseWsServer):
                    self._webhook_accounts.append(self_id)
                if self._self_id is None:
                    self._self_id = self_id
                self._connected = True
                self._cond.notify_all()
            self._dispatcher.fire(self._connect_handlers, self_id)
            if self._gapfill.has_gap(self_id):
                self._dispatcher.submit_job(self._gapfill.fill, self_id)
            return
        self._gapfill.connection_lost(self_id)
        if self._sends is not None:
            self._sends.connection_lost()
        with self._cond:
            self._connected = bool(self.self_ids)
            self._cond.notify_all()
        self._dispatcher.fire(self._disconnect_handlers, reason)

    def _listen_events_live(self) -> bool:
        """For the send pipeline: can a ``message_sent`` event reach us now?"""
        if isinstance(self._listener, ReverseWsServer):
            self_id = getattr(self._send_route, "self_id", None)
            return self._listener.is_up(self_id) if self_id is not None else bool(self._listener.accounts())
        return self._state == "running"  # HTTP POST: whenever we listen

    def _wait_account(self, timeout: Optional[float]) -> Optional[int]:
        self._require_started("wait_connected()")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                accounts = self.self_ids
                if accounts:
                    return accounts[0]
                self._supervisor.raise_failure()
                if self._state == "stopped":
                    raise BotStopped("the bot stopped before an account connected")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise ConnectFailed(f"no account connected to {self.listen_url} within {timeout:g}s")
                self._cond.wait(0.5 if remaining is None else min(remaining, 0.5))

    def _history_call(self, action: str, self_id: Optional[int], params: Dict[str, Any]) -> Any:
        return self.call_action(action, self_id=self_id, api_timeout=min(self.api_timeout, 10.0), **params)

    def _check_stalls(self) -> None:
        """Periodic (supervisor thread): queue a reconciliation for quiet accounts."""
        if not self._connected:
            return  # a reconnect fills the gap by itself
        for self_id in self._stalls.due():
            self._dispatcher.submit_job(self._reconcile, self_id)

    def _reconcile(self, self_id: Optional[int]) -> None:
        """Handler-pool job: read back what a silent event stream never delivered."""
        self._gapfill.connection_lost(self_id)
        found = self._gapfill.fill(self_id)
        if found:
            self._stalls.recovered += found
            log.warning(
                "message events stopped while the connection stayed up: %d message(s) found "
                "only in history were delivered (recovered=True)",
                found,
            )

    def _deliver_recovered(self, obj: Dict[str, Any]) -> bool:
        """A message read back from history: dispatched once, marked ``recovered``."""
        admitted, claim = self._admit(obj, self._dedupe)
        if not admitted:
            return False
        event = Event._received(obj, self)
        event.recovered = True
        self._submit(event, claim)
        return True

    def _event_from(self, obj: Dict[str, Any]) -> Event:
        return Event._received(obj, self)

    def _inbound_stats(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "events_duplicate": self._dedupe.duplicates + (self._claims.duplicates if self._claims else 0),
            "events_recovered": self._gapfill.recovered,
            "gap_fills": self._gapfill.fills,
            "gap_fill_errors": self._gapfill.errors,
            "gap_fill_incomplete": self._gapfill.incomplete,
            "stall_checks": self._stalls.checks,
            "stall_recovered": self._stalls.recovered,
            "quick_timeouts": self._quick.timeouts,
            "quick_dropped": self._quick.dropped,
        }
        if self._listener is not None:
            out["listener"] = self._listener.stats()
            out["bad_frames"] = (
                sum(c.bad_frames for c in self._ws_clients)
                + getattr(self._listener, "bad_frames", 0)
                + getattr(self._listener, "bad_posts", 0)
            )
        return out

    # -- calling the API ----------------------------------------------------

    def call_action(  # type: ignore[override]
        self,
        action: str,
        /,
        *,
        self_id: Optional[int] = None,
        api_timeout: Optional[float] = None,
        **params: Any,
    ) -> Any:
        """Run one OneBot action and return its ``data`` (a :class:`Receipt` for sends).

        Blocks the calling thread for at most ``api_timeout`` seconds (default:
        the bot's) per attempt. Thread-safe. Read-only actions are retried once
        when the connection is lost mid-call; actions with effects never are.
        ``self_id`` picks the account when several are connected.

        Raises:
            ActionFailed: the implementation ran the action and said no.
            ConnectFailed: the implementation could not be reached (nothing sent).
            ApiTimeout: no answer in time; ResponseLost: the answer was lost.
            AuthenticationError: the token is missing or wrong.
            ApiNotAvailable: this bot cannot call the API (or is not started).
            MediaUnavailable: a send's media could not be read or downloaded here
                (:class:`MediaTooLarge`: too large to send); nothing was sent.
        """
        api: Any = self._api
        if api is None and isinstance(self._listener, ReverseWsServer):
            api = self._listener.route(self_id)  # calls go to the account asked for
        if api is None:
            raise ApiNotAvailable(f"{action}: this bot only receives events; give it an API url")
        if self._state == "stopped":
            raise BotStopped(f"{action}: the bot is stopped")
        if isinstance(api, (WsClient, AccountRoute)) and self._state != "running":
            raise NotStarted(
                f"{action}: a WebSocket bot must be started first (start(), run() or `with bot:`)"
            )
        timeout = self.api_timeout if api_timeout is None else api_timeout
        wire = _wire_params(params)
        if action in SEND_ACTIONS and self._outbound is not None:
            wire = self._outbound.prepare(action, wire)  # MediaUnavailable: nothing sent
        if action in SEND_ACTIONS and self._sends is not None:
            if self._listener is None:
                return self._sends.send(action, wire, timeout)
            # The pipeline runs in this thread: its attempts and verification reads
            # go through the account this call was routed to.
            route = self._send_route
            route.api, route.self_id = api, self_id if self_id is not None else getattr(api, "account", None)
            try:
                return self._sends.send(action, wire, timeout)
            finally:
                route.api = route.self_id = None
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            try:
                body = api.call(action, wire, timeout)
                data = decode_response(action, body, via=api.via)
            except ResponseLost as exc:
                if action in READ_ONLY and attempts == 1 and not isinstance(exc, ApiTimeout):
                    log.info("%s: %s; retrying once (read-only)", action, exc)
                    continue
                self._record(action, started, exc, attempts)
                raise
            except Error as exc:
                self._record(action, started, exc, attempts)
                raise
            self._record(action, started, None, attempts)
            if action in SEND_ACTIONS:
                return Receipt(data if isinstance(data, Mapping) else {}, attempts=attempts)
            return data

    def _attempt(self, action: str, wire: Dict[str, Any], timeout: float) -> Any:
        """One attempt of a send, for the send pipeline: the data, or a typed error."""
        api = getattr(self._send_route, "api", None) or self._api
        if api is None:
            raise ApiNotAvailable(f"{action}: this bot only receives events; give it an API url")
        return decode_response(action, api.call(action, wire, timeout), via=api.via)

    def _attempt_direct(self, action: str, wire: Dict[str, Any], timeout: float) -> Any:
        """:meth:`_attempt` for a bot that does not listen (no route to look up)."""
        api = self._api
        if api is None:
            raise ApiNotAvailable(f"{action}: this bot only receives events; give it an API url")
        return decode_response(action, api.call(action, wire, timeout), via=api.via)

    def _read_for_sends(self, action: str, params: Dict[str, Any], timeout: float) -> Any:
        """A read-only call made while verifying a send (history, get_msg, get_login_info)."""
        self_id = getattr(self._send_route, "self_id", None)
        return self.call_action(action, self_id=self_id, api_timeout=timeout, **params)

    def _record(self, action: str, started: float, error: Optional[BaseException], attempts: int) -> None:
        self._call_stats.record(
            action, latency=time.monotonic() - started, error=error, retries=attempts - 1
        )

    def send(
        self,
        event: Mapping[str, Any],
        message: Union[str, Message, MessageSegment, List[Any]],
        *,
        at_sender: bool = False,
        auto_escape: bool = False,
        **kwargs: Any,
    ) -> Receipt:
        """Send ``message`` to where ``event`` came from (its group, else its user)."""
        group_id = event.get("group_id")
        user_id = event.get("user_id")
        kwargs.setdefault("self_id", _as_int(event.get("self_id")))
        if at_sender and user_id is not None:
            message = MessageSegment.at(user_id) + " " + Message(message)
        if event.get("message_type") == "group" or (event.get("message_type") is None and group_id):
            if group_id is None:
                raise ValueError("cannot reply: the group event has no group_id")
            result = self.send_group_msg(group_id, message, auto_escape=auto_escape, **kwargs)
        elif user_id is not None:
            result = self.send_private_msg(user_id, message, auto_escape=auto_escape, **kwargs)
        else:
            raise ValueError("cannot reply: the event has neither group_id nor user_id")
        return result  # type: ignore[no-any-return]

    # -- media --------------------------------------------------------------

    def fetch_image(self, image: Any, timeout: Optional[float] = None) -> Media:
        """Fetch a received image; return it as :class:`Media` (``.data``, ``.content_type``,
        ``.size``, ``.source``, ``.path``).

        ``image`` is an image segment (or its dict), a ``file`` id, a URL, or an
        event / message holding an image (the first one). The segment's URL and
        the ``get_image`` action race on the bot's media I/O pool; the first
        *valid* image wins and the other is cancelled. Each path retries with
        backoff, a cut download resumes with ``Range``, HTML/JSON error bodies
        and truncated files are never returned, and results are cached on disk
        by file id (see ``media_cache``). Concurrent fetches of one image share
        one download. Blocks for at most ``timeout`` seconds (default 60).
        Thread-safe; works on an HTTP bot without ``start()``.

        Raises:
            MediaUnavailable: every path failed; ``.errors`` lists each attempt's cause.
            AccountOffline: the account is offline and the URL did not work.
            BotStopped: the bot is stopped.
            ValueError, TypeError: ``image`` holds nothing fetchable.
        """
        return self._media.fetch("image", image, timeout)

    def fetch_record(self, record: Any, timeout: Optional[float] = None) -> Media:
        """Like :meth:`fetch_image` for voice (``record`` segments; the API path is
        ``get_record`` with ``MediaConfig.record_format``)."""
        return self._media.fetch("record", record, timeout)

    def fetch_video(self, video: Any, timeout: Optional[float] = None) -> Media:
        """Like :meth:`fetch_image` for ``video`` segments (the API path is ``get_file``)."""
        return self._media.fetch("video", video, timeout)

    def fetch_file(self, file: Any, timeout: Optional[float] = None) -> Media:
        """Like :meth:`fetch_image` for any file (``file`` segments, ``get_file``);
        only error bodies (expired signatures) and short bodies are refused."""
        return self._media.fetch("file", file, timeout)

    # -- observability ------------------------------------------------------

    def _stats(self) -> Dict[str, Any]:
        return {
            "events_received": self.events_received,
            "bad_frames": sum(c.bad_frames for c in self._ws_clients),
            "reconnects": sum(max(0, c.connects - 1) for c in self._ws_clients),
            "connections": [c.stats() for c in self._ws_clients],
            "media": self._media.stats.snapshot(),
            "sends": self._sends.stats() if self._sends is not None else {},
            **self._inbound_stats(),
            "outbound_media": self._outbound.stats() if self._outbound is not None else {},
        }



def _wire_params(params: Dict[str, Any]) -> Dict[str, Any]:
    """Parameters as sent: Message objects become segment arrays; None is dropped."""
    wire: Dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        wire[key] = to_wire(value) if key in _MESSAGE_PARAMS else value
    return wire


def _someone_elses_message(obj: Mapping[str, Any]) -> bool:
    """True for a message another user sent, the usual event: it says nothing about
    the account's state (``account_signal`` reads notices and meta events) nor about
    our sends (``own_message`` reads the bot's own messages), so the reader skips
    both for it. Cheap: three look-ups."""
    if obj.get("post_type") != "message":
        return False
    user_id, own_id = obj.get("user_id"), obj.get("self_id")
    return type(user_id) is int and type(own_id) is int and user_id != own_id


def _sslopt(verify: Union[bool, str]) -> Optional[Dict[str, Any]]:
    if verify is True:
        return None
    if verify is False:
        import ssl

        return {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
    return {"ca_certs": verify}
