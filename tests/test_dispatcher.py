"""Dispatcher: order, isolation of failures, bounded queue, stop."""

from __future__ import annotations

import threading
from typing import Any, List

import pytest

from qqreliable import Event
from qqreliable.runtime.dispatcher import Dispatcher
from qqreliable.runtime.supervisor import Supervisor

pytestmark = pytest.mark.timeout(20)


def make(workers: int = 2, queue_size: int = 100) -> "tuple[Dispatcher, Supervisor]":
    return Dispatcher(workers=workers, queue_size=queue_size), Supervisor(prefix="test-dispatch")


def test_most_specific_first_in_registration_order() -> None:
    d, _ = make()
    calls: List[str] = []
    d.add("message", lambda e: calls.append("message-1"))
    d.add("message.group.normal", lambda e: calls.append("normal"))
    d.add("message.group", lambda e: calls.append("group"))
    d.add("message", lambda e: calls.append("message-2"))
    d.add("notice", lambda e: calls.append("notice"))
    for h in d.handlers_for("message.group.normal"):
        h(None)
    assert calls == ["normal", "group", "message-1", "message-2"]
    assert d.handlers_for("") == []


def test_handler_lists_are_resolved_once_and_redone_after_a_registration() -> None:
    d, _ = make()
    first = lambda e: None  # noqa: E731
    later = lambda e: None  # noqa: E731
    d.add("message", first)
    resolved = d.handlers_for("message.group.normal")
    assert resolved == [first]
    assert d.handlers_for("message.group.normal") is resolved  # kept, not rebuilt per event
    d.add("message.group", later)
    assert d.handlers_for("message.group.normal") == [later, first]
    for n in range(3000):  # names come off the wire: the kept answers stay bounded
        d.handlers_for(f"notice.n{n}")
    assert len(d._resolved) <= 1024
    assert d.handlers_for("notice.n2999") == []


def test_failure_is_isolated_and_reported() -> None:
    d, sup = make()
    seen: List[str] = []
    errors: List[Any] = []
    done = threading.Event()
    d.add("message", lambda e: (_ for _ in ()).throw(ValueError("bad")))
    d.add("message", lambda e: (seen.append(e.name), done.set()))
    d.add_error_handler(lambda exc, ev: errors.append((type(exc), ev.name)))
    d.add_error_handler(lambda exc, ev: 1 / 0)  # a failing hook is logged, not fatal
    d.start(sup)
    try:
        assert d.submit_event(Event({"post_type": "message", "message_type": "private"}))
        assert done.wait(5)
        assert d.wait_idle(5)
    finally:
        d.stop()
        assert sup.join(2) == []
    assert seen == ["message.private"]
    assert errors == [(ValueError, "message.private")]
    assert d.handler_errors == 1


def test_overflow_drops_newest_counts_and_warns(caplog: Any) -> None:
    d, sup = make(workers=1, queue_size=3)
    release = threading.Event()
    started = threading.Event()
    handled: List[int] = []

    def slow(e: Event) -> None:
        started.set()
        release.wait(5)
        handled.append(e["n"])

    d.add("x", slow)
    d.start(sup)
    try:
        assert d.submit_event(Event({"post_type": "x", "n": 0}))
        assert started.wait(5)  # the worker holds event 0
        results = [d.submit_event(Event({"post_type": "x", "n": n})) for n in range(1, 11)]
        assert results == [True] * 3 + [False] * 7
        assert d.dropped == 7
        assert "handler queue full" in caplog.text
        release.set()
        assert d.wait_idle(5)
        assert handled == [0, 1, 2, 3]
    finally:
        release.set()
        d.stop()
        assert sup.join(2) == []


def test_events_without_handlers_are_not_queued() -> None:
    d, _ = make(queue_size=1)
    for _ in range(10):
        assert d.submit_event(Event({"post_type": "meta_event", "meta_event_type": "heartbeat"}))
    assert d.queued == 0 and d.dropped == 0


