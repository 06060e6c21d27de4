"""Start-up: ``import qqreliable`` against ``import requests, websocket``, in fresh processes.

    python benchmarks/startup.py [--runs 21] [--no-bytecode]

Each sample is a new interpreter (this one, ``-c``) that times its own import
with ``time.perf_counter()`` around the ``import`` statement, so interpreter
start-up and ``site`` are left out and only the import is measured. The
statements alternate run by run, so noise from a shared machine falls on every
side alike; the figure is the median, with [min-max]. Bytecode is written
once by a warm-up run of each statement (``--no-bytecode`` measures with
``-B`` and ``PYTHONDONTWRITEBYTECODE``: nothing is read from ``__pycache__``
either, as after a fresh install without compiled files).

The target (issue 16): ``import qqreliable`` at most 1.3x the import of its
own dependencies ``requests`` and ``websocket`` (websocket-client), which it
cannot avoid: the media, testing and CLI parts load only when used.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from typing import Dict, List

import _common

STATEMENTS = {
    "import requests, websocket": "import requests, websocket",
    "import qqreliable": "import qqreliable",
    "from qqreliable import Bot, Event, Message": "from qqreliable import Bot, Event, Message",
}
BASE = "import requests, websocket"
PROBE = (
    "import time, sys\n"
    "c = time.process_time()\n"
    "t = time.perf_counter()\n"
    "{stmt}\n"
    "t = time.perf_counter() - t\n"
    "c = time.process_time() - c\n"
    "sys.stdout.write(repr(t) + ' ' + repr(c) + ' ' + str(len(sys.modules)))\n"
)


def sample(stmt: str, bytecode: bool) -> List[float]:
    """[wall seconds, CPU seconds, modules loaded] of one fresh interpreter."""
    env = dict(os.environ)
    cmd = [sys.executable]
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        cmd.append("-B")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        # nothing cached may be read either: point the cache at an empty directory
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="qqr-startup-")
    cmd += ["-c", PROBE.format(stmt=stmt)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env,
                         cwd=tempfile.gettempdir())
    if out.returncode != 0:
        raise RuntimeError(f"{stmt!r} failed: {out.stderr.strip()[-300:]}")
    seconds, cpu, modules = out.stdout.split()
    return [float(seconds), float(cpu), float(modules)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=21, help="fresh interpreters per statement")
    parser.add_argument("--no-bytecode", action="store_true", help="measure without __pycache__")
    args = parser.parse_args()
    bytecode = not args.no_bytecode
    _common.header("startup.py: import time in fresh interpreters"
                   + (" (with bytecode)" if bytecode else " (no bytecode: -B, empty pycache prefix)"))
    for stmt in STATEMENTS.values():  # compile and cache once
        sample(stmt, True)
    times: Dict[str, List[float]] = {name: [] for name in STATEMENTS}
    cpus: Dict[str, List[float]] = {name: [] for name in STATEMENTS}
    modules: Dict[str, float] = {}
    for _ in range(args.runs):
        for name, stmt in STATEMENTS.items():
            seconds, cpu, count = sample(stmt, bytecode)
            times[name].append(seconds)
            cpus[name].append(cpu)
            modules[name] = count
    rows = []
    for name in STATEMENTS:
        rows.append([name, _spread([t * 1000 for t in times[name]], "{:.1f}"),
                     _spread(_ratios(times[name], times[BASE]), "{:.2f}", "x"),
                     _spread([c * 1000 for c in cpus[name]], "{:.1f}"),
                     _spread(_ratios(cpus[name], cpus[BASE]), "{:.2f}", "x"),
                     f"{modules[name]:.0f}"])
    _common.table([f"statement ({args.runs} fresh interpreters each, alternating)", "wall ms",
                   "wall vs base, same run", "CPU ms", "CPU vs base, same run", "modules"], rows)
    sys.stdout.write(f"base: {BASE}. median [min-max]. CPU time is the steadier figure on a shared machine:\n"
                     "an import is CPU-bound once its files are in the page cache.\n")
    for name in ("import qqreliable", "from qqreliable import Bot, Event, Message"):
        wall = _common.median(_ratios(times[name], times[BASE]))
        cpu = _common.median(_ratios(cpus[name], cpus[BASE]))
        verdict = "met" if max(wall, cpu) <= 1.3 else ("met in CPU, not in wall time" if cpu <= 1.3 else "NOT met")
        sys.stdout.write(f"target: {name} <= 1.30x {BASE}: wall {wall:.2f}x, CPU {cpu:.2f}x: {verdict}\n")


def _ratios(values: List[float], bases: List[float]) -> List[float]:
    return [v / b for v, b in zip(values, bases)]


def _spread(values: List[float], fmt: str, unit: str = "") -> str:
    return (f"{fmt.format(_common.median(values))}{unit} "
            f"[{fmt.format(min(values))}-{fmt.format(max(values))}]")


if __name__ == "__main__":
    main()
