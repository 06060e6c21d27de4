"""Supervisor: named threads, crash captured and re-raised in the owner, joins."""

from __future__ import annotations

import threading

import pytest

from qqreliable.runtime.supervisor import Periodic, Supervisor

pytestmark = pytest.mark.timeout(20)


def test_crash_is_reraised_in_owner() -> None:
    sup = Supervisor(prefix="t")

    def boom() -> None:
        raise KeyError("worker died")

    thread = sup.spawn("boom", boom)
    assert thread.name == "t:boom"
    assert sup.wait(5)
    with pytest.raises(KeyError):
        sup.raise_failure()
    assert sup.join(1) == []


def test_a_thread_between_registration_and_start_stays_tracked(monkeypatch: pytest.MonkeyPatch) -> None:
    # Another spawn (or a join) in the moment between a thread's registration and its
    # start() must not drop it: it would then outlive stop() unjoined.
    sup = Supervisor(prefix="t")
    release = threading.Event()
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        if thread.name == "t:first":
            sup.spawn("second", lambda: release.wait(10))
            sup.join(0)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    sup.spawn("first", lambda: release.wait(10))
    monkeypatch.undo()
    assert sorted(sup.alive()) == ["t:first", "t:second"]
    release.set()
    assert sup.join(5) == []
    assert sup.alive() == []


def test_first_failure_wins() -> None:
    sup = Supervisor()
    sup.fail(ValueError("first"))
    sup.fail(RuntimeError("second"))
    with pytest.raises(ValueError):
        sup.raise_failure()


def test_join_reports_stragglers_and_hurry() -> None:
    sup = Supervisor(prefix="t")
    release = threading.Event()
    sup.spawn("stuck", lambda: release.wait(10))
    assert sup.join(0.05) == ["t:stuck"]
    sup.hurry = True
    assert sup.join(10) == ["t:stuck"]  # returns at once
    release.set()
    sup.hurry = False
    assert sup.join(2) == []


def test_periodic_runs_and_stops_at_once() -> None:
    stop = threading.Event()
    ticks = threading.Semaphore(0)
    sup = Supervisor(prefix="t")

    def tick() -> None:
        ticks.release()
        raise RuntimeError("logged, not fatal")

    sup.spawn("tick", Periodic(tick, lambda: 0.01, stop))
    for _ in range(3):
        assert ticks.acquire(timeout=5)
    stop.set()
    assert sup.join(1) == []
    assert sup.failure is None
