"""OfficialBot: the official QQ Bot API (gateway or webhook), with replies that land once.

The facade ties the pure protocol modules to the shared runtime and transports:

* the access token (:mod:`.token`) refreshed in its last minute by one thread,
  at once on 401 / 11244 with the call replayed once;
* the gateway over the transport's reconnecting WebSocket (:mod:`.codec`,
  :mod:`.gateway`): Identify, Resume after a drop, heartbeats with an ACK
  watchdog, the close-code policy, fatal codes raised from :meth:`run`,
  ``/gateway/bot`` read again when the URL may be stale, one connection per shard;
* or a webhook listener (``listen=``) that checks ed25519 signatures (:mod:`.webhook`);
* repeated pushes (gateway or webhook) dropped by the shared
  :class:`~qqreliable.reliability.dedupe.Deduper` (fleet-wide claims with ``store=``);
* sends (:meth:`OfficialBot.reply`, ``send_*``) through the shared
  :class:`~qqreliable.reliability.verify.SendPipeline` with this API's facts
  (:mod:`.sends`): one ``msg_seq`` per logical message reused on every repeat
  (:mod:`.replies`, kept in a store), 502/503/429 repeated after ``Retry-After``,
  500/504 repeated only with the same ``msg_seq`` (so a 40054005 on the repeat
  means delivered), paced; the passive window and budget kept (proactive where
  allowed, else a typed error), markdown refused -> plain text (remembered),
  audit holds returned as ``pending_audit`` receipts, media uploaded once per
  ``ttl``, voice as SILK (:mod:`.voice`);
* :meth:`OfficialBot.reply_stream`: :mod:`.stream`.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple, Union
from urllib.parse import unquote, urlsplit

from ..exceptions import (
    ApiTimeout,
    AuthenticationError,
    BotStopped,
    ConnectFailed,
    Error,
    NetworkError,
    ResponseLost,
)
from ..message import Message, MessageSegment
from ..receipt import Receipt
from ..runtime.base import BotBase
from ..reliability.interfaces import MediaRef
from ..reliability.dedupe import Deduper
from ..reliability.media import Media, MediaAttemptError, MediaConfig, MediaFetcher
from ..reliability.sendpolicy import Pacing, SendPolicy
from ..reliability.verify import SendPipeline, attribute_of
from ..runtime.options import COMMON_OPTIONS, check_options, seconds
from ..runtime.supervisor import IoPool, Periodic
from ..scale import open_queue, open_store
from ..transport.rest import RestClient
from ..transport.server import WebhookServer, parse_listen
from ..transport.ws import WsClient
from .codec import GatewayBackoff, GatewayCodec, GatewayLiveness
from .codes import Answer, Kind, OfficialApiError, ReplyWindowClosed, audit_id_of, classify, error_for
from .events import Event, MESSAGE_SCENES, event_key, handler_key, intents_for
from .gateway import BACKOFF_STEPS, GatewayFatal, GatewaySession
from .message import (
    DEFAULT_TEXT_LIMIT,
    FILE_EXTENSIONS,
    FILE_TYPES,
    Part,
    guild_body,
    media_body,
    split_outbound,
    split_text,
    text_body,
)
from .replies import ReplyLedger
from .sends import SCENE_OF, OfficialSends, action_for
from .stream import StreamSender
from .token import TokenManager
from .voice import to_silk

__all__ = ["OfficialBot", "OfficialReceipt", "DEFAULT_API_BASE", "SANDBOX_API_BASE", "DEFAULT_TOKEN_URL",
           "OFFICIAL_PACING"]

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.sgroup.qq.com"
SANDBOX_API_BASE = "https://sandbox.api.sgroup.qq.com"
DEFAULT_TOKEN_URL = "https://bots.qq.com/app/getAppAccessToken"

#: The default pacing of OfficialBot: well under the platform's own limits (5 messages/s
#: per guild channel, about 50 requests/s on the stream endpoint), so a burst of replies
#: is smoothed rather than refused; with ``store=`` one budget for every process.
OFFICIAL_PACING = Pacing(target_rate=5.0, target_burst=10, global_rate=20.0, global_burst=40, max_wait=30.0)

_REPLYABLE_EVENTS = {"FRIEND_ADD": "c2c", "C2C_MSG_RECEIVE": "c2c", "GROUP_ADD_ROBOT": "group",
                     "GROUP_MSG_RECEIVE": "group", "INTERACTION_CREATE": ""}


def _reply_note(event: Event) -> Optional[Tuple[str, str]]:
    """``(anchor, scene)`` for the reply ledger: a message's id, or the event id of an
    event that may be answered passively; None for the rest."""
    t = event.type
    scene = MESSAGE_SCENES.get(t)
    if scene is not None:
        ident = event.get("id")
        if ident is None or ident == "":
            return None
        return (ident if type(ident) is str else str(ident)), scene
    kind = _REPLYABLE_EVENTS.get(t)
    if kind is None or not event.event_id:
        return None
    return event.event_id, kind or ("group" if event.get("group_openid") else "c2c")


class OfficialReceipt(Receipt):
    """A :class:`~qqreliable.Receipt` whose ``message_id`` is the platform's string id.

    A message the platform accepted but holds for human review (HTTP 201/202, codes
    304023/304024) is not an error and is never resent: its receipt has
    :attr:`pending_audit` True, :attr:`audit_id` set and no ``message_id``; the
    verdict arrives later as a ``MESSAGE_AUDIT_PASS`` / ``MESSAGE_AUDIT_REJECT`` event.
    """

    @property
    def message_id(self) -> Optional[str]:  # type: ignore[override]
        value = self.get("message_id")
        return None if value in (None, "") else str(value)

    @property
    def pending_audit(self) -> bool:
        """True when (a part of) the message is held for the platform's review."""
        return bool(self.get("pending_audit"))

    @property
    def audit_id(self) -> Optional[str]:
        """The review's id (``data.message_audit.audit_id``) when held, else None."""
        value = self.get("audit_id")
        return None if value in (None, "") else str(value)


class _WebhookPolicy:
    name = "official webhook"
    auth_scheme = "Ed25519"

    def __init__(self, secret: str, max_age: Optional[float]) -> None:
        from .webhook import WebhookKeys

        self.keys = WebhookKeys(secret)  # MissingDependency without cryptography
        self.max_age = max_age
        self.stale = 0

    def verify(self, head: Any, body: bytes) -> int:
        signature = head.header("X-Signature-Ed25519")
        timestamp = head.header("X-Signature-Timestamp")
        if not signature or not timestamp:
            return 401
        if not self.keys.verify(timestamp, body, signature):
            return 403
        if self.max_age is not None:
            try:
                age = abs(time.time() - float(timestamp))
            except ValueError:
                return 403
            if age > self.max_age:
                self.stale += 1
                log.warning("refused a webhook POST signed %.0fs ago (a replay?)", age)
                return 403
        return 0

    def accept(self, head: Any, obj: Dict[str, Any]) -> Optional[str]:
        return None if isinstance(obj.get("op"), int) else "not an official callback (no op)"


