"""The shared :class:`~qqreliable.reliability.store.Store`: Redis through redis-py.

Keys are ``<namespace>:<key>`` (the caller's keys already name the account); every
write sets a TTL. The token buckets are one Lua script (atomic, on the server's
clock, so processes on machines with skewed clocks agree).

While the server is unreachable every operation falls back to a
:class:`~qqreliable.reliability.store.MemoryStore` (this process's state, as
without a store): a WARNING when it happens, ``stats()["store"]["fallbacks"]``
counts the operations served locally, and :meth:`RedisStore.probe` (the bot's
periodic store thread) tries the server every ``retry_every`` seconds (a WARNING
when it answers). No operation raises for a Redis failure, none blocks longer
than ``socket_timeout``, and none touches the network while degraded.
Thread-safe (redis-py's pool).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

try:
    import redis
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - exercised by the import test's message
    raise ImportError(
        "store='redis://…' needs the redis client: pip install 'qqreliable[redis]'"
    ) from exc

from ..exceptions import ConnectFailed
from ..reliability.store import DONE, Bucket, MemoryStore

__all__ = ["RedisStore", "redact_url"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local max_wait = tonumber(ARGV[1])
local wait = 0
local levels = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local v = redis.call('HMGET', key, 'l', 's')
  local level = tonumber(v[1])
  local stamp = tonumber(v[2])
  if level == nil or stamp == nil then
    level = burst
  elseif now > stamp then
    level = math.min(burst, level + (now - stamp) * rate)
  end
  levels[i] = level
  if level < 1 then
    local w = (1 - level) / rate
    if w > wait then wait = w end
  end
end
if wait > max_wait then
  return 'refused'
end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local level = levels[i] - 1
  redis.call('HSET', key, 'l', string.format('%.17g', level), 's', string.format('%.17g', now))
  redis.call('PEXPIRE', key, math.ceil(((burst - level) / rate + 1) * 1000))
end
return string.format('%.17g', wait)
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_TAKE = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[3] or (v and string.sub(v, 1, 2) == 'w:' and v ~= ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

_INCR = """
local v = redis.call('INCR', KEYS[1])
if v == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return v
"""

_PEEK = """
local v = redis.call('GET', KEYS[1])
if not v then
  return false
end
return {v, redis.call('PTTL', KEYS[1])}
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def redact_url(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))


_OPTIONS = ("namespace", "claim_ttl")