def test_stop_discards_queue_and_joins() -> None:
    d, sup = make(workers=1, queue_size=100)
    release = threading.Event()
    started = threading.Event()
    d.add("x", lambda e: (started.set(), release.wait(5)))
    d.start(sup)
    for _ in range(5):
        d.submit_event(Event({"post_type": "x"}))
    assert started.wait(5)
    assert d.stop() == 4
    assert not d.submit_event(Event({"post_type": "x"}))
    release.set()
    assert sup.join(2) == []


def test_jobs_are_never_dropped() -> None:
    d, sup = make(workers=1, queue_size=1)
    release = threading.Event()
    done = threading.Event()
    d.add("x", lambda e: release.wait(5))
    d.start(sup)
    try:
        d.submit_event(Event({"post_type": "x"}))
        d.submit_event(Event({"post_type": "x"}))
        d.fire([lambda arg: done.set()], "arg")
        release.set()
        assert done.wait(5)
    finally:
        d.stop()
        sup.join(2)


def test_connect_and_disconnect_notices_run_in_the_order_they_happened() -> None:
    """A slow on_connect for the first connection must not be overtaken by the
    disconnect and the reconnect that followed it, however many workers are free."""
    d, sup = make(workers=8)
    seen: List[str] = []
    first_running = threading.Event()
    release = threading.Event()
    done = threading.Event()

    def on_connect(self_id: int) -> None:
        if self_id == 1:
            first_running.set()
            release.wait(5)
        seen.append(f"connect {self_id}")
        if self_id == 3:
            done.set()

    def on_disconnect(reason: str) -> None:
        seen.append(f"disconnect {reason}")

    d.start(sup)
    try:
        d.fire([on_connect], 1)
        assert first_running.wait(5)
        d.fire([on_disconnect], "a")
        d.fire([on_connect], 2)
        d.fire([on_disconnect], "b")
        d.fire([on_connect], 3)
        release.set()
        assert done.wait(5)
        assert seen == ["connect 1", "disconnect a", "connect 2", "disconnect b", "connect 3"]
        d.fire([on_connect], 4)  # the drain ended: a later notice starts a new one
        assert d.wait_idle(5)
    finally:
        d.stop()
        sup.join(2)
    assert seen[-1] == "connect 4"


