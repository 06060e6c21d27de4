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
