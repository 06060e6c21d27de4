"""Combined writes (``_Outbox``): what a writer hears when a shared write fails.

Raising from ``send_text`` means "not sent" to the caller (``ConnectFailed``, which
a send may repeat), so it must only happen while the caller's own frame has not
left whole.
"""

from __future__ import annotations

import json
import socket
from typing import Tuple

import pytest

from qqreliable.transport.ws import _ClientSocket
from qqreliable.transport.wsserver import ServerWebSocket

pytestmark = pytest.mark.timeout(20)


def test_a_write_failing_after_the_writers_frame_left_is_not_reported_as_not_sent(
    client: Tuple[_ClientSocket, socket.socket]
) -> None:
    """The writer's own frame left whole, then the write of a frame another caller
    queued meanwhile failed: the writer must not hear "not sent" (a send would be
    repeated and delivered twice); the socket is shut down instead, so every call in
    flight on it ends as "may or may not have run"."""
    wire, server = client
    ws = wire.ws
    real_send = ws._send
    calls = []

    def send(data: bytes) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            wire.send_text('{"from": "B"}')  # another caller queues while A writes: it returns at once
            return real_send(data)
        raise OSError("connection reset by peer")

    ws._send = send
    wire.send_text('{"from": "A"}')  # must not raise: A's frame is on the wire
    assert len(calls) == 2
    peer = ServerWebSocket(server, require_masked=True)
    assert json.loads(peer.recv()[1]) == {"from": "A"}
    server.settimeout(5)
    assert server.recv(1) == b""  # and the socket was shut down: the link ends, calls fail as ResponseLost


def test_a_write_failing_before_the_writers_frame_left_raises(
    client: Tuple[_ClientSocket, socket.socket]
) -> None:
    """Nothing of the writer's frame left: it hears the error ("not sent")."""
    wire, _ = client

    def send(data: bytes) -> int:
        raise OSError("broken pipe")

    wire.ws._send = send
    with pytest.raises(OSError):
        wire.send_text('{"from": "A"}')