def test_rejects_non_callables() -> None:
    d, _ = make()
    with pytest.raises(TypeError):
        d.add("x", 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Dispatcher(workers=0)


def test_a_blocked_handler_does_not_hold_back_the_events_behind_it() -> None:
    """Each new event wakes an idle worker unless one is already on its way, and a
    worker that takes an event with more queued wakes the next: a handler stuck on
    one worker never delays the others' events until it returns."""
    d, sup = make(workers=4, queue_size=100)
    release = threading.Event()
    blocked = threading.Event()
    handled: List[int] = []
    all_done = threading.Event()

    def handler(event: Event) -> None:
        if event["n"] == 0:
            blocked.set()
            release.wait(10)
            return
        handled.append(event["n"])
        if len(handled) == 30:
            all_done.set()

    d.add("x", handler)
    d.start(sup)
    try:
        d.submit_event(Event({"post_type": "x", "n": 0}))
        assert blocked.wait(5)
        for n in range(1, 31):  # one at a time, then in a burst with nothing woken yet
            d.submit_event(Event({"post_type": "x", "n": n}))
        assert all_done.wait(5), f"{len(handled)} of 30 handled while one handler is blocked"
        assert sorted(handled) == list(range(1, 31))
    finally:
        release.set()
        d.stop()
        assert sup.join(5) == []


def test_a_burst_of_slow_handlers_runs_on_every_worker_at_once() -> None:
    d, sup = make(workers=4, queue_size=100)
    inside = threading.Semaphore(0)
    release = threading.Event()
    d.add("x", lambda e: (inside.release(), release.wait(10)))
    d.start(sup)
    try:
        for _ in range(8):
            d.submit_event(Event({"post_type": "x"}))
        for n in range(4):  # all four workers are inside a handler at the same time
            assert inside.acquire(timeout=5), f"only {n} workers running"
        release.set()
        assert d.wait_idle(5)
        assert d.dispatched == 8
    finally:
        release.set()
        d.stop()
        assert sup.join(5) == []


def test_many_fast_events_are_all_handled_and_idle_workers_stop_at_once() -> None:
    d, sup = make(workers=8, queue_size=100_000)
    count = [0]
    lock = threading.Lock()

    def handler(event: Event) -> None:
        with lock:
            count[0] += 1

    d.add("x", handler)
    d.start(sup)
    try:
        for rounds in range(3):
            for _ in range(5000):
                assert d.submit_event(Event({"post_type": "x"}))
            assert d.wait_idle(10)
            assert count[0] == 5000 * (rounds + 1)
        assert d.dropped == 0
    finally:
        d.stop()
        assert sup.join(2) == []  # parked workers are released by stop(), not by a poll


# -- batches: the events of one read (submit_events) ---------------------------


def test_a_batch_larger_than_the_free_room_drops_and_counts_exactly_the_overflow(caplog: Any) -> None:
    """One lock for the whole batch, but the same outcome as one by one: the first
    events take the free room, in order; the rest (the newest) are dropped and
    counted; events with no handler take no room and are not dropped."""
    d, sup = make(workers=1, queue_size=5)
    seen: List[int] = []
    d.add("x", lambda e: seen.append(e["n"]))
    done = threading.Event()
    d.add("end", lambda e: done.set())
    first = [Event({"post_type": "x", "n": n}) for n in range(3)]
    assert d.submit_events(first) == 0
    assert d.queued == 3 and d.dropped == 0
    batch = [Event({"post_type": "x", "n": n}) for n in range(3, 9)]
    batch.insert(1, Event({"post_type": "nobody", "n": -1}))  # no handler: takes no room
    with caplog.at_level("WARNING"):
        assert d.submit_events(batch) == 4  # room for 2 of the 6 with handlers
    assert d.queued == 5 and d.dropped == 4
    assert "and 3 more" in caplog.text
    assert d.submit_events([Event({"post_type": "x", "n": 99})]) == 1  # full: counted too
    assert d.dropped == 5
    d.start(sup)
    try:
        assert d.wait_idle(10)
        assert seen == [0, 1, 2, 3, 4]  # the first ones, in order
        assert d.submit_events([Event({"post_type": "end"})]) == 0
        assert done.wait(10)
    finally:
        d.stop()
        assert sup.join(5) == []
    assert d.submit_events([Event({"post_type": "x", "n": 100})]) == 1  # stopping: not queued
    assert d.dropped == 5  # and not counted as a drop


def test_batches_reach_every_idle_worker() -> None:
    """A batch wakes one worker; it wakes the next while more is queued, so a burst
    of slow handlers delivered as one batch runs on every worker at once."""
    d, sup = make(workers=4, queue_size=100)
    release = threading.Event()
    running: List[int] = []
    lock = threading.Lock()
    four = threading.Event()

    def slow(e: Any) -> None:
        with lock:
            running.append(e["n"])
            if len(running) == 4:
                four.set()
        release.wait(10)

    d.add("x", slow)
    d.start(sup)
    try:
        assert d.submit_events([Event({"post_type": "x", "n": n}) for n in range(8)]) == 0
        assert four.wait(10)
        release.set()
        assert d.wait_idle(10)
        assert sorted(running) == list(range(8))
    finally:
        release.set()
        d.stop()
        assert sup.join(5) == []


# -- workers take items without the lock ---------------------------------------


@pytest.mark.parametrize("attempt", range(5))
def test_stop_during_a_drain_accounts_for_every_event_exactly_once(attempt: int) -> None:
    """Workers take events off the queue without the lock while stop() empties it:
    each event is either run (its done(True)) or discarded (done(False), counted in
    stop()'s answer), never both, never neither. Five times: it is a race."""
    d, sup = make(workers=8, queue_size=100_000)
    ran: List[int] = []
    d.add("x", lambda e: ran.append(e["n"]))
    outcomes: List[Any] = [None] * 20_000
    lock = threading.Lock()
    stopped: List[int] = []
    stopped_event = threading.Event()

    def done_for(n: int) -> Any:
        def done(handled: bool) -> None:
            with lock:
                assert outcomes[n] is None, f"event {n} finished twice"
                outcomes[n] = handled
            if n == 500:  # on a worker, while the seven others drain the queue
                stopped.append(d.stop())
                stopped_event.set()

        return done

    for n in range(len(outcomes)):  # all queued first: the stop comes mid-drain
        assert d.submit_event(Event({"post_type": "x", "n": n}), done_for(n))
    d.start(sup)
    assert stopped_event.wait(10)
    assert sup.join(5) == []
    discarded = stopped[0]
    assert discarded > 0
    assert None not in outcomes
    assert outcomes.count(False) == discarded
    assert sorted(ran) == [n for n, handled in enumerate(outcomes) if handled]
    assert d.dispatched == len(ran)
    assert d.queued == 0


def test_counts_stay_exact_with_busy_workers_and_across_a_restart() -> None:
    """``dispatched`` and the queue bound are counted per worker, not with a shared
    ``+=``: 8 busy workers lose no count, and a restart keeps the earlier ones."""
    d, sup = make(workers=8, queue_size=100_000)
    d.add("x", lambda e: None)
    d.start(sup)
    try:
        for _ in range(4):
            assert d.submit_events([Event({"post_type": "x"}) for _ in range(10_000)]) == 0
        assert d.wait_idle(20)
        assert d.dispatched == 40_000
        with d._lock:
            assert d._events_queued_locked() == 0
    finally:
        d.stop()
        assert sup.join(5) == []
    sup2 = Supervisor(prefix="test-dispatch-2")
    d.start(sup2)
    try:
        assert d.submit_events([Event({"post_type": "x"}) for _ in range(1_000)]) == 0
        assert d.wait_idle(10)
        assert d.dispatched == 41_000
        assert len(d._workers) == 8  # the first start's workers were retired, their counts kept
    finally:
        d.stop()
        assert sup2.join(5) == []


def test_the_bound_holds_while_workers_take_events_without_the_lock() -> None:
    """With every worker held by a handler, the queue takes exactly ``queue_size``
    more events; once they run, the room is back in full."""
    d, sup = make(workers=4, queue_size=50)
    release = threading.Event()
    held = threading.Semaphore(0)

    def slow(e: Event) -> None:
        held.release()
        release.wait(10)

    d.add("x", slow)
    d.start(sup)
    try:
        assert d.submit_events([Event({"post_type": "x"}) for _ in range(4)]) == 0
        for _ in range(4):
            assert held.acquire(timeout=10)  # all four workers busy
        assert d.submit_events([Event({"post_type": "x"}) for _ in range(60)]) == 10
        assert d.queued == 50
        release.set()
        assert d.wait_idle(10)
        assert d.dispatched == 54
        assert d.submit_events([Event({"post_type": "x"}) for _ in range(50)]) == 0
        assert d.wait_idle(10)
        assert d.dispatched == 104 and d.dropped == 10
    finally:
        release.set()
        d.stop()
        assert sup.join(5) == []


def test_a_worker_survives_a_bug_in_the_failure_path(caplog: Any) -> None:
    """Were reporting a handler's failure itself to raise (a bug), the worker logs it
    and goes on with the next event; the event's done() still runs."""
    d, sup = make(workers=1)
    handled = threading.Event()
    dones: List[bool] = []

    def broken_report(*args: Any) -> None:
        raise RuntimeError("bug in the failure path")

    d._failed = broken_report  # type: ignore[method-assign]
    d.add("bad", lambda e: 1 / 0)
    d.add("good", lambda e: handled.set())
    d.start(sup)
    try:
        assert d.submit_event(Event({"post_type": "bad"}), dones.append)
        assert d.submit_event(Event({"post_type": "good"}))
        assert handled.wait(5)
        assert dones == [True]
        assert "internal dispatcher job failed" in caplog.text
    finally:
        d.stop()
        assert sup.join(5) == []
