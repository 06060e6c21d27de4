"""TokenManager: the string expires_in, the last-minute refresh, single flight,
forced refresh on 401/11244, rate limits and wrong credentials."""

from __future__ import annotations

import threading
from typing import Any, List, Tuple

import pytest

from qqreliable import AuthenticationError, NetworkError, ProtocolError
from qqreliable.official.codes import Kind, OfficialApiError
from qqreliable.official.token import TokenManager, parse_expires_in


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Endpoint:
    """A scripted getAppAccessToken."""

    def __init__(self, clock: Clock, lifetime: int = 7200) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.bodies: List[dict] = []
        self.script: List[Tuple[int, Any]] = []
        self.n = 0
        self.token = None
        self.expiry = 0.0

    def __call__(self, url: str, body: dict, timeout: float):
        self.bodies.append(body)
        if self.script:
            status, answer = self.script.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return status, answer, {}
        now = self.clock()
        if self.token is None or now >= self.expiry - 60:
            self.n += 1
            self.token, self.expiry = f"tok{self.n}", now + self.lifetime
        return 200, {"access_token": self.token, "expires_in": str(int(self.expiry - now))}, {}


def make(clock: Clock, endpoint: Endpoint, **kw: Any) -> TokenManager:
    waits: List[float] = kw.pop("waits", [])

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        clock.now += seconds
        return False

    return TokenManager("1020", "sekrit", token_url="http://t/app/getAppAccessToken", fetch=endpoint,
                        clock=clock, wait=wait, **kw)


def test_expires_in_is_a_string() -> None:
    assert parse_expires_in("7200") == 7200
    assert parse_expires_in(60) == 60
    with pytest.raises(ProtocolError):
        parse_expires_in("soon")


def test_fetch_cache_and_refresh_in_the_last_minute() -> None:
    clock, endpoint = Clock(), Endpoint(Clock())
    endpoint.clock = clock
    tm = make(clock, endpoint)
    assert tm.token() == "tok1"
    assert endpoint.bodies == [{"appId": "1020", "clientSecret": "sekrit"}]
    clock.now += 7000
    assert tm.token() == "tok1" and tm.fetches == 1  # cached
    assert 0 < tm.refresh_in() <= 140
    clock.now += 150  # inside the last 60 s
    assert tm.token() == "tok2" and tm.fetches == 2
    assert tm.authorization() == "QQBot tok2"


def test_tiny_expires_in_never_spins() -> None:
    clock = Clock()
    endpoint = Endpoint(clock)
    endpoint.script = [(200, {"access_token": "same", "expires_in": "60"})] * 3
    tm = make(clock, endpoint, min_interval=5.0)
    assert tm.token() == "same"
    for _ in range(10):
        assert tm.token() == "same"
    assert tm.fetches == 1  # still valid, fetched less than min_interval ago
    clock.now += 5
    tm.token()
    assert tm.fetches == 2


def test_single_flight() -> None:
    clock = Clock()
    gate = threading.Event()
    calls = []

    def fetch(url, body, timeout):
        calls.append(1)
        gate.wait(5)
        return 200, {"access_token": "one", "expires_in": "7200"}, {}

    tm = TokenManager("1", "s", token_url="u", fetch=fetch, clock=clock)
    results: List[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(tm.token()), name=f"qqreliable:test{i}") for i in range(8)
    ]
    for t in threads:
        t.start()
    while not calls:
        threading.Event().wait(0.01)
    gate.set()
    for t in threads:
        t.join(5)
    assert results == ["one"] * 8 and len(calls) == 1


def test_single_flight_shares_a_failure() -> None:
    gate = threading.Event()
    calls = []

    def fetch(url, body, timeout):
        calls.append(1)
        gate.wait(5)
        return 200, {"code": 100016, "message": "invalid appid or secret"}, {}

    tm = TokenManager("1", "s", token_url="u", fetch=fetch)
    errors: List[BaseException] = []

    def run() -> None:
        try:
            tm.token()
        except AuthenticationError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, name=f"qqreliable:test{i}") for i in range(4)]
    for t in threads:
        t.start()
    while not calls:
        threading.Event().wait(0.01)
    gate.set()
    for t in threads:
        t.join(5)
    assert len(errors) == 4 and len(calls) == 1


@pytest.mark.parametrize("status, body", [
    (200, {"code": 100016, "message": "invalid appid or secret"}),
    (200, {"code": 100007, "message": "appid invalid"}),
    (401, {"message": "unauthorized"}),
])
def test_wrong_credentials_raise_authentication_error(status, body) -> None:
    clock = Clock()
    endpoint = Endpoint(clock)
    endpoint.script = [(status, body)]
    tm = make(clock, endpoint)
    with pytest.raises(AuthenticationError):
        tm.token()
    assert tm.fetches == 1  # never retried
    assert "sekrit" not in repr(tm)


def test_rate_limit_backed_off() -> None:
    clock = Clock()
    endpoint = Endpoint(clock)
    endpoint.script = [(200, {"code": 100001, "message": "Too many requests"})] * 2
    waits: List[float] = []
    tm = make(clock, endpoint, waits=waits)
    assert tm.token() == "tok1"
    assert waits == [1.0, 2.0]


def test_rate_limited_for_ever_is_a_network_error() -> None:
    clock = Clock()
    endpoint = Endpoint(clock)
    endpoint.script = [(200, {"code": 100001, "message": "Too many requests"})] * 10
    tm = make(clock, endpoint, attempts=3)
    with pytest.raises(NetworkError):
        tm.token()
    assert tm.fetches == 3


def test_transient_failure_keeps_the_old_token() -> None:
    clock = Clock()
    endpoint = Endpoint(clock)
    tm = make(clock, endpoint)
    assert tm.token() == "tok1"
    clock.now += 7150  # in the margin, still valid
    endpoint.script = [(503, None)]
    assert tm.token() == "tok1"


def test_call_refreshes_on_token_refusal_and_replays_once() -> None:
    clock = Clock()
    endpoint = Endpoint(clock)
    tm = make(clock, endpoint)
    seen: List[str] = []

    def api(auth: str) -> str:
        seen.append(auth)
        if len(seen) == 1:
            endpoint.token = None  # the server rotated it
            raise OfficialApiError("GET /x", http_status=401, code=11244, kind=Kind.TOKEN)
        return "ok"

    assert tm.call(api) == "ok"
    assert seen == ["QQBot tok1", "QQBot tok2"]
    assert tm.refreshes_forced == 1


def test_call_gives_up_after_one_replay() -> None:
    clock = Clock()
    endpoint = Endpoint(clock)
    tm = make(clock, endpoint)

    def api(auth: str) -> str:
        endpoint.token = None
        raise OfficialApiError("GET /x", http_status=401, code=11244, kind=Kind.TOKEN)

    with pytest.raises(AuthenticationError):
        tm.call(api)
    assert tm.fetches == 2


def test_invalidate_only_the_failed_token() -> None:
    clock = Clock()
    endpoint = Endpoint(clock)
    tm = make(clock, endpoint)
    tm.token()
    tm.invalidate("an-older-token")
    assert tm.valid_for() > 0
    tm.invalidate("tok1")
    assert tm.valid_for() == 0