class OfficialBot(BotBase):
    """A bot on the official QQ Bot API. Thread-safe.

    Args:
        app_id: the bot's AppID.
        secret: the bot's AppSecret.
        listen: ``http://host:port/path``: receive events by webhook instead of the gateway.
        sandbox: use the sandbox API host.
        intents: gateway intents (default: computed from the handlers registered).
        api_base: the API host (FakeOfficial's ``url`` in tests).
        token_url: the ``getAppAccessToken`` URL.
        shard: ``(shard_id, shard_count)`` of the one connection (when ``shards`` is None).
        shards: open N connections, shard ``[i, N]`` each (events of guilds are split
            between them by the platform); ``"auto"``: N from ``/gateway/bot``'s
            ``shards``. Refused (``GatewayFatal`` from ``run()``) beyond the sessions
            left today. None (default): one connection, ``shard``.
        shard_interval: seconds between two shards' starts (default
            ``5 / max_concurrency`` of ``/gateway/bot``, at least 1).
        api_timeout: seconds per HTTP request (the platform advises >= 5).
        send_attempts: tries per message when the platform says it did not (or may not) run it.
        retry_backoff: first wait between two tries (doubled, capped at 30 s).
        markdown: send text as markdown (``msg_type`` 2) until the platform refuses it.
        text_limit: UTF-8 bytes per text message before it is split.
        proactive: scenes where a reply past its window or budget may go proactive.
        reply_margin: stop replying passively this many seconds before the window ends.
        stream_interval: default seconds between two stream chunks.
        stream_index_base: ``stream.index`` of a stream's first chunk.
        reconnect_steps: seconds between failed reconnects (the last repeats).
        storm_delay: wait after three connections closed right after opening.
        heartbeat_grace: a gateway silent for this many heartbeat intervals is dead.
        connect_timeout: seconds for a connection and its handshake.
        upload_timeout: seconds per media upload (the platform answers only once it
            has the file: faults MEDIA-08).
        large_upload_timeout: per upload by URL or of more than 10 MiB.
        webhook_max_age: webhook POSTs signed longer ago than this are refused (replays);
            None: no check.
        chunked_upload_threshold: files larger than this (bytes) go up in parts
            (``upload_prepare``, one PUT per part, ``upload_part_finish``).
        verify: TLS verification for the API (a CA bundle path works too).
        media_cache: as on ``Bot``: where :meth:`fetch_image` caches (a
            :class:`~qqreliable.MediaConfig`, a directory, or None for the default).
        workers: handler threads (as on every bot).
        queue_size: events waiting for a handler at most; more are dropped and counted.
        shutdown_grace: seconds ``stop()`` waits for running handlers.
        store: ``"redis://host:port/db"`` (or a Store): state shared by several
            processes of this app: each dispatch handled once, the passive-reply
            state, and the access token (one refresh for the fleet). None: this process.
        handlers: ``"threads"``, or ``"queue"`` (needs a Redis ``store``): dispatches go
            to an RQ queue run by ``python -m qqreliable worker app:bot`` (a worker
            opens no gateway session: it calls the REST API with the shared token).
    """

    MESSAGE_KINDS: FrozenSet[str] = frozenset({"c2c", "group", "guild", "direct"})

    def __init__(
        self,
        app_id: str,
        secret: str,
        *,
        listen: Optional[str] = None,
        sandbox: bool = False,
        intents: Optional[int] = None,
        api_base: Optional[str] = None,
        token_url: str = DEFAULT_TOKEN_URL,
        shard: Tuple[int, int] = (0, 1),
        shards: Union[int, str, None] = None,
        shard_interval: Optional[float] = None,
        api_timeout: float = 10.0,
        send_attempts: int = 3,
        retry_backoff: float = 1.0,
        markdown: bool = False,
        text_limit: int = DEFAULT_TEXT_LIMIT,
        proactive: Sequence[str] = ("c2c", "group"),
        reply_margin: float = 20.0,
        stream_interval: float = 1.0,
        stream_index_base: int = 0,
        reconnect_steps: Sequence[float] = BACKOFF_STEPS,
        storm_delay: float = 60.0,
        heartbeat_grace: float = 2.5,
        connect_timeout: float = 10.0,
        upload_timeout: float = 30.0,
        large_upload_timeout: float = 120.0,
        webhook_max_age: Optional[float] = 300.0,
        chunked_upload_threshold: int = 10 * 1024 * 1024,
        verify: Any = True,
        media_cache: Any = None,
        send_policy: Optional[SendPolicy] = None,
        pacing: Optional[Pacing] = OFFICIAL_PACING,
        dedupe_size: int = 20_000,
        dedupe_ttl: float = 3600.0,
        workers: int = 8,
        queue_size: int = 10_000,
        shutdown_grace: float = 5.0,
        store: Any = None,
        handlers: str = "threads",
    ) -> None:
        if not app_id or not secret:
            raise ValueError("OfficialBot needs app_id= and secret=")
        if send_attempts < 1:
            raise ValueError("send_attempts must be at least 1")
        if api_timeout <= 0:
            raise ValueError("api_timeout must be positive")
        check_options({"store": store, "handlers": handlers, "send_policy": send_policy, "pacing": pacing,
                       "dedupe_size": dedupe_size, "dedupe_ttl": dedupe_ttl}, COMMON_OPTIONS)
        seconds(none=True, zero=True)("shard_interval", shard_interval)
        shared = open_store(store)  # ValueError for a bad URL; nothing connects yet
        queue = open_queue(shared, handlers)
        super().__init__(workers=workers, queue_size=queue_size, shutdown_grace=shutdown_grace, store=shared)
        self._share_events(event_key, dedupe_ttl, queue)
        self.app_id = str(app_id)
        self._secret = str(secret)
        self.listen = listen
        self._listen_address = parse_listen(listen) if listen else None
        self.api_base = (api_base or (SANDBOX_API_BASE if sandbox else DEFAULT_API_BASE)).rstrip("/")
        self.token_url = token_url
        self._intents = intents
        self.shard = (int(shard[0]), int(shard[1]))
        if shards is not None and shards != "auto" and (
                not isinstance(shards, int) or isinstance(shards, bool) or shards < 1):
            raise ValueError(f"shards must be a whole number of at least 1, 'auto' or None, not {shards!r}")
        self.shards = shards
        self.shard_interval = shard_interval
        self.api_timeout = api_timeout
        self.send_attempts = send_attempts
        self.retry_backoff = retry_backoff
        self.markdown = markdown
        self.text_limit = text_limit
        self.stream_interval = stream_interval
        self.stream_index_base = stream_index_base
        self.reconnect_steps = tuple(reconnect_steps)
        self.storm_delay = storm_delay
        self.heartbeat_grace = heartbeat_grace
        self.connect_timeout = connect_timeout
        self.upload_timeout = max(upload_timeout, api_timeout)
        self.large_upload_timeout = max(large_upload_timeout, self.upload_timeout)
        self.webhook_max_age = webhook_max_age
        self.chunked_upload_threshold = chunked_upload_threshold
        self._verify = verify
        self._ledger = ReplyLedger(margin=reply_margin, proactive=proactive, store=shared, app_id=self.app_id)
        self._rest = RestClient(self.api_base, verify=verify, connect_timeout=min(connect_timeout, 10.0),
                                pool_size=workers + 4)
        self._tokens = TokenManager(self.app_id, self._secret, token_url=token_url, fetch=self._fetch_token,
                                    wait=self._supervisor.stopping.wait, timeout=api_timeout,
                                    backoff=retry_backoff)
        if shared is not None:
            self._tokens.share(shared)  # one getAppAccessToken for the fleet
        self._session: Optional[GatewaySession] = None  # the first shard's
        self._ws: Optional[WsClient] = None  # the first shard's
        self._shard_clients: List[WsClient] = []
        self._shards_lock = threading.Lock()
        self._webhook: Optional[WebhookServer] = None
        self._webhook_policy: Optional[_WebhookPolicy] = None
        # Repeated pushes (gateway and webhook alike) dropped by the dispatch's identity;
        # with a store the claims of _share_events do it fleet-wide instead.
        self._dedupe = Deduper(size=dedupe_size, ttl=dedupe_ttl, key=event_key)
        # Sends: the shared pipeline (outcome, the same msg_seq on repeats, pacing).
        self._sends = SendPipeline(
            # verify_ok_without_id off: the only answer without an id is an audit hold.
            policy=send_policy if send_policy is not None else SendPolicy(max_attempts=send_attempts,
                                                                           verify_ok_without_id=False),
            pacing=pacing,
            call=self._attempt,
            facts=OfficialSends(on_duplicate=lambda: self._count("duplicates_as_delivered")),
            self_id=attribute_of(self, "app_id"),
            events_live=None,  # the platform reports no own messages
            stopping=self._supervisor.stopping,
            stats=self._call_stats,
        )
        if shared is not None:
            self._sends.share(shared)  # one account's pacing across processes
        media_config = MediaConfig.from_option(media_cache)
        self._io_pool = IoPool("official-media-io", max_workers=media_config.workers)
        # The official API has no get_image: the attachment URL is the only path.
        self._media = MediaFetcher(_AttachmentsOnly(), self._io_pool.submit, media_config)
        self._files: Dict[Tuple[str, str, int], Tuple[str, float]] = {}
        self._files_lock = threading.Lock()
        self._counters_lock = threading.Lock()
        self.counters: Dict[str, int] = {
            "sent": 0, "retries": 0, "duplicates_as_delivered": 0, "went_proactive": 0, "markdown_fallbacks": 0,
            "uploads": 0, "upload_cache_hits": 0, "events": 0, "webhook_events": 0,
        }

    # ------------------------------------------------------------------ handlers

    def on(self, *names: str) -> Any:
        """Register a handler by event name: a dispatch name (``"GROUP_AT_MESSAGE_CREATE"``,
        ``"FRIEND_ADD"``) or a dotted one (``"message.c2c"``, ``"notice"``)."""
        if not names or not all(isinstance(n, str) and n for n in names):
            raise TypeError("on() takes one or more event names, e.g. on('GROUP_AT_MESSAGE_CREATE')")
        return super().on(*(handler_key(n) for n in names))

    @property
    def intents(self) -> int:
        """The intents Identify asks for (given, or computed from the handlers)."""
        if self._intents is not None:
            return self._intents
        return intents_for(self._dispatcher.keys())

    # ------------------------------------------------------------------ lifecycle hooks

    def _describe(self) -> str:
        return self.listen or self.api_base

    def _open(self) -> None:
        spawn = self._supervisor.spawn
        stopping = self._supervisor.stopping
        if self._worker_mode:
            # A queue worker only calls the REST API: no gateway session (the owner has it;
            # sessions per bot are limited) and no webhook listener. Connected = has a token.
            spawn("official-token-check", self._check_token_once)
        elif self._listen_address is not None:
            policy = _WebhookPolicy(self._secret, self.webhook_max_age)
            self._webhook_policy = policy
            self._webhook = WebhookServer(self._listen_address, spawn=spawn, stopping=stopping, policy=policy,
                                          on_event=self._on_webhook)
            self._webhook.start()
            spawn("official-token-check", self._check_token_once)
        else:
            spawn("official-gateway", self._gateway_main)
        spawn("official-token", Periodic(self._refresh_token, self._refresh_period, stopping))

    def _close(self, deadline: float) -> None:
        self._sends.close()
        with self._shards_lock:
            clients = list(self._shard_clients)
        for ws in clients:
            ws.close()
        if self._webhook is not None:
            self._webhook.close()
        self._media.close()
        self._io_pool.shutdown(max(0.0, deadline - time.monotonic()))
        self._rest.close()

    def _stats(self) -> Dict[str, Any]:
        with self._counters_lock:
            out: Dict[str, Any] = {"official": dict(self.counters)}
        if self._ws is not None:
            out["gateway"] = self._ws.stats()
        with self._shards_lock:
            clients = list(self._shard_clients)
        if len(clients) > 1:
            out["gateway_shards"] = [c.stats() for c in clients]
        out["official"]["duplicates_dropped"] = self._dedupe.duplicates + (
            self._claims.duplicates if self._claims is not None else 0)
        out["sends"] = self._sends.stats()
        if self._webhook is not None:
            out["webhook"] = self._webhook.stats()
        out["official"]["token_fetches"] = self._tokens.fetches
        if self._store is not None:
            out["official"]["token_adopted"] = self._tokens.adopted
        return out

    def _count(self, key: str, n: int = 1) -> None:
        with self._counters_lock:
            self.counters[key] = self.counters.get(key, 0) + n

    @property
    def url(self) -> Optional[str]:
        """The webhook's listen URL with the real port (after :meth:`start`), else None."""
        return self._webhook.url if self._webhook is not None else None

    # ------------------------------------------------------------------ token

    def _fetch_token(self, url: str, body: dict, timeout: float) -> Tuple[int, Any, dict]:
        answer = self._rest.request("POST", url, body, timeout=timeout, name="getAppAccessToken")
        return answer.status, answer.body, answer.headers

    def _refresh_period(self) -> float:
        return max(0.5, min(self._tokens.refresh_in(), 60.0))

    def _refresh_token(self) -> None:
        if self._tokens.refresh_in() > 0:
            return
        try:
            self._tokens.token()
        except AuthenticationError as exc:
            self._supervisor.fail(exc)
        except BotStopped:
            pass
        except Error as exc:
            log.warning("access token refresh failed: %s", exc)

    def _check_token_once(self) -> None:
        """Webhook mode: a wrong app_id/secret still ends run(); a token means the bot
        can send, so it counts as connected."""
        try:
            self._tokens.token()
            self._mark_connected(None)
        except AuthenticationError as exc:
            self._supervisor.fail(exc)
        except Error as exc:
            log.warning("access token not fetched yet: %s", exc)

    # ------------------------------------------------------------------ gateway

    def _gateway_info(self) -> Dict[str, Any]:
        """``/gateway/bot``'s answer (``url``, ``shards``, ``session_start_limit``), retried
        until it answers (AuthenticationError is final)."""
        failures = 0
        while True:
            try:
                answer = self._api("GET", "/gateway/bot")
                if answer.ok and isinstance(answer.body.get("url"), str):
                    return answer.body
                raise error_for(answer, "GET /gateway/bot")
            except AuthenticationError:
                raise
            except OfficialApiError as exc:
                if exc.kind is Kind.AUTH:
                    raise AuthenticationError(f"GET /gateway/bot refused: {exc}", status=exc.http_status) from exc
                why: Exception = exc
            except NetworkError as exc:
                why = exc
            failures += 1
            steps = self.reconnect_steps or BACKOFF_STEPS
            delay = steps[min(failures, len(steps)) - 1]
            log.warning("cannot get the gateway URL (%s); retrying in %.1fs", why, delay)
            if self._supervisor.stopping.wait(delay):
                raise BotStopped("stopped while getting the gateway URL")

    def _refetch_gateway_url(self, client: WsClient) -> None:
        """Read ``/gateway/bot`` once more and point ``client`` at its ``url`` (the
        connection's own thread, between two connections). Raises what the API raised."""
        answer = self._api("GET", "/gateway/bot")
        if not answer.ok or not isinstance(answer.body.get("url"), str):
            raise error_for(answer, "GET /gateway/bot")
        url = answer.body["url"]
        self._count("gateway_refetches")
        if client.url != url:
            log.info("the gateway moved: %s -> %s", client.url, url)
            client.url = url

    def _shard_plan(self, info: Mapping[str, Any]) -> Tuple[List[Tuple[int, int]], float]:
        """The shards to open and the pause between two starts (qq-official.md §3.1, §3.8).

        Raises:
            GatewayFatal: more shards than the sessions left for today.
        """
        if self.shards is None:
            return [self.shard], 0.0
        limit = info.get("session_start_limit")
        limit = limit if isinstance(limit, Mapping) else {}
        if self.shards == "auto":
            recommended = info.get("shards")
            count = recommended if isinstance(recommended, int) and not isinstance(recommended, bool) else 1
            count = max(1, count)
        else:
            count = int(self.shards)
        remaining = limit.get("remaining")
        if isinstance(remaining, int) and not isinstance(remaining, bool) and remaining < count:
            raise GatewayFatal(f"{count} shards need {count} gateway sessions, and only {remaining} are left "
                               f"today (session_start_limit; it resets in {limit.get('reset_after')} ms)")
        if self.shard_interval is not None:
            interval = self.shard_interval
        else:
            concurrency = limit.get("max_concurrency")
            per = concurrency if isinstance(concurrency, int) and concurrency > 0 else 1
            interval = max(1.0, round(5.0 / per))  # max_concurrency starts per 5 s
        return [(i, count) for i in range(count)], interval

    def _gateway_main(self) -> None:
        try:
            info = self._gateway_info()
            shards, interval = self._shard_plan(info)
        except BotStopped:
            return
        except AuthenticationError as exc:
            self._supervisor.fail(exc)
            return
        url = str(info["url"])
        if len(shards) > 1:
            log.info("gateway: %d shards, one connection each, started %.1fs apart", len(shards), interval)
        for n, shard in enumerate(shards):
            if n and self._supervisor.stopping.wait(interval):
                return
            if self._supervisor.stopping.is_set():
                return
            client = self._shard_client(url, shard)
            tag = "" if shard[1] == 1 and shard[0] == 0 else f"-{shard[0]}"
            self._supervisor.spawn(
                f"official-gateway-watchdog{tag}",
                Periodic(client.watchdog, client.watchdog_period, self._supervisor.stopping),
            )
            if n == len(shards) - 1:
                client.run()  # the last shard on this thread
            else:
                self._supervisor.spawn(f"official-gateway{tag}", client.run)

    def _shard_client(self, url: str, shard: Tuple[int, int]) -> WsClient:
        """One shard's session, codec and reconnecting WebSocket client."""
        session = GatewaySession(intents=self.intents, shard=shard, backoff_steps=self.reconnect_steps,
                                 storm_delay=self.storm_delay)
        codec = GatewayCodec(session, token=self._tokens.token, on_ready=self._on_ready,
                             on_token_rejected=self._tokens.invalidate)
        holder: List[WsClient] = []
        client = WsClient(
            url,
            codec=codec,
            liveness=GatewayLiveness(codec, grace=self.heartbeat_grace, event_grace=max(4.0, self.heartbeat_grace)),
            backoff=GatewayBackoff(codec, steps=self.reconnect_steps,
                                   refetch=lambda: self._refetch_gateway_url(holder[0])),
            on_event=self._on_dispatch,
            on_events=self._on_dispatches,
            on_open=lambda c: None,
            on_close=lambda c, reason: self._mark_disconnected(reason),
            stopping=self._supervisor.stopping,
            fail=self._supervisor.fail,
            connect_timeout=self.connect_timeout,
            sslopt=(
                None if self._verify is True
                else {"ca_certs": self._verify} if isinstance(self._verify, str)
                else None
            ),
        )
        holder.append(client)
        with self._shards_lock:
            self._shard_clients.append(client)
            if self._ws is None:
                self._ws = client
                self._session = session
        return client

    def _on_ready(self, user: Dict[str, Any], resumed: bool) -> None:
        log.info("gateway %s as %s", "resumed" if resumed else "ready", user.get("username") or user.get("id"))
        self._mark_connected(user.get("id"))

    # ------------------------------------------------------------------ inbound

    def _event_from(self, obj: Dict[str, Any]) -> Event:
        """A dispatch taken over from a dead process, or run by a queue worker: its
        message is noted in the reply ledger here too (``event.reply()`` is passive)."""
        event = Event.from_payload(obj, bot=self)
        self._note_inbound(event)
        return event

    def _note_inbound(self, event: Event) -> None:
        note = _reply_note(event)
        if note is not None:
            self._ledger.received(*note)

    def _raw_event(self, event: Any) -> Dict[str, Any]:
        return {"op": 0, "t": event.type, "id": event.event_id, "s": event.seq, "d": dict(event)}

    def _on_dispatch(self, frame: Dict[str, Any]) -> None:
        """Reader thread: one dispatch (duplicates already dropped); never blocks.

        With a ``store``, the dispatch is claimed across processes first: the
        process that claims it handles it (see docs/deployment.md).
        """
        admitted, claim = self._admit(frame, self._dedupe)
        if not admitted:
            return
        event = Event.from_payload(frame, bot=self)
        self._count("events")
        self._note_inbound(event)
        if event.type == "INTERACTION_CREATE" and event.get("id"):
            self._dispatcher.submit_job(self._ack_interaction, str(event["id"]))
        self._submit(event, claim)

    def _on_dispatches(self, frames: List[Dict[str, Any]]) -> None:
        """Reader thread: the dispatches of one read, in order: what
        :meth:`_on_dispatch` does for each, queued for the handlers under one lock
        with at most one wake-up. With a store or the worker queue, one by one."""
        if self._claims is not None or self._queue is not None or self._worker_mode:
            for frame in frames:
                self._on_dispatch(frame)
            return
        from_payload = Event.from_payload
        events: List[Event] = []
        notes: List[Tuple[str, str]] = []
        for frame in self._dedupe.fresh(frames):
            event = from_payload(frame, bot=self)
            note = _reply_note(event)
            if note is not None:
                notes.append(note)
            if event.type == "INTERACTION_CREATE" and event.get("id"):
                if notes:  # noted before its ack and its handlers, as one by one
                    self._ledger.received_many(notes)
                    notes = []
                self._dispatcher.submit_job(self._ack_interaction, str(event["id"]))
            events.append(event)
        if notes:
            self._ledger.received_many(notes)
        if events:
            self._count("events", len(events))
            self._dispatcher.submit_events(events)

    def _on_webhook(self, obj: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """Listener thread: answer at once; handlers run after the ack."""
        op = obj.get("op")
        d = obj.get("d")
        if op == 13:
            if not isinstance(d, dict) or not isinstance(d.get("plain_token"), str):
                return {"code": 400, "message": "op 13 without plain_token"}
            token = d["plain_token"]
            if self._webhook_policy is None:  # pragma: no cover - set before the listener starts
                return {"code": 500, "message": "webhook keys not ready"}
            signature = self._webhook_policy.keys.sign_validation(str(d.get("event_ts", "")), token)
            return {"plain_token": token, "signature": signature}
        if op == 1:
            return {"op": 11, "d": d if isinstance(d, int) else 0}
        if op != 0:
            return {"op": 12, "d": 0}
        self._count("webhook_events")
        if not self._connected:
            self._mark_connected(None)
        self._on_dispatch(obj)  # repeats dropped there, as on the gateway
        return {"op": 12, "d": 0}

    def _ack_interaction(self, interaction_id: str) -> None:
        try:
            answer = self._api("PUT", f"/interactions/{interaction_id}", {"code": 0})
            if not answer.ok:
                log.warning("INTERACTION_CREATE %s not acknowledged: %s", interaction_id, answer.message)
        except Error as exc:
            log.warning("INTERACTION_CREATE %s not acknowledged: %s", interaction_id, exc)

    # ------------------------------------------------------------------ HTTP

    def _api(self, method: str, path: str, body: Any = None, *, timeout: Optional[float] = None) -> Answer:
        """One API request with the token (refreshed and replayed once on 401/11244).

        Raises:
            NetworkError: no answer (ConnectFailed: not sent; ApiTimeout/ResponseLost: may have run).
            AuthenticationError: a fresh token was refused too.
        """
        name = f"{method} {path}"

        def attempt(authorization: str) -> Answer:
            raw = self._rest.request(method, path, body, timeout=timeout or self.api_timeout, name=name,
                                     headers={"Authorization": authorization, "X-Union-Appid": self.app_id})
            answer = classify(raw.status, raw.body, raw.headers)
            if answer.kind is Kind.TOKEN:
                raise error_for(answer, name)
            if answer.kind is not Kind.OK:
                log.debug("%s answered %s %s %s (trace %s)", name, answer.status, answer.code, answer.message,
                          answer.trace_id)
            return answer

        return self._tokens.call(attempt)

    def _wait(self, seconds: float, what: str) -> None:
        if self._supervisor.stopping.wait(max(0.0, seconds)):
            raise BotStopped(f"{what}: the bot is stopping")

    def _attempt(self, action: str, params: Dict[str, Any], timeout: float) -> Dict[str, Any]:
        """One POST of one message (the pipeline's ``call``): the answer's body, or the
        typed error of a refusal; the transport's errors as raised."""
        path = self._path(SCENE_OF[action], params["target"])
        answer = self._api("POST", path, params["body"], timeout=timeout)
        if answer.ok:
            return answer.body
        if answer.kind is Kind.AUDIT:
            # 201/202, 304023/304024: accepted and held for review; it is delivered (or
            # not) when the review ends (MESSAGE_AUDIT_PASS / _REJECT). Never resent.
            audit = audit_id_of(answer.body)
            log.info("POST %s: held for audit (%s %s, audit id %s)", path, answer.code, answer.message, audit)
            self._count("pending_audit")
            return {"pending_audit": True, "audit_id": audit, "code": answer.code, "message": answer.message}
        raise error_for(answer, f"POST {path}")

    def _post(self, scene: str, target: str, body: Dict[str, Any]) -> Receipt:
        """POST one logical message through the send pipeline: repeated as is (the same
        ``msg_seq``) where that is safe, paced, a 40054005 on a repeat = delivered.

        Raises the typed error of a refusal, :class:`~qqreliable.SendUnconfirmed` when an
        unknown outcome could not be settled, RateLimited beyond the pacing's wait.
        """
        return self._sends.send(action_for(scene), {"target": target, "body": body}, self.api_timeout)

    # ------------------------------------------------------------------ sends

    @staticmethod
    def _path(scene: str, target: str) -> str:
        if scene == "c2c":
            return f"/v2/users/{target}/messages"
        if scene == "group":
            return f"/v2/groups/{target}/messages"
        if scene == "guild":
            return f"/channels/{target}/messages"
        if scene == "direct":
            return f"/dms/{target}/messages"
        raise ValueError(f"unknown scene {scene!r}")

    def _send_body(self, scene: str, target: str, body: Dict[str, Any], anchor: Tuple[Optional[str], Optional[str]],
                   ) -> Receipt:
        """Send one message body with a slot of its own; past the window or budget go
        proactive once (where allowed) or raise the typed error."""
        msg_id, event_id = anchor
        slot = self._ledger.plan(scene, msg_id, event_id=event_id)  # a proactive slot carries no msg_id
        if (msg_id or event_id) and not slot.passive:
            self._count("went_proactive")
        try:
            receipt = self._post(scene, target, dict(body, **slot.fields()))
        except OfficialApiError as exc:
            if slot.passive and exc.kind in (Kind.WINDOW, Kind.BUDGET):
                self._ledger.mark(msg_id or event_id or "", "budget" if exc.kind is Kind.BUDGET else "window")
                retry = self._ledger.proactive_slot(scene, "budget" if exc.kind is Kind.BUDGET else "window",
                                                    msg_id or event_id)
                self._count("went_proactive")
                again = self._post(scene, target, dict(body, **retry.fields()))
                return Receipt(again, attempts=again.attempts + 1, verified=again.verified,
                               message_id=again.message_id)
            raise
        return receipt

    def _send_message(self, scene: str, target: str, message: Any, *, msg_id: Optional[str] = None,
                      event_id: Optional[str] = None) -> OfficialReceipt:
        self._require_started("send")
        if not target:
            raise ValueError(f"no {scene} target to send to")
        parts = split_outbound(message, scene, limit=self.text_limit)
        if not parts:
            raise ValueError("the message is empty")
        ids: List[str] = []
        total = 0
        verified = False
        audits: List[str] = []
        held = False
        for part in parts:
            for receipt in self._send_part(scene, target, part, (msg_id, event_id)):
                total += receipt.attempts
                verified = verified or receipt.verified
                if receipt.message_id:
                    ids.append(str(receipt.message_id))
                if receipt.get("pending_audit"):
                    held = True
                    if receipt.get("audit_id"):
                        audits.append(str(receipt["audit_id"]))
        data: Dict[str, Any] = {"message_id": ids[0] if ids else None, "message_ids": ids}
        if held:
            data.update(pending_audit=True, audit_id=audits[0] if audits else None, audit_ids=audits)
        return OfficialReceipt(data, attempts=total, verified=verified)

    def _send_part(self, scene: str, target: str, part: Part,
                   anchor: Tuple[Optional[str], Optional[str]]) -> List[Receipt]:
        if part.kind == "media":
            assert part.segment is not None
            return [self._send_media(scene, target, part.segment, anchor)]
        markdown = part.kind == "markdown" or self.markdown
        text = part.text
        while True:
            if scene in ("guild", "direct"):
                body = guild_body(text, markdown=markdown)
            else:
                body = text_body(text, markdown=markdown)
            try:
                receipt = self._send_body(scene, target, body, anchor)
                self._count("sent")
                return [receipt]
            except OfficialApiError as exc:
                if exc.kind is Kind.MARKDOWN_REFUSED and markdown:
                    log.info("markdown refused (%s); sending plain text from now on", exc)
                    self.markdown = False
                    markdown = False
                    self._count("markdown_fallbacks")
                    continue
                if exc.kind is Kind.TOO_LONG and len(text.encode("utf-8")) > 200:
                    half = max(100, len(text.encode("utf-8")) // 2)
                    out: List[Receipt] = []
                    for piece in split_text(text, half):
                        out.extend(self._send_part(scene, target, Part("text", piece), anchor))
                    return out
                raise

    def _send_media(self, scene: str, target: str, segment: MessageSegment,
                    anchor: Tuple[Optional[str], Optional[str]]) -> Receipt:
        if scene in ("guild", "direct"):
            url = str(segment.data.get("url") or segment.data.get("file") or "")
            if segment.type != "image" or not url.startswith(("http://", "https://")):
                raise ValueError("guild channels and DMs take images by http(s) URL only")
            return self._send_body(scene, target, guild_body(image=url), anchor)
        file_info = self._upload(scene, target, segment)
        caption = str(segment.data.get("caption") or "")
        receipt = self._send_body(scene, target, media_body(file_info, caption), anchor)
        self._count("sent")
        return receipt

    def _upload(self, scene: str, target: str, segment: MessageSegment) -> str:
        """``file_info`` for a media segment, uploaded once per (content, scope, type) until its ttl."""
        file_type = FILE_TYPES[segment.type]
        source = str(segment.data.get("url") or segment.data.get("file") or "")
        body: Dict[str, Any] = {"file_type": file_type, "srv_send_msg": False}
        voice = segment.type == "record"
        if source.startswith(("http://", "https://")) and not (voice and not _silk_url(source)):
            body["url"] = source
            digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
            timeout = self.large_upload_timeout  # the platform downloads it before it answers
        else:
            if voice and source.startswith(("http://", "https://")):
                # A voice URL that does not say SILK: fetched here, checked, converted or refused.
                data = self._media.fetch("record", source, self.large_upload_timeout).data
            else:
                data = _media_bytes(source)
            if voice:
                data = to_silk(data)  # VoiceNotSilk: nothing uploaded
            digest = hashlib.sha256(data).hexdigest()
            timeout = self.large_upload_timeout if len(data) > 10 * 1024 * 1024 else self.upload_timeout
            if len(data) > self.chunked_upload_threshold:
                body["upload_id"] = None  # set below, once the parts are up
            else:
                body["file_data"] = base64.b64encode(data).decode("ascii")
        if segment.data.get("name"):
            body["file_name"] = str(segment.data["name"])
        key = (digest, scene, file_type)  # reusable across targets of the same kind until its ttl
        now = time.monotonic()
        with self._files_lock:
            cached = self._files.get(key)
            if cached is not None and cached[1] > now:
                self._count("upload_cache_hits")
                return cached[0]
        base = f"/v2/users/{target}" if scene == "c2c" else f"/v2/groups/{target}"
        path = f"{base}/files"
        if "upload_id" in body:
            body["upload_id"] = self._upload_parts(base, file_type, data, segment)
            body.setdefault("file_name", str(segment.data.get("name") or f"file{FILE_EXTENSIONS.get(file_type, '')}"))
        delay = self.retry_backoff
        for attempt in range(1, self.send_attempts + 2):
            try:
                answer = self._api("POST", path, body, timeout=timeout)
            except ConnectFailed:
                if attempt > self.send_attempts:
                    raise
                answer = None
            except (ApiTimeout, ResponseLost):
                # An upload has no effect until it is sent: trying again is safe.
                if attempt > self.send_attempts:
                    raise
                answer = None
            if answer is not None:
                if answer.ok and isinstance(answer.body.get("file_info"), str):
                    ttl = answer.body.get("ttl")
                    ttl_s = float(ttl) if isinstance(ttl, (int, float)) and not isinstance(ttl, bool) else 0.0
                    lifetime = ttl_s - 5.0 if ttl_s > 0 else 3600.0
                    with self._files_lock:
                        self._files[key] = (answer.body["file_info"], time.monotonic() + lifetime)
                    self._count("uploads")
                    return str(answer.body["file_info"])
                retryable = answer.kind in (Kind.MEDIA_RETRY, Kind.RETRY, Kind.UNKNOWN)
                if not retryable or attempt > self.send_attempts:
                    raise error_for(answer, f"POST {path}")
                log.warning("upload to %s failed (%s %s); retrying", path, answer.code, answer.message)
            self._wait(delay, f"POST {path}")
            delay = min(30.0, delay * 2)
        raise AssertionError("unreachable")  # pragma: no cover

    def _upload_parts(self, base: str, file_type: int, data: bytes, segment: MessageSegment) -> str:
        """A large file in parts: ``upload_prepare``, a PUT per part, ``upload_part_finish``;
        returns the ``upload_id`` for ``/files``. Every step is safe to repeat."""
        name = str(segment.data.get("name") or f"file{FILE_EXTENSIONS.get(file_type, '')}")
        prepare = self._api("POST", f"{base}/upload_prepare", {
            "file_type": file_type, "file_size": str(len(data)), "file_name": name,
            "md5": hashlib.md5(data).hexdigest(), "sha1": hashlib.sha1(data).hexdigest(),
            "md5_10m": hashlib.md5(data[:10002432]).hexdigest(),
        }, timeout=self.upload_timeout)
        if not prepare.ok:
            raise error_for(prepare, f"POST {base}/upload_prepare")
        nested = prepare.body.get("data")
        info = nested if isinstance(nested, dict) else prepare.body
        upload_id = info.get("upload_id")
        block = info.get("block_size")
        parts = info.get("parts")
        if not isinstance(upload_id, str) or not isinstance(block, int) or block <= 0 or not isinstance(parts, list):
            raise error_for(prepare, f"POST {base}/upload_prepare: no upload_id, block_size or parts")
        indexes = [p.get("index", p.get("part_index")) for p in parts if isinstance(p, dict)]
        lowest = min(i for i in indexes if isinstance(i, int))  # parts may count from 0 or from 1
        for part in parts:
            index = part.get("index", part.get("part_index"))
            chunk = data[(index - lowest) * block:(index - lowest + 1) * block]
            self._put_part(str(part["presigned_url"]), chunk)
            self._finish_part(base, upload_id, index, chunk)
        return upload_id

    def _put_part(self, url: str, chunk: bytes) -> None:
        delay = self.retry_backoff
        for attempt in range(1, self.send_attempts + 2):
            try:
                answer = self._rest.request("PUT", url, raw=chunk, timeout=self.large_upload_timeout,
                                            name="PUT part")  # presigned: no QQ credentials
                if 200 <= answer.status < 300:
                    return
                problem: Exception = error_for(classify(answer.status, answer.body, answer.headers), "PUT part")
            except NetworkError as exc:  # a PUT of the same bytes is idempotent
                problem = exc
            if attempt > self.send_attempts:
                raise problem
            self._wait(delay, "PUT part")
            delay = min(30.0, delay * 2)

    def _finish_part(self, base: str, upload_id: str, index: int, chunk: bytes) -> None:
        body = {"upload_id": upload_id, "part_index": index, "block_size": str(len(chunk)),
                "md5": hashlib.md5(chunk).hexdigest()}
        delay = self.retry_backoff
        for attempt in range(1, self.send_attempts + 3):
            try:
                answer: Optional[Answer] = self._api("POST", f"{base}/upload_part_finish", body,
                                                     timeout=self.upload_timeout)
            except NetworkError:
                if attempt > self.send_attempts + 1:
                    raise
                answer = None
            if answer is not None:
                if answer.ok:
                    return
                if answer.kind not in (Kind.MEDIA_RETRY, Kind.RETRY, Kind.UNKNOWN) or attempt > self.send_attempts + 1:
                    raise error_for(answer, f"POST {base}/upload_part_finish")
            self._wait(delay, "upload_part_finish")
            delay = min(30.0, delay * 2)

    # ------------------------------------------------------------------ public sends

    def reply(self, event: Event, message: Any) -> OfficialReceipt:
        """Reply to ``event``: passive (``msg_id`` / ``event_id``) while the platform allows
        it, then proactive where allowed.

        Blocks until the platform answered. Thread-safe.

        Raises:
            ReplyWindowClosed, ReplyBudgetSpent: nothing sent (proactive not allowed here).
            ProactiveRefused: the platform refused the proactive fallback.
            SendUnconfirmed: no answer and retrying was not safe.
            OfficialApiError: another refusal. NetworkError: the API is unreachable.
        """
        scene = event.scene
        target = event.target
        if not scene or not target:
            raise ValueError(f"cannot reply to {event.type or 'this event'}: no chat to reply to")
        msg_id = event.message_id
        event_id = None if msg_id else event.event_id
        return self._send_message(scene, target, message, msg_id=msg_id, event_id=event_id)

    def send(self, event: Event, message: Any) -> OfficialReceipt:
        """Same as :meth:`reply` (the name other bots use)."""
        return self.reply(event, message)

    def send_c2c_message(self, openid: str, message: Any, *, msg_id: Optional[str] = None) -> OfficialReceipt:
        """Send to a user (proactive unless ``msg_id``). May be refused by the platform."""
        return self._send_message("c2c", openid, message, msg_id=msg_id)

    def send_group_message(self, group_openid: str, message: Any, *, msg_id: Optional[str] = None) -> OfficialReceipt:
        """Send to a group (proactive unless ``msg_id``). Needs the group's permission."""
        return self._send_message("group", group_openid, message, msg_id=msg_id)

    def send_channel_message(self, channel_id: str, message: Any, *, msg_id: Optional[str] = None) -> OfficialReceipt:
        """Send to a guild channel."""
        return self._send_message("guild", channel_id, message, msg_id=msg_id)

    def send_direct_message(self, guild_id: str, message: Any, *, msg_id: Optional[str] = None) -> OfficialReceipt:
        """Send to a guild DM session (``guild_id`` of the DM)."""
        return self._send_message("direct", guild_id, message, msg_id=msg_id)

    # ------------------------------------------------------------------ media in

    def fetch_image(self, image: Any, timeout: Optional[float] = None) -> Media:
        """Fetch a received image (a segment, an event holding one, or a URL) as
        :class:`~qqreliable.Media`: downloaded from its attachment URL (scheme fixed),
        retried, validated (HTML/JSON error bodies and truncated files are never
        returned) and cached as on the other protocols. Thread-safe.

        Raises:
            MediaUnavailable: the download failed (``.errors`` lists each cause).
            ValueError: ``image`` holds no image.
        """
        return self._media.fetch("image", image, timeout)

    def fetch_record(self, record: Any, timeout: Optional[float] = None) -> Media:
        """Like :meth:`fetch_image` for voice (SILK; ``wav_url`` is in the segment too)."""
        return self._media.fetch("record", record, timeout)

    def fetch_video(self, video: Any, timeout: Optional[float] = None) -> Media:
        """Like :meth:`fetch_image` for videos."""
        return self._media.fetch("video", video, timeout)

    # ------------------------------------------------------------------ streaming

    def reply_stream(self, event: Event, chunks: Iterable[Any], interval: Optional[float] = None,
                     **kwargs: Any) -> OfficialReceipt:
        """Reply with ``chunks`` (an iterable of str, e.g. an LLM's output): streamed in
        C2C, gathered and sent once elsewhere. See :mod:`.stream` for the rules kept.

        Blocks until the final chunk went out. Returns one receipt for the whole reply.
        """
        if kwargs:
            raise TypeError(f"reply_stream() got unexpected options: {', '.join(sorted(kwargs))}")
        self._require_started("reply_stream")
        scene, target, msg_id = event.scene, event.target, event.message_id
        if not scene or not target:
            raise ValueError(f"cannot reply to {event.type or 'this event'}: no chat to reply to")
        attempts = [0]
        verified = [False]

        def post_chunk(body: Dict[str, Any]) -> Any:
            first = "id" not in body["stream"]
            slot = self._ledger.plan(scene, msg_id, count=first)
            if not slot.passive:
                raise ReplyWindowClosed(f"stream reply to {msg_id}", message="the reply window closed mid-stream",
                                        kind=Kind.WINDOW, sent=False)
            receipt = self._post(scene, target, dict(body, **slot.fields()))
            attempts[0] += receipt.attempts
            verified[0] = verified[0] or receipt.verified
            answer = dict(receipt)
            if receipt.message_id is not None:
                answer.setdefault("id", receipt.message_id)
            return answer

        def post_once(message: Message) -> Any:
            receipt = self._send_message(scene, target, message, msg_id=msg_id)
            attempts[0] += receipt.attempts
            return {"id": receipt.message_id} if receipt.message_id else None

        def post_media(segment: MessageSegment) -> Any:
            return post_once(Message(segment))

        streaming = scene == "c2c" and msg_id is not None and self._ledger.remaining(msg_id) > 0
        sender = StreamSender(
            post_chunk, post_media=post_media, post_once=post_once, streaming=streaming,
            interval=self.stream_interval if interval is None else interval, markdown=self.markdown,
            index_base=self.stream_index_base,
        )
        result = sender.run(chunks)
        if not result.markdown:
            self.markdown = False
        return OfficialReceipt({"message_id": result.message_id, "message_ids": result.message_ids,
                                "chunks": result.chunks}, attempts=attempts[0], verified=verified[0])


def _silk_url(url: str) -> bool:
    """A voice URL whose path names a SILK file (passed to the platform as is)."""
    return unquote(urlsplit(url).path).lower().endswith((".silk", ".slk"))


def _media_bytes(source: str) -> bytes:
    """The bytes of a ``base64://`` or ``file://`` (or local path) media source."""
    if source.startswith("base64://"):
        return base64.b64decode(source[len("base64://"):])
    if source.startswith("file://"):
        path = unquote(urlsplit(source).path)
        if os.name == "nt" and path.startswith("/"):
            path = path[1:]
    else:
        path = source
    if not path or not os.path.isfile(path):
        raise ValueError(f"media {source[:80]!r} is neither a URL, base64:// nor an existing file")
    with open(path, "rb") as fh:
        return fh.read()


class _AttachmentsOnly:
    """The media facts of the official API for the shared fetcher: attachments have a
    URL (sometimes without its scheme) and the API has no media lookup."""

    def find(self, kind: str, target: Any) -> MediaRef:
        from .message import fix_url

        if isinstance(target, Event):
            for seg in target.message:
                if seg.type == kind:
                    target = seg
                    break
            else:
                raise ValueError(f"the event holds no {kind}")
        if isinstance(target, MessageSegment):
            target = target.data.get("url") or target.data.get("file")
        elif isinstance(target, Mapping):
            target = target.get("url") or target.get("file")
        if not isinstance(target, str) or not target.strip():
            raise ValueError(f"no {kind} URL to fetch in {type(target).__name__}")
        return MediaRef(kind, file=None, url=fix_url(target))

    def describe(self, kind: str) -> str:
        return "the attachment URL"

    def ask(self, ref: MediaRef, timeout: float, options: Mapping[str, Any]) -> List[str]:
        raise MediaAttemptError("api", "api_unsupported", "the official API has no media lookup")

    def cause(self, error: BaseException) -> str:
        return getattr(error, "cause", "api_unsupported")

    def probe_offline(self, timeout: float) -> Optional[str]:
        return None

    def account_signal(self, event: Mapping[str, Any]) -> Any:
        return None

    def rewrite_media(self, action: str, params: Dict[str, Any], visit: Any, text: Any) -> Dict[str, Any]:
        return params
