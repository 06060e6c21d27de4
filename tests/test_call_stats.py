"""CallStats: the counters bot.stats() shows."""

from __future__ import annotations

import threading

from qqreliable.stats import CallStats, percentile


def test_delivered_is_record_with_outcome_delivered() -> None:
    fast, slow = CallStats(), CallStats()
    for latency in (0.01, 0.02, 0.03):
        fast.delivered("send_group_msg", latency)
        slow.record("send_group_msg", latency=latency, outcome="delivered")
    assert fast.snapshot() == slow.snapshot()
    row = fast.snapshot()["send_group_msg"]
    assert (row["count"], row["ok"], row["outcomes"], row["errors"]) == (3, 3, {"delivered": 3}, {})


def test_record_counts_errors_retries_and_outcomes() -> None:
    stats = CallStats()
    stats.record("send_msg", latency=0.1, error=TimeoutError("x"), retries=2, outcome="not_sent")
    stats.delivered("send_msg", 0.2)
    row = stats.snapshot()["send_msg"]
    assert row["count"] == 2 and row["ok"] == 1 and row["success_rate"] == 0.5
    assert row["errors"] == {"TimeoutError": 1} and row["retries"] == 2
    assert row["outcomes"] == {"not_sent": 1, "delivered": 1}
    assert row["latency_p50"] in (0.1, 0.2) and row["latency_p99"] == 0.2


def test_counts_from_many_threads_add_up() -> None:
    stats = CallStats()

    def work() -> None:
        for _ in range(500):
            stats.delivered("a", 0.001)
            stats.record("a", latency=0.001)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    row = stats.snapshot()["a"]
    assert row["count"] == 8000 and row["ok"] == 8000 and row["outcomes"] == {"delivered": 4000}


def test_percentile() -> None:
    assert percentile([], 0.5) is None
    assert percentile([1.0, 2.0, 3.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 3.0], 0.99) == 3.0
