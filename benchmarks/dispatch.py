"""The handler pool against ``queue.SimpleQueue`` + threads, in the same run.

    python benchmarks/dispatch.py [--events 100000] [--rounds 5]

No network: this is the queue between a reader and the handler threads
(``qqreliable.runtime.dispatcher.Dispatcher``) on its own. The baseline is the
pool ``concurrent.futures.ThreadPoolExecutor`` is built on: worker threads
blocked in ``SimpleQueue.get()``, whose queue is written in C. It has no bound,
no drop counting, no ``wait_idle`` and no clean stop; the figure to read is how
much our pool costs on top of it.

- Backlog: the events of many reads (batches of 50, as ``submit_events`` gets
  them) queued faster than a trivial handler takes them, with 1 and with 8
  workers: events/s, CPU per event and context switches per event (all
  threads of the process, the producer included). A pool whose workers hand
  a lock and the GIL to each other for every event pays here.
- Blocking handlers: 400 events whose handler waits 5 ms (an API call), 8
  workers: the wall time against the baseline's (1.00x: the same concurrency).

Rounds alternate the two sides; the medians are printed.
"""

from __future__ import annotations

import argparse
import queue
import resource
import threading
import time
from typing import Any, Callable, Dict, List, Tuple

import _common

from qqreliable.runtime.dispatcher import Dispatcher
from qqreliable.runtime.supervisor import Supervisor

_BATCH = 50


class _Event:
    __slots__ = ("name",)

    def __init__(self) -> None:
        self.name = "message.group.normal"


def _usage() -> Tuple[float, int]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, r.ru_nvcsw + r.ru_nivcsw


class _Ours:
    def __init__(self, workers: int, handler: Callable[[Any], None]) -> None:
        self.dispatcher = Dispatcher(workers=workers, queue_size=10_000_000)
        self.dispatcher.add("message.group", handler)
        self.supervisor = Supervisor(prefix="bench-dispatch")
        self.dispatcher.start(self.supervisor)

    def run(self, batches: List[List[Any]], timeout: float) -> None:
        submit = self.dispatcher.submit_events
        for batch in batches:
            submit(batch)
        if not self.dispatcher.wait_idle(timeout):
            raise RuntimeError("the dispatcher did not finish in time")

    def close(self) -> None:
        self.dispatcher.stop()
        self.supervisor.join(5)


class _Baseline:
    """Worker threads blocked in SimpleQueue.get(): ThreadPoolExecutor's design."""

    def __init__(self, workers: int, handler: Callable[[Any], None]) -> None:
        self.queue: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self.handler = handler
        self.left = 0
        self.lock = threading.Lock()
        self.finished = threading.Event()
        self.threads = [threading.Thread(target=self._work, name=f"bench-baseline-{i}") for i in range(workers)]
        for thread in self.threads:
            thread.start()

    def _work(self) -> None:
        get, handler = self.queue.get, self.handler
        while True:
            item = get()
            if item is None:
                return
            handler(item)
            with self.lock:  # the baseline knows when it is done, as wait_idle() does
                self.left -= 1
                if not self.left:
                    self.finished.set()

    def run(self, batches: List[List[Any]], timeout: float) -> None:
        self.finished.clear()
        with self.lock:
            self.left = sum(len(b) for b in batches)
        put = self.queue.put
        for batch in batches:
            for item in batch:
                put(item)
        if not self.finished.wait(timeout):
            raise RuntimeError("the baseline did not finish in time")

    def close(self) -> None:
        for _ in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join(5)


def _measure(side: Any, batches: List[List[Any]], timeout: float) -> Tuple[float, float, float]:
    """(events/s, CPU us per event, context switches per event)."""
    n = sum(len(b) for b in batches)
    cpu0, cs0 = _usage()
    started = time.perf_counter()
    side.run(batches, timeout)
    wall = time.perf_counter() - started
    cpu1, cs1 = _usage()
    return n / wall, (cpu1 - cpu0) / n * 1e6, (cs1 - cs0) / n


def backlog(events: int, rounds: int, workers: int) -> Dict[str, List[Tuple[float, float, float]]]:
    batches = [[_Event() for _ in range(_BATCH)] for _ in range(events // _BATCH)]
    results: Dict[str, List[Tuple[float, float, float]]] = {"ours": [], "baseline": []}
    sides = {"ours": _Ours(workers, lambda e: None), "baseline": _Baseline(workers, lambda e: None)}
    try:
        for name in sides:  # warm up
            sides[name].run(batches[:20], 30)
        for r in range(rounds):
            for name in (("ours", "baseline") if r % 2 == 0 else ("baseline", "ours")):
                results[name].append(_measure(sides[name], batches, 120))
    finally:
        for side in sides.values():
            side.close()
    return results


def blocking(rounds: int, count: int = 400, wait: float = 0.005) -> Dict[str, List[float]]:
    batches = [[_Event() for _ in range(_BATCH)] for _ in range(count // _BATCH)]
    walls: Dict[str, List[float]] = {"ours": [], "baseline": []}
    sides = {"ours": _Ours(8, lambda e: time.sleep(wait)), "baseline": _Baseline(8, lambda e: time.sleep(wait))}
    try:
        for r in range(rounds):
            for name in (("ours", "baseline") if r % 2 == 0 else ("baseline", "ours")):
                started = time.perf_counter()
                sides[name].run(batches, 60)
                walls[name].append(time.perf_counter() - started)
    finally:
        for side in sides.values():
            side.close()
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events per backlog round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per side (at least 3)")
    args = parser.parse_args()
    if args.rounds < 3:
        parser.error("--rounds must be at least 3")
    _common.quiet()
    _common.header("dispatch.py: the handler pool vs queue.SimpleQueue + threads (ThreadPoolExecutor's design)")
    rows = []
    for workers in (1, 8):
        res = backlog(args.events, args.rounds, workers)
        med = {name: [_common.median([r[i] for r in res[name]]) for i in range(3)] for name in res}
        for name, label in (("baseline", "SimpleQueue + threads"), ("ours", "qqreliable Dispatcher")):
            rate, cpu, cs = med[name]
            rows.append([f"backlog, {workers} worker{'s' if workers > 1 else ''}", label, rate, cpu, f"{cs:.3f}",
                         f"{cpu / med['baseline'][1]:.2f}x"])
    _common.table(["workload", "pool", "events/s", "CPU us/event", "switches/event", "CPU vs baseline"], rows)
    walls = blocking(args.rounds)
    ours, base = _common.median(walls["ours"]), _common.median(walls["baseline"])
    _common.table(
        ["workload", "pool", "wall s", "vs baseline"],
        [["400 handlers waiting 5 ms, 8 workers", "SimpleQueue + threads", base, "1.00x"],
         ["400 handlers waiting 5 ms, 8 workers", "qqreliable Dispatcher", ours, f"{ours / base:.2f}x"]],
    )


if __name__ == "__main__":
    main()
