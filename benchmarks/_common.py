"""Shared bits of the benchmark scripts: a table printer and a quiet logger set-up.

Every benchmark measures qqreliable and its baseline in the same run, on the
same FakeOneBot, interleaving repetitions so that noise from a shared machine
falls on both sides alike. The figure to read is the ratio.
"""

from __future__ import annotations

import logging
import os
import platform
import statistics
import sys
from typing import List, Sequence

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def quiet() -> None:
    logging.basicConfig(level=logging.ERROR)


def header(title: str) -> None:
    sys.stdout.write(
        f"{title}\nPython {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs\n\n"
    )


def table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells: List[List[str]] = [list(columns)] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    sys.stdout.write("\n".join(lines) + "\n\n")
    sys.stdout.flush()


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


class ServerProcess:
    """FakeOneBot in a child process, so that server and client do not share a GIL.

    ``with ServerProcess(heartbeat_interval=30) as urls:`` gives
    ``urls["ws"]`` and ``urls["http"]``; leaving the block stops the child.
    """

    def __init__(self, **options: object) -> None:
        import multiprocessing

        self._ctx = multiprocessing.get_context("spawn")
        self._options = options
        self._parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_serve_child, args=(child, options), daemon=True)

    def __enter__(self) -> dict:
        self._proc.start()
        if not self._parent.poll(30):
            self._proc.kill()
            raise RuntimeError("FakeOneBot child did not start")
        return self._parent.recv()

    def __exit__(self, *exc: object) -> None:
        self._parent.send("stop")
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)


def _serve_child(conn: object, options: dict) -> None:
    from qqreliable.testing import FakeOneBot

    logging.basicConfig(level=logging.ERROR)
    with FakeOneBot(**options) as server:
        conn.send({"ws": server.ws_url, "http": server.url})  # type: ignore[attr-defined]
        conn.recv()  # type: ignore[attr-defined]
