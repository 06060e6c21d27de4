"""TokenManager.share: one getAppAccessToken for every process of an app (pure logic over a
MemoryStore and one clock; the real-Redis, real-process tests are in test_official_scale.py)."""

from __future__ import annotations

from typing import Any, List

import pytest

from qqreliable import BotStopped
from qqreliable.official.codes import Kind, OfficialApiError
from qqreliable.official.token import TokenManager
from qqreliable.reliability.store import MemoryStore

from .test_official_token import Clock, Endpoint


def shared(clock: Clock, endpoint: Endpoint, store: MemoryStore, owner: str, **kw: Any) -> TokenManager:
    waits: List[float] = kw.pop("waits", [])
    on_wait = kw.pop("on_wait", None)

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        clock.now += seconds
        return on_wait() if on_wait is not None else False

    tm = TokenManager("1020", "sekrit", token_url="http://t/app/getAppAccessToken", fetch=endpoint,
                      clock=clock, wait=wait, timeout=2.0, **kw)
    tm.share(store, owner=owner)
    return tm


def test_the_second_process_adopts_the_first_ones_token() -> None:
    clock = Clock()
    endpoint = Endpoint(clock)
    store = MemoryStore(clock=clock)
    a = shared(clock, endpoint, store, "a")
    b = shared(clock, endpoint, store, "b")
    assert a.token() == "tok1"
    assert b.token() == "tok1"
    assert len(endpoint.bodies) == 1 and a.fetches == 1 and b.fetches == 0 and b.adopted == 1
    assert store.peek("token:1020") == ("tok1", pytest.approx(7200))
    # In the last minute one of them refreshes, the other takes the new token.
    clock.now += 7150
    assert b.token() == "tok2" and b.fetches == 1
    assert a.token() == "tok2" and a.fetches == 1 and a.adopted == 1
    assert len(endpoint.bodies) == 2


def test_a_refused_token_is_replaced_once_for_everyone() -> None:
    clock = Clock()
    endpoint = Endpoint(clock)
    store = MemoryStore(clock=clock)
    a = shared(clock, endpoint, store, "a")
    b = shared(clock, endpoint, store, "b")
    assert a.token() == b.token() == "tok1"
    endpoint.token = None  # the platform rotated it: tok1 is refused from now on

    def call(tm: TokenManager) -> str:
        def fn(authorization: str) -> str:
            if authorization == "QQBot tok1":
                raise OfficialApiError("GET /x", http_status=401, code=11244, kind=Kind.TOKEN)
            return authorization

        return tm.call(fn)

    assert call(a) == "QQBot tok2"
    assert call(b) == "QQBot tok2"  # b's tok1 was refused too: it adopts a's tok2, no fetch
    assert len(endpoint.bodies) == 2 and b.fetches == 0
    # A late refusal of the old token does not delete the new one.
    b.invalidate("tok1")
    assert store.peek("token:1020")[0] == "tok2"  # type: ignore[index]


def test_a_waiter_takes_over_when_the_lock_holder_died() -> None:
    clock = Clock()
    endpoint = Endpoint(clock)
    store = MemoryStore(clock=clock)
    # "dead" took the refresh lock and never published (killed mid-fetch).
    assert store.claim("token:1020:lock", "dead", 5.0)
    waits: List[float] = []
    b = shared(clock, endpoint, store, "b", waits=waits)
    assert b.token() == "tok1"
    assert b.waits == 1 and b.fetches == 1
    assert 4.9 <= sum(waits) <= 6.0  # waited for the lock to expire, not longer
    assert store.peek("token:1020")[0] == "tok1"  # type: ignore[index]


def test_a_waiter_adopts_what_the_holder_publishes() -> None:
    clock = Clock()
    endpoint = Endpoint(clock)
    store = MemoryStore(clock=clock)
    a = shared(clock, endpoint, store, "a")
    assert store.claim("token:1020:lock", "a", 5.0)  # a is fetching
    published: List[int] = []

    def a_finishes() -> bool:
        if not published:
            published.append(1)
            store.put("token:1020", "tokA", 7200)
            store.release("token:1020:lock", "a")
        return False

    b = shared(clock, endpoint, store, "b", on_wait=a_finishes)
    assert b.token() == "tokA" and b.fetches == 0 and b.waits == 1
    assert a.token() == "tokA"
    assert endpoint.bodies == []


def test_waiting_ends_when_the_bot_stops() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    assert store.claim("token:1020:lock", "other", 60.0)
    b = shared(clock, Endpoint(clock), store, "b", on_wait=lambda: True)
    with pytest.raises(BotStopped):
        b.token()


def test_a_token_in_its_last_minute_just_fetched_is_not_fetched_again_by_others() -> None:
    clock = Clock()
    endpoint = Endpoint(clock, lifetime=30)  # every token is already in its last minute
    store = MemoryStore(clock=clock)
    a = shared(clock, endpoint, store, "a")
    b = shared(clock, endpoint, store, "b")
    assert a.token() == "tok1"
    assert b.token() == "tok1" and b.fetches == 0  # fetched just now by a: adopted
    assert len(endpoint.bodies) == 1
