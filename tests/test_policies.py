"""Pure policies: backoff and liveness, with an injected clock and random source."""

from __future__ import annotations

import pytest

from qqreliable.reliability import Backoff, Liveness


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_backoff_grows_and_caps() -> None:
    b = Backoff(initial=1, maximum=8, multiplier=2, jitter=0)
    assert [b.delay(n) for n in range(0, 7)] == [0.0, 1, 2, 4, 8, 8, 8]


def test_backoff_jitter_bounds() -> None:
    b = Backoff(initial=4, maximum=100, jitter=0.25)
    assert b.delay(1, rand=lambda: 0.0) == pytest.approx(3.0)
    assert b.delay(1, rand=lambda: 1.0) == pytest.approx(5.0)
    assert b.delay(1, rand=lambda: 0.5) == pytest.approx(4.0)


def test_backoff_budget() -> None:
    assert not Backoff().exhausted(10_000)
    b = Backoff(max_attempts=3)
    assert [b.exhausted(n) for n in (1, 2, 3)] == [False, False, True]


def test_backoff_huge_failure_count_does_not_overflow() -> None:
    assert Backoff(maximum=30, jitter=0).delay(10_000) == 30


@pytest.mark.parametrize(
    "kwargs", [dict(initial=-1), dict(multiplier=0.5), dict(jitter=2), dict(max_attempts=0)]
)
def test_backoff_rejects_nonsense(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_backoff_is_immutable() -> None:
    with pytest.raises(AttributeError):
        Backoff().initial = 3  # type: ignore[misc]


def test_liveness_heartbeat_rule() -> None:
    clock = Clock()
    live = Liveness(grace=2.5, ping_interval=None, clock=clock)
    clock.now += 1000
    assert live.stale() is None  # no heartbeat known, no ping: nothing to judge by
    live.saw_frame()
    live.saw_heartbeat(2000)  # ms
    assert live.interval == 2.0
    clock.now += 4.9
    assert live.stale() is None
    clock.now += 0.2
    assert "heartbeat interval 2s" in (live.stale() or "")
    live.saw_frame()
    assert live.stale() is None


@pytest.mark.parametrize("bad", [None, "5000", -1, 0, True])
def test_liveness_ignores_bad_intervals(bad: object) -> None:
    live = Liveness()
    live.saw_heartbeat(bad)
    assert live.interval is None


def test_liveness_ping_and_pong() -> None:
    clock = Clock()
    live = Liveness(ping_interval=10, pong_timeout=3, clock=clock)
    assert not live.ping_due()
    clock.now += 10
    assert live.ping_due()
    live.ping_sent()
    assert not live.ping_due()  # one outstanding
    clock.now += 2.9
    assert live.stale() is None
    clock.now += 0.2
    assert live.stale() == "no pong within 3s"
    live.saw_frame()  # the pong (or any frame)
    assert live.stale() is None
    assert not live.ping_due()
    clock.now += 10
    assert live.ping_due()


def test_liveness_check_period_wakes_at_the_next_deadline() -> None:
    clock = Clock()
    live = Liveness(grace=2.5, ping_interval=15, pong_timeout=10, clock=clock)
    assert live.next_check_in() == pytest.approx(1.0, abs=0.01)  # capped: ping due in 15 s
    clock.now += 14
    assert live.next_check_in() == pytest.approx(1.0, abs=0.01)  # the ping falls due
    live.saw_heartbeat(400)
    live.saw_frame()
    assert live.next_check_in() == pytest.approx(1.0, abs=0.01)  # stale at 2.5 x 0.4 s
    clock.now += 0.9
    assert live.next_check_in() == pytest.approx(0.1, abs=0.01)
    clock.now += 0.2
    assert live.stale() is not None
    assert live.next_check_in() == pytest.approx(0.01)  # overdue: check again at once
    live.ping_sent()
    live.interval = None
    assert live.next_check_in() == pytest.approx(1.0, abs=0.01)  # pong deadline 10 s, capped


def test_liveness_zombie_answers_but_sends_no_events() -> None:
    clock = Clock()
    live = Liveness(grace=2.5, event_grace=4.0, ping_interval=None, clock=clock)
    live.saw_heartbeat(1000)
    live.saw_event()
    for _ in range(7):  # pongs and replies keep coming, events do not
        clock.now += 0.5
        live.saw_frame()
        assert live.stale() is None
    clock.now += 0.6
    live.saw_frame()
    assert "zombie" in (live.stale() or "")
    live.saw_event()
    assert live.stale() is None