def _split_options(url: str) -> "tuple[str, Dict[str, str]]":
    """Our options (``?namespace=…&claim_ttl=…``) out of the URL; the rest is redis-py's."""
    parts = urlsplit(url)
    if not parts.query:
        return url, {}
    kept, ours = [], {}
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if name in _OPTIONS:
            ours[name] = unquote(value)
        elif pair:
            kept.append(pair)
    return urlunsplit(parts._replace(query="&".join(kept))), ours


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisStore:
    """A :class:`~qqreliable.reliability.store.Store` in Redis. Thread-safe.

    Args:
        url: ``redis://[:password@]host:port/db`` (``rediss://`` for TLS,
            ``unix://path?db=N``); ``?namespace=NAME&claim_ttl=SECONDS`` set the
            two options below from the URL.
        namespace: the prefix of every key (several bots may share one Redis).
        claim_ttl: seconds an event claim lives without renewal: how long a
            dead process's events wait before another process takes them over.
        socket_timeout: seconds any one Redis operation may take.
        retry_every: seconds between attempts to reach the server again while degraded.

    Raises:
        ValueError: a malformed URL (checked here, without connecting).
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "qqreliable",
        claim_ttl: float = 10.0,
        socket_timeout: float = 2.0,
        retry_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        url, options = _split_options(url)
        namespace = options.get("namespace", namespace)
        try:
            claim_ttl = float(options.get("claim_ttl", claim_ttl))
        except ValueError:
            raise ValueError(f"store URL: claim_ttl={options['claim_ttl']!r} is not a number") from None
        self.url = redact_url(url)
        self._raw_url = url  # with its password: for the RQ connection, never logged
        if not namespace or ":" in namespace:
            raise ValueError(f"store namespace {namespace!r}: non-empty, without ':'")
        if claim_ttl <= 0:
            raise ValueError("claim_ttl must be positive")
        try:
            self._redis = redis.Redis.from_url(
                url,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_timeout,
                decode_responses=True,
                health_check_interval=30,
            )
        except ValueError as exc:
            raise ValueError(f"store={self.url!r}: {exc}") from None
        self.namespace = namespace
        self.claim_ttl = claim_ttl
        self._timeout = socket_timeout
        self.retry_every = retry_every
        self._clock = clock
        self._local = MemoryStore(claim_ttl=claim_ttl)
        self._lock = threading.Lock()
        self._down_since: Optional[float] = None
        self._next_try = 0.0
        self.fallbacks = 0  # operations served by local state while Redis was unreachable
        self.outages = 0
        self.errors = 0
        self._reserve = self._redis.register_script(_RESERVE)
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)
        self._take = self._redis.register_script(_TAKE)
        self._incr = self._redis.register_script(_INCR)
        self._peek = self._redis.register_script(_PEEK)

    def binary_client(self, *, blocking: bool = False) -> "redis.Redis":
        """A new redis-py client on the same server answering bytes (what RQ needs);
        ``blocking``: no socket timeout (a worker's blocking dequeue sets its own)."""
        return redis.Redis.from_url(
            self._raw_url,
            socket_timeout=None if blocking else self._timeout,
            socket_connect_timeout=self._timeout,
        )

    def key(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    # -- health -----------------------------------------------------------------

    def check(self) -> None:
        """Ping the server.

        Raises:
            ConnectFailed: unreachable, or it refused us (the message names the URL).
        """
        try:
            self._redis.ping()
        except RedisError as exc:
            raise ConnectFailed(f"store {self.url} is unreachable: {type(exc).__name__}: {exc}") from None

    @property
    def degraded(self) -> bool:
        """True while operations are served by this process's own state."""
        return self._down_since is not None

    def _run(self, what: str, shared: Callable[[], T], local: Callable[[], T]) -> T:
        if self._down_since is not None:
            # Degraded: local state, without touching the network (a reader thread must
            # never wait on a dead server); probe() brings the server back.
            with self._lock:
                self.fallbacks += 1
            return local()
        try:
            return shared()
        except RedisError as exc:
            self._failed(what, exc)
            with self._lock:
                self.fallbacks += 1
            return local()

    def probe(self) -> bool:
        """Degraded: try the server (at most every ``retry_every`` s); True once shared again.

        Blocking (one PING, up to ``socket_timeout``): called from the bot's periodic
        store thread, never from a reader.
        """
        with self._lock:
            if self._down_since is None:
                return True
            if self._clock() < self._next_try:
                return False
            self._next_try = self._clock() + self.retry_every
        try:
            self._redis.ping()
        except RedisError:
            return False
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            log.warning("store %s is back after %.1fs: state is shared again", self.url, self._clock() - since)
        return True

    def _failed(self, what: str, exc: BaseException) -> None:
        with self._lock:
            self.errors += 1
            first = self._down_since is None
            if first:
                self._down_since = self._clock()
                self.outages += 1
            self._next_try = self._clock() + self.retry_every
        if first:
            log.warning(
                "store %s unreachable (%s: %s) during %s: using this process's own state "
                "(events may be handled twice, pacing is per process) until it is back",
                self.url, type(exc).__name__, exc, what,
            )

    # -- operations ---------------------------------------------------------------

    def claim(self, key: str, owner: str, ttl: float) -> bool:
        return self._run(
            "claim",
            lambda: bool(self._redis.set(self.key(key), owner, nx=True, px=_ms(ttl))),
            lambda: self._local.claim(key, owner, ttl),
        )

    def renew(self, key: str, owner: str, ttl: float) -> bool:
        return self._run(
            "renew",
            lambda: bool(self._renew(keys=[self.key(key)], args=[owner, _ms(ttl)])),
            lambda: self._local.renew(key, owner, ttl),
        )

    def release(self, key: str, owner: str) -> None:
        self._run(
            "release",
            lambda: self._release(keys=[self.key(key)], args=[owner]),
            lambda: self._local.release(key, owner),
        )

    def take(self, key: str, owner: str, ttl: float) -> bool:
        return self._run(
            "take",
            lambda: bool(self._take(keys=[self.key(key)], args=[owner, _ms(ttl), DONE])),
            lambda: self._local.take(key, owner, ttl),
        )

    def put(self, key: str, value: str, ttl: float) -> None:
        self._run(
            "put",
            lambda: self._redis.set(self.key(key), value, px=_ms(ttl)),
            lambda: self._local.put(key, value, ttl),
        )

    def get(self, key: str) -> Optional[str]:
        # decode_responses=True: the client answers str (or None), never bytes.
        value = self._run("get", lambda: self._redis.get(self.key(key)), lambda: self._local.get(key))
        return value.decode("utf-8") if isinstance(value, bytes) else value

    def peek(self, key: str) -> Optional[Tuple[str, float]]:
        def shared() -> Optional[Tuple[str, float]]:
            answer = self._peek(keys=[self.key(key)])
            if not answer:
                return None
            value, pttl = answer
            if isinstance(value, bytes):
                value = value.decode("utf-8")
            pttl = int(pttl)
            if pttl == -2:  # gone between the two reads (impossible in one script; kept safe)
                return None
            return str(value), (float("inf") if pttl < 0 else pttl / 1000.0)

        return self._run("peek", shared, lambda: self._local.peek(key))

    def incr(self, key: str, ttl: float) -> int:
        return self._run(
            "incr",
            lambda: int(self._incr(keys=[self.key(key)], args=[_ms(ttl)])),
            lambda: self._local.incr(key, ttl),
        )

    def reserve(self, buckets: Sequence[Bucket], max_wait: float) -> Optional[float]:
        def shared() -> Optional[float]:
            args: list = [repr(float(max_wait))]
            for _, rate, burst in buckets:
                args += [repr(float(rate)), repr(float(burst))]
            answer = self._reserve(keys=[self.key(k) for k, _, _ in buckets], args=args)
            return None if answer == "refused" else float(answer)

        return self._run("reserve", shared, lambda: self._local.reserve(buckets, max_wait))

    def stats(self) -> Dict[str, Any]:
        return {
            "kind": "redis",
            "url": self.url,
            "degraded": self.degraded,
            "fallbacks": self.fallbacks,
            "outages": self.outages,
            "errors": self.errors,
        }

    def close(self) -> None:
        try:
            self._redis.close()
        except RedisError:  # pragma: no cover - closing a broken pool
            pass
