from __future__ import annotations

import socket
import threading
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest
import websocket

from qqreliable import Bot
from qqreliable.transport.ws import _bound_frames, _ClientSocket

from .helpers import FAST, bot_factory
from .scale_helpers import redis_base, redis_url  # noqa: F401  (the real-Redis fixtures, for every module)


@pytest.fixture
def make_bot() -> Iterator[Callable[..., Bot]]:
    """Bots with fast reconnects; every bot made is stopped at teardown."""
    with bot_factory(Bot, reconnect=FAST, api_timeout=5.0, shutdown_grace=2.0) as make:
        yield make


@pytest.fixture
def client() -> Iterator[Tuple[_ClientSocket, socket.socket]]:
    """A websocket-client socket as the forward reader uses it (bounded read-ahead),
    over a socketpair: the test plays the server on the other end."""
    ours, theirs = socket.socketpair()
    ws = websocket.WebSocket(enable_multithread=True, skip_utf8_validation=True)
    ws.sock = ours
    ws.connected = True
    ws.settimeout(5)
    _bound_frames(ws, 100_000)
    stopping = threading.Event()
    try:
        yield _ClientSocket(ws, stopping, 5.0), theirs
    finally:
        ours.close()
        theirs.close()


# --------------------------------------------------------------------------- the fault matrix
# tests/faults.py maps every fault of the catalog to the tests that cover it. Those
# tests are marked ``fault_matrix`` here, and a coverage table (fault -> scenarios ->
# result) is printed at the end of every run that included any of them.

_FAULT_RESULTS: Dict[str, Dict[str, str]] = {}  # fault id -> {test node id: outcome}


def _fault_index() -> Dict[str, List[str]]:
    from .faults import MATRIX

    index: Dict[str, List[str]] = {}
    for fault_id, scenarios in MATRIX.items():
        for node, _ in scenarios:
            index.setdefault(node, []).append(fault_id)
    return index


def _base_node(nodeid: str) -> str:
    """'tests/test_x.py::test_y[param]' -> 'test_x.py::test_y'."""
    return nodeid.split("[", 1)[0].rsplit("tests/", 1)[-1]


def pytest_collection_modifyitems(config: Any, items: List[Any]) -> None:
    index = _fault_index()
    for item in items:
        faults = index.get(_base_node(item.nodeid))
        if faults:
            item.add_marker(pytest.mark.fault_matrix)
            item.user_properties.append(("faults", tuple(faults)))


def pytest_runtest_logreport(report: Any) -> None:
    faults = dict(report.user_properties).get("faults")
    if not faults:
        return
    if report.when == "call" or report.outcome != "passed":
        outcome = "skipped" if report.skipped else report.outcome
        for fault_id in faults:
            results = _FAULT_RESULTS.setdefault(fault_id, {})
            if results.get(report.nodeid) != "failed":  # a failed phase stays failed
                results[report.nodeid] = outcome


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FAULT_RESULTS:
        return
    from .faults import CATALOG, MATRIX, NOT_APPLICABLE

    write = terminalreporter.write_line
    terminalreporter.section("fault matrix (tests/faults.py)")
    write(f"{'fault':<9} {'result':<8} {'tests':>5}  scenarios")
    for fault_id, title in CATALOG.items():
        if fault_id in NOT_APPLICABLE:
            write(f"{fault_id:<9} {'n/a':<8} {'':>5}  {title}: {NOT_APPLICABLE[fault_id]}")
            continue
        results = _FAULT_RESULTS.get(fault_id, {})
        if not results:
            verdict = "not run"
        elif "failed" in results.values():
            verdict = "FAIL"
        elif all(v == "passed" for v in results.values()):
            verdict = "pass"
        else:
            verdict = "partial"
        shown = "; ".join(what for _, what in MATRIX.get(fault_id, []))
        write(f"{fault_id:<9} {verdict:<8} {len(results):>5}  {title}: {shown}")
