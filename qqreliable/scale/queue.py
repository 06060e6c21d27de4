"""``handlers="queue"``: events go to an RQ queue; ``python -m qqreliable worker app:bot`` runs them.

**The connection owner** (a bot with ``store=…, handlers="queue"``) claims each event
as usual (:class:`~qqreliable.reliability.shared.EventClaims`), then enqueues a job
carrying the raw event and its claim key instead of running the handlers. It
keeps watching the claim until a worker marks the event done.

**A worker** imports the application's bot, starts it in *worker mode* (its own
connection to the backend, used for calls only: events arriving on it are not
taken), and runs an RQ :class:`~rq.SimpleWorker` (no fork: the bot's connection
threads live in the worker's process). For each job it *takes* the event's claim
(refused when the event is already done or another worker has it: a repeated job
is skipped), runs the handlers registered on the bot in its own thread, then marks
the event done. Its claims are renewed while the handlers run.

**A worker killed mid-event** stops renewing; its claim expires after
``claim_ttl`` and the owner queues the event again. The RQ job of the dead worker
is left to RQ (it ends in RQ's failed registry after RQ's heartbeat timeout and is
never retried by RQ: the owner already queued a new one).

Jobs are JSON (:class:`rq.serializers.JSONSerializer`: events are JSON; no pickle).
The queue's name is the store's namespace unless ``--queue`` names another.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import sys
import uuid
from typing import Any, Dict, Optional

from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from ..exceptions import ConnectFailed

__all__ = ["EventQueue", "run_event", "serve", "load_bot"]

log = logging.getLogger(__name__)

JOB = "qqreliable.scale.queue.run_event"
_JOB_TIMEOUT = 3600  # seconds; RQ's own limit on one job (the handlers' business)

_worker_bot: Any = None  # the bot of this worker process (set by serve())


class EventQueue:
    """The owner's side: enqueue events, report depth and workers. Thread-safe.

    Args:
        store: the bot's :class:`~qqreliable.scale.redis_store.RedisStore`.
        name: the RQ queue's name (default: the store's namespace).
    """

    def __init__(self, store: Any, name: Optional[str] = None) -> None:
        self.name = name or store.namespace
        self._store = store
        self._queue = Queue(self.name, connection=store.binary_client(), serializer=JSONSerializer)
        self.enqueued = 0
        self.enqueue_errors = 0

    def enqueue(self, event: Dict[str, Any], key: Optional[str], recovered: bool = False) -> bool:
        # ``event``: the raw event (``bot._raw_event``), rebuilt by the worker's ``_event_from``.
        """Queue a job for ``event``; False when Redis refused or the store is degraded
        (the caller runs it here, without waiting on a dead server)."""
        if getattr(self._store, "degraded", False):
            self.enqueue_errors += 1
            return False
        try:
            self._queue.enqueue(
                JOB,
                dict(event),
                key,
                recovered,
                job_timeout=_JOB_TIMEOUT,
                result_ttl=0,
                failure_ttl=24 * 3600,
            )
        except RedisError as exc:
            self.enqueue_errors += 1
            log.warning("cannot queue an event on %s (%s): running it in this process", self.name, exc)
            return False
        self.enqueued += 1
        return True

    def stats(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "name": self.name,
            "enqueued": self.enqueued,
            "enqueue_errors": self.enqueue_errors,
        }
        try:
            out["depth"] = self._queue.count
            out["workers"] = SimpleWorker.count(queue=self._queue)
        except RedisError as exc:
            out["depth"] = out["workers"] = None
            out["error"] = f"{type(exc).__name__}: {exc}"
        return out


def run_event(event: Dict[str, Any], key: Optional[str], recovered: bool = False) -> int:
    """The job (in a worker): take the event's claim, run its handlers, mark it done.

    Returns how many handlers ran (0: a repeat, skipped).
    """
    bot = _worker_bot
    if bot is None:
        raise RuntimeError("run_event runs in `python -m qqreliable worker`, which loads the bot first")
    claims = bot._claims
    if key is not None and not claims.take(key):
        log.info("event %s is done or taken by another worker: skipped", key)
        return 0
    try:
        obj = bot._event_from(event)
        if recovered:
            try:
                obj.recovered = True
            except AttributeError:
                pass
        ran = bot._dispatcher.run_now(obj)
    except BaseException:
        if key is not None:
            claims.abandon(key)  # another attempt may run it
        raise
    if key is not None:
        claims.done(key)
    return ran


def load_bot(target: str) -> Any:
    """``module:attr`` (default attr ``bot``) → the bot object.

    Raises:
        ValueError: the target names no bot with ``store=…``.
        ImportError: the module cannot be imported.
    """
    module_name, _, attr = target.partition(":")
    if not module_name:
        raise ValueError(f"{target!r}: give module:attribute, e.g. app:bot")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    bot = getattr(module, attr or "bot", None)
    if bot is None:
        raise ValueError(f"module {module_name!r} has no attribute {attr or 'bot'!r}")
    store = getattr(bot, "_store", None)
    if store is None or not hasattr(store, "binary_client"):
        raise ValueError(f"{target}: the bot has no Redis store: give it store='redis://…', handlers='queue'")
    return bot


def serve(target: str, queue: Optional[str] = None, burst: bool = False, ready: Any = None) -> int:
    """``python -m qqreliable worker``: run the handlers of ``target``'s bot for queued events.

    Blocks until SIGINT/SIGTERM (or, with ``burst``, until the queue is empty).
    ``ready()`` is called once the worker listens (tests, scripts).

    Raises:
        ConnectFailed: the store or the backend cannot be reached at start.
    """
    global _worker_bot
    bot = load_bot(target)
    bot._enter_worker_mode()
    store = bot._store
    store.check()
    bot.start()
    try:
        try:
            bot.wait_connected(timeout=30)
        except ConnectFailed:
            log.warning("the worker's connection to the backend is not up yet: calls fail until it is")
        _worker_bot = bot
        connection = store.binary_client(blocking=True)
        rq_queue = Queue(queue or store.namespace, connection=connection, serializer=JSONSerializer)
        name = f"qqreliable-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        worker = SimpleWorker([rq_queue], connection=connection, serializer=JSONSerializer, name=name)
        log.info("worker %s serving queue %r for %s", name, rq_queue.name, target)
        if ready is not None:
            ready()
        worker.work(burst=burst, logging_level="WARNING", with_scheduler=False)
    finally:
        _worker_bot = None
        bot.stop()
    return 0
