"""Past one machine: shared state in Redis and handlers on worker processes (RQ).

The only package that imports ``redis`` and ``rq`` (the ``qqreliable[redis]``
extra), and only when a bot is given ``store="redis://…"`` or a worker is run:
importing :mod:`qqreliable` or this package imports neither.

- :mod:`qqreliable.scale.redis_store`: :class:`RedisStore`, the shared
  :class:`~qqreliable.reliability.store.Store`.
- :mod:`qqreliable.scale.queue`: the RQ queue of events and the worker.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from ..reliability.store import MemoryStore, Store

__all__ = ["open_store", "open_queue"]

_STORE_METHODS = (
    "check", "claim", "renew", "release", "take", "put", "get", "peek", "incr", "reserve", "stats", "close",
)


def open_store(store: Union[str, Store, None]) -> Optional[Store]:
    """The ``store=`` option of every bot: None (in-process state), a URL, or a Store.

    A ``redis://`` / ``rediss://`` / ``unix://`` URL imports redis-py here (the
    ``qqreliable[redis]`` extra) and checks the URL; nothing is connected yet
    (``start()`` does, through :meth:`Store.check`).

    Raises:
        ValueError: an unsupported or malformed URL.
        TypeError: neither a string, a Store nor None.
        ImportError: a Redis URL without redis-py (the message says what to install).
    """
    if store is None:
        return None
    if isinstance(store, str):
        scheme = store.split("://", 1)[0].lower() if "://" in store else ""
        if scheme in ("redis", "rediss", "unix"):
            from .redis_store import RedisStore  # lazy: the only path to redis

            return RedisStore(store)
        if scheme == "memory":
            return MemoryStore()
        raise ValueError(f"store={store!r}: unsupported; use redis://host:port/db (or None for in-process state)")
    if not all(callable(getattr(store, m, None)) for m in _STORE_METHODS):
        raise TypeError(f"store must be a URL, a Store or None, not {type(store).__name__}")
    return store


def open_queue(store: Optional[Store], handlers: str) -> Any:
    """The worker queue for ``handlers="queue"`` (None for ``"threads"``).

    Raises:
        ValueError: ``handlers`` unknown, or ``"queue"`` without a Redis store.
    """
    if handlers == "threads":
        return None
    if handlers != "queue":
        raise ValueError(f"handlers={handlers!r}: use 'threads' (this process) or 'queue' (RQ workers)")
    if store is None or not hasattr(store, "binary_client"):
        raise ValueError("handlers='queue' needs a Redis store: store='redis://host:port/db'")
    from .queue import EventQueue  # lazy: rq only when asked for

    return EventQueue(store)
