"""A blast server (``_blast.py``, ``_mirai_blast.py``) in a child process of its own.

In the benchmark's process, the server's writer thread shares the GIL with the
client under test: every frame it writes releases and takes back the GIL, and
the reader it feeds is scheduled around that, not around the socket. How many
frames one socket read brings then depends on the GIL's hand-offs, and so does
the reader's cost per event (measured: a MiraiBot reader made 2,200-3,300 reads
for 60,000 frames next to an in-process server, 148 a round of 20,000 next to a
server in a process of its own). A real server (NapCat, mirai-api-http) is
another process, so the blast servers are too: :class:`BlastProcess` has the
methods the benchmarks call on a server, and forwards them over a pipe.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from typing import Any, Dict, List, Tuple

_INLINE = 64  # frame lists up to this long go with their blast() (a probe's single frame)


class BlastProcess:
    """``kind`` ("onebot" or "mirai")'s blast server in a child process.

    ``url``, ``port``, :meth:`blast`, :meth:`wait_clients`, :meth:`drop_all` and
    :attr:`connections` are those of the server. :meth:`load` sends a long frame
    list to the child before any clock starts; :meth:`blast` of it then sends only
    its key. Thread-safe (one request on the pipe at a time). Use as a context
    manager, or call :meth:`close`.
    """

    def __init__(self, kind: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_host, args=(child, kind), name=f"blast-{kind}", daemon=True)
        self._proc.start()
        if not self._conn.poll(60):
            self._proc.kill()
            raise RuntimeError(f"the {kind} blast server's process did not start")
        self.url, self.port = self._conn.recv()
        self._lock = threading.Lock()
        # id(frames) -> (key, frames): the list is kept, so that its id is not reused
        self._loaded: Dict[int, Tuple[int, List[bytes]]] = {}

    def _ask(self, *request: Any) -> Any:
        with self._lock:
            self._conn.send(request)
            if not self._conn.poll(600):
                raise TimeoutError(f"the blast server did not answer {request[0]!r} within 600 s")
            ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"blast server: {value}")
        return value

    def load(self, frames: List[bytes]) -> None:
        """Send ``frames`` to the child now, so that :meth:`blast` of them sends a key."""
        entry = self._loaded.get(id(frames))
        if entry is not None and entry[1] is frames:
            return
        key = len(self._loaded)
        self._ask("load", key, frames)
        self._loaded[id(frames)] = (key, frames)

    def blast(self, frames: List[bytes]) -> None:
        """Write every frame to every client, back to back; returns when written."""
        if len(frames) <= _INLINE:
            self._ask("blast_inline", frames)
            return
        self.load(frames)
        self._ask("blast", self._loaded[id(frames)][0])

    def wait_clients(self, n: int, timeout: float = 20.0) -> None:
        self._ask("wait_clients", n, timeout)

    def drop_all(self) -> None:
        """Abort every connection without a close frame (the client sees 1006)."""
        self._ask("drop_all")

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        return int(self._ask("connections"))

    def close(self) -> None:
        try:
            self._ask("stop")
        except (OSError, EOFError, RuntimeError, TimeoutError):
            pass
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)

    def __enter__(self) -> "BlastProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _host(conn: Any, kind: str) -> None:
    """The child: one server, answering the parent's requests until "stop"."""
    from _blast import BlastServer
    from _mirai_blast import MiraiBlastServer

    logging.basicConfig(level=logging.ERROR)
    server = MiraiBlastServer() if kind == "mirai" else BlastServer()
    conn.send((server.url, server.port))
    loaded: Dict[int, List[bytes]] = {}
    try:
        while True:
            try:
                request = conn.recv()
            except EOFError:
                return  # the parent is gone
            op, args = request[0], request[1:]
            try:
                value: Any = None
                if op == "stop":
                    conn.send((True, None))
                    return
                if op == "load":
                    loaded[args[0]] = args[1]
                elif op == "blast":
                    server.blast(loaded[args[0]])
                elif op == "blast_inline":
                    server.blast(args[0])
                elif op == "wait_clients":
                    server.wait_clients(args[0], args[1])
                elif op == "drop_all":
                    server.drop_all()
                elif op == "connections":
                    value = server.connections
                else:
                    raise ValueError(f"unknown request {op!r}")
            except Exception as exc:  # said to the parent, which raises it there
                conn.send((False, f"{type(exc).__name__}: {exc}"))
            else:
                conn.send((True, value))
    finally:
        server.close()
