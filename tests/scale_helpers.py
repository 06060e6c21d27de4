"""A real Redis for the tests of qqreliable.scale: never skipped.

``QQRELIABLE_TEST_REDIS`` (set by ``.ci/run``) names a running server; without it
the fixture starts ``redis-server`` on a free port (no persistence) and fails the
test loudly when it cannot.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from typing import Iterator

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A redis-server subprocess on 127.0.0.1 (port 0 is not supported by redis: a free port)."""

    def __init__(self, port: int = 0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not on PATH: apt-get install -y redis-server (tests never skip it)")
        self.port = port or _free_port()
        self.dir = tempfile.mkdtemp(prefix="qqr-redis-")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)  # polling a subprocess's port: no event to wait on

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_base() -> Iterator[str]:
    url = os.environ.get("QQRELIABLE_TEST_REDIS")
    if url:
        yield url.rstrip("/")
        return
    server = RedisServer()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_base: str) -> str:
    """The shared server's URL with a namespace of this test's own."""
    sep = "&" if "?" in redis_base else "?"
    return f"{redis_base}{sep}namespace=t{uuid.uuid4().hex[:10]}"
