"""The per-call fault bookkeeping the fake servers share (testing/_server.py):
FaultRules, RuleQueue, and read_body's HTTP answers on real sockets."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from typing import Any, Callable, Iterator, List, Optional

import pytest

from qqreliable.testing import FakeMirai, FakeOneBot, FakeOfficial
from qqreliable.testing import _server
from qqreliable.testing._server import FailRule, FaultPlan, FaultRules, RuleQueue, _Rule, carry_out

# --------------------------------------------------------------------------- RuleQueue


def test_queue_takes_each_rule_times_then_the_next() -> None:
    queue: RuleQueue[str] = RuleQueue()
    queue.push("a", "first", 2)
    queue.push("a", "second")
    queue.push("b", "other", 1)
    assert [queue.take("a") for _ in range(4)] == ["first", "first", "second", None]
    assert queue.take("b") == "other"
    assert queue.take("b") is None
    assert queue.take("never") is None


def test_queue_clear_forgets_everything() -> None:
    queue: RuleQueue[int] = RuleQueue()
    queue.push("a", 1, 5)
    queue.push("b", 2, 5)
    queue.clear()
    assert queue.take("a") is None and queue.take("b") is None
    queue.push("a", 3)
    assert queue.take("a") == 3


@pytest.mark.parametrize("times", [0, -1, None, 1.5, True])
def test_queue_refuses_a_count_that_is_not_positive(times: Any) -> None:
    queue: RuleQueue[str] = RuleQueue()
    with pytest.raises(ValueError, match="times must be a positive int"):
        queue.push("a", "x", times)
    assert queue.take("a") is None


# --------------------------------------------------------------------------- FaultRules


def test_no_rule_is_an_empty_plan() -> None:
    rules: FaultRules[str, Any] = FaultRules()
    plan = rules.take("send")
    assert plan == FaultPlan() and plan.empty


def test_delay_counts_down_and_is_removed() -> None:
    rules: FaultRules[str, Any] = FaultRules()
    rules.delay("send", 1.5, times=2)
    first, second, third = (rules.take("send") for _ in range(3))
    assert first.delay is not None and first.delay.seconds == 1.5 and not first.delay.deliver
    assert second.delay is not None
    assert third.delay is None and third.empty
    assert rules.take("other").empty


def test_delay_and_stall_without_times_apply_to_every_call() -> None:
    rules: FaultRules[str, Any] = FaultRules()
    rules.delay("slow", 0.25, deliver=True)
    rules.stall("stuck")
    for _ in range(50):
        slow, stuck = rules.take("slow"), rules.take("stuck")
        assert slow.delay is not None and slow.delay.deliver and slow.stall is None
        assert stuck.stall is not None and not stuck.stall.deliver and stuck.delay is None


def test_a_new_delay_replaces_the_old_one() -> None:
    rules: FaultRules[str, Any] = FaultRules()
    rules.delay("send", 5.0)
    rules.delay("send", 0.5, times=1)
    plan = rules.take("send")
    assert plan.delay is not None and plan.delay.seconds == 0.5
    assert rules.take("send").delay is None


def test_failures_queue_with_their_answer_and_deliver_flag() -> None:
    rules: FaultRules[str, Any] = FaultRules()
    rules.fail("send", "timeout", times=2, deliver=True)
    rules.fail("send", "refused")
    taken = [rules.take("send").fail for _ in range(4)]
    assert taken == [FailRule("timeout", True), FailRule("timeout", True), FailRule("refused", False), None]


def test_a_stall_wins_and_keeps_the_other_rules_for_later() -> None:
    rules: FaultRules[str, Any] = FaultRules()
    rules.stall("send", times=1, deliver=True)
    rules.delay("send", 2.0, times=1)
    rules.fail("send", "boom")
    rules.drop("send")
    stalled = rules.take("send")
    assert stalled.stall is not None and stalled.stall.deliver
    assert stalled.delay is None and stalled.fail is None and stalled.drop is None
    both = rules.take("send")  # a late failure: delay and fail together, no drop
    assert both.stall is None and both.delay is not None and both.fail == FailRule("boom", False)
    assert both.drop is None
    dropped = rules.take("send")
    assert dropped.drop is True and dropped.stall is None and dropped.delay is None and dropped.fail is None
    assert rules.take("send").empty


def test_drops_keep_their_deliver_flag_in_order() -> None:
    rules: FaultRules[str, Any] = FaultRules()
    rules.drop("send", times=2)
    rules.drop("send", deliver=False)
    assert [rules.take("send").drop for _ in range(4)] == [True, True, False, None]


@pytest.mark.parametrize("times", [0, -3, 2.0, False])
def test_bad_counts_are_refused(times: Any) -> None:
    rules: FaultRules[str, Any] = FaultRules()
    for setter in (
        lambda: rules.delay("a", 1.0, times=times),
        lambda: rules.stall("a", times=times),
        lambda: rules.fail("a", "x", times=times),
        lambda: rules.drop("a", times=times),
    ):
        with pytest.raises(ValueError, match="times must be"):
            setter()
    assert rules.take("a").empty


def test_reset_forgets_rules_but_keeps_handlers() -> None:
    rules: FaultRules[str, Callable[[int], int]] = FaultRules()
    rules.delay("a", 1.0)
    rules.stall("b")
    rules.fail("c", "x", times=3)
    rules.drop("d", times=3)
    rules.set_handler("e", abs)
    rules.reset()
    assert all(rules.take(name).empty for name in "abcd")
    assert rules.handler("e") is abs


def test_handlers_set_replace_and_remove() -> None:
    rules: FaultRules[str, Callable[[int], int]] = FaultRules()
    assert rules.handler("a") is None
    rules.set_handler("a", abs)
    rules.set_handler("a", int)
    assert rules.handler("a") is int
    rules.set_handler("a", None)
    rules.set_handler("never-set", None)
    assert rules.handler("a") is None


def _run_threads(n: int, target: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=target, args=(i,), name=f"qqreliable:test-take:{i}") for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)


def test_concurrent_takes_count_every_use_exactly_once() -> None:
    rules: FaultRules[int, Any] = FaultRules()
    threads, per_thread = 8, 500
    fails = [(answer, times) for answer, times in enumerate([97, 1, 300, 2, 599])]  # 999 failures
    for answer, times in fails:
        rules.fail("send", answer, times=times)
    rules.delay("send", 0.0, times=1234)
    rules.stall("poll", times=777)
    rules.drop("poll", times=2000)
    start = threading.Barrier(threads, timeout=10)
    seen: List[Counter[str]] = [Counter() for _ in range(threads)]
    answers: List[List[int]] = [[] for _ in range(threads)]

    def worker(i: int) -> None:
        start.wait()
        for _ in range(per_thread):
            send, poll = rules.take("send"), rules.take("poll")
            if send.fail is not None:
                seen[i]["fail"] += 1
                answers[i].append(send.fail.answer)
            if send.delay is not None:
                seen[i]["delay"] += 1
            if send.drop is not None:
                seen[i]["bad drop"] += 1
            if poll.stall is not None:
                seen[i]["stall"] += 1
            if poll.drop is not None:
                seen[i]["drop"] += 1

    _run_threads(threads, worker)
    total: Counter[str] = sum(seen, Counter())
    calls = threads * per_thread  # 4000 per name
    assert total == Counter(fail=999, delay=1234, stall=777, drop=2000)
    assert calls - 777 > 2000  # more calls than drops: the count, not the calls, ran out
    assert Counter(a for thread_answers in answers for a in thread_answers) == Counter(dict(fails))
    for thread_answers in answers:  # each thread saw the queue in order
        assert thread_answers == sorted(thread_answers)
    assert rules.take("send").empty and rules.take("poll").empty


def test_concurrent_setters_and_takes_lose_nothing() -> None:
    rules: FaultRules[int, Any] = FaultRules()
    threads, per_thread = 6, 300
    taken = [0] * threads

    def worker(i: int) -> None:
        for _ in range(per_thread):
            rules.fail(f"q{i % 2}", i, times=2)
            for _ in range(2):
                if rules.take(f"q{(i + 1) % 2}").fail is not None:
                    taken[i] += 1

    _run_threads(threads, worker)
    leftover = 0
    for name in ("q0", "q1"):
        while rules.take(name).fail is not None:
            leftover += 1
    assert sum(taken) + leftover == threads * per_thread * 2


# --------------------------------------------------------------------------- carry_out


class _Trace:
    """A call carried out under a plan: what ran, waited and settled, in order."""

    def __init__(self, *, open_for: Optional[float] = None) -> None:
        self.steps: List[str] = []
        self.open_for = open_for  # the connection closes after this much waiting (None: never)

    def execute(self) -> str:
        self.steps.append("execute")
        return "ok"

    def failure(self, answer: str) -> str:
        self.steps.append(f"fail:{answer}")
        return f"failed:{answer}"

    def wait(self, seconds: Optional[float]) -> bool:
        self.steps.append(f"wait:{seconds}")
        return seconds is not None and (self.open_for is None or seconds < self.open_for)

    def settle(self) -> None:
        self.steps.append("settle")

    def run(self, plan: FaultPlan[str]) -> Optional[str]:
        return carry_out(plan, self.execute, self.failure, self.wait, self.settle)


_SLOW = _Rule(2.0, 1, False)
_SLOW_DELIVERED = _Rule(2.0, 1, True)


@pytest.mark.parametrize(
    "plan, answer, steps",
    [
        (FaultPlan(), "ok", ["execute", "settle"]),
        (FaultPlan(drop=True), None, ["execute", "settle"]),
        (FaultPlan(drop=False), None, ["settle"]),
        (FaultPlan(stall=_Rule(0.0, None, False)), None, ["settle", "wait:None"]),
        (FaultPlan(stall=_Rule(0.0, None, True)), None, ["execute", "settle", "wait:None"]),
        (FaultPlan(fail=FailRule("x", False)), "failed:x", ["settle", "fail:x"]),
        (FaultPlan(fail=FailRule("x", True)), "failed:x", ["execute", "settle", "fail:x"]),
        (FaultPlan(fail=FailRule("x", True), delay=_SLOW), "failed:x", ["execute", "settle", "wait:2.0", "fail:x"]),
        (FaultPlan(delay=_SLOW), "ok", ["wait:2.0", "execute", "settle"]),
        (FaultPlan(delay=_SLOW_DELIVERED), "ok", ["execute", "settle", "wait:2.0"]),
    ],
)
def test_carry_out_runs_waits_and_settles_once(plan: FaultPlan[str], answer: Optional[str], steps: List[str]) -> None:
    trace = _Trace()
    assert trace.run(plan) == answer
    assert trace.steps == steps


@pytest.mark.parametrize(
    "plan, steps",
    [
        (FaultPlan(delay=_SLOW), ["wait:2.0", "settle"]),  # never executed
        (FaultPlan(delay=_SLOW_DELIVERED), ["execute", "settle", "wait:2.0"]),  # executed, answer lost
        (FaultPlan(fail=FailRule("x", False), delay=_SLOW), ["settle", "wait:2.0"]),
    ],
)
def test_carry_out_sends_nothing_when_the_connection_closes_during_a_delay(
    plan: FaultPlan[str], steps: List[str]
) -> None:
    trace = _Trace(open_for=1.0)
    assert trace.run(plan) is None
    assert trace.steps == steps


def test_carry_out_settles_once_even_when_execute_raises() -> None:
    settled: List[int] = []

    def broken() -> str:
        raise RuntimeError("handler bug")

    with pytest.raises(RuntimeError, match="handler bug"):
        carry_out(FaultPlan(), broken, str, lambda seconds: True, lambda: settled.append(1))
    assert settled == [1]
    assert carry_out(FaultPlan(), lambda: "plain", str, lambda seconds: True) == "plain"  # settle is optional


# --------------------------------------------------------------------------- read_body on the fakes


@pytest.fixture(params=["onebot", "mirai", "official"])
def fake(request: Any) -> Iterator[Any]:
    cls = {"onebot": FakeOneBot, "mirai": FakeMirai, "official": FakeOfficial}[request.param]
    server = cls()
    with server:
        yield server


def _ask(fake: Any, request: bytes, *, rest: Optional[bytes] = None) -> bytes:
    with socket.create_connection(("127.0.0.1", fake.port), timeout=10) as sock:
        sock.sendall(request)
        if rest is not None:
            sock.sendall(rest)
        return sock.recv(4096)


def test_a_body_over_the_limit_is_answered_413(fake: Any) -> None:
    answer = _ask(fake, b"POST /send_msg HTTP/1.1\r\nHost: x\r\nContent-Length: 4294967296\r\n\r\n{")
    assert answer.startswith(b"HTTP/1.1 413")


def test_a_bad_content_length_is_answered_400(fake: Any) -> None:
    answer = _ask(fake, b"POST /send_msg HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400")


def test_a_body_that_never_comes_is_answered_408(fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_server, "_BODY_TIMEOUT", 0.3)
    answer = _ask(fake, b"POST /send_msg HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":")
    assert answer.startswith(b"HTTP/1.1 408")


def test_a_body_in_pieces_is_read_whole() -> None:
    with FakeOneBot() as onebot:
        body = b'{"group_id": 5, "message": "hi"}'
        head = b"POST /send_group_msg HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        answer = _ask(onebot, head + b"Content-Length: %d\r\n\r\n" % len(body) + body[:7], rest=body[7:])
        assert answer.startswith(b"HTTP/1.1 200")
        assert onebot.sent_messages[0]["group_id"] == 5
