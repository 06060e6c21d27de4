"""Past one machine: shared state in Redis and handlers on worker processes (RQ).

The only package that imports ``redis`` and ``rq`` (the ``qqreliable[redis]``
extra), and only when a bot is given ``store="redis://…"`` or a worker is run:
importing :mod:`qqreliable` or this package imports neither.

- :mod:`qqreliable.scale.redis_store`: :class:`RedisStore`, the shared
  :class:`~qqreliable.reliability.store.Store`.
- :mod:`qqreliable.scale.queue`: the RQ queue of events and the worker.
"""
