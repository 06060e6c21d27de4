"""The forward reader's whole-frame fast path gives what websocket-client gives.

A burst of server frames (all in the read-ahead buffer at once) is read through
``_ClientSocket.recv_once``: whole final text/binary frames are taken straight
from the buffer, everything else (fragments, pings, 64-bit lengths, masked or
oversize frames) through websocket-client, in order.
"""

from __future__ import annotations

import json
import random
import socket
import struct
import threading
from typing import Tuple

import pytest
import websocket

from qqreliable.transport.link import LinkEnded
from qqreliable.transport.ws import _ClientSocket, client_text_frame
from qqreliable.transport.wsserver import ServerWebSocket

pytestmark = pytest.mark.timeout(20)


def server_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", first, n) + payload
    if n < 1 << 16:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


def test_a_burst_reads_the_same_as_frame_by_frame(client: Tuple[_ClientSocket, socket.socket]) -> None:
    wire, server = client
    sizes = [0, 1, 125, 126, 400, 65535, 65536, 70_000]
    burst = b"".join(server_frame(0x1 if n % 2 else 0x2, bytes([n % 251]) * n) for n in sizes)
    burst += server_frame(0x1, b"frag-", fin=False) + server_frame(0x9, b"p") + server_frame(0x0, b"ment")
    burst += server_frame(0x1, b"after")
    writer = threading.Thread(target=server.sendall, args=(burst,), name="test-burst")
    writer.start()  # more than a socket buffer holds
    try:
        assert [wire.recv_once() for _ in sizes] == [bytes([n % 251]) * n for n in sizes]
        assert wire.recv_once() is None  # the ping, answered by websocket-client
        assert wire.recv_once() == b"frag-ment"
        assert wire.recv_once() == b"after"
    finally:
        writer.join(5)
    server.settimeout(5)
    assert server.recv(2)[0] == 0x8A  # the ping was answered with a pong


def test_an_oversize_frame_in_the_buffer_is_still_refused(client: Tuple[_ClientSocket, socket.socket]) -> None:
    wire, server = client
    server.sendall(server_frame(0x1, b"ok") + server_frame(0x1, b"x" * 100_001))
    assert wire.recv_once() == b"ok"
    with pytest.raises(LinkEnded) as ended:
        wire.recv_once()
    assert ended.value.bad_frame


def test_a_close_frame_after_data_ends_the_link(client: Tuple[_ClientSocket, socket.socket]) -> None:
    wire, server = client
    server.sendall(server_frame(0x1, b"last") + server_frame(0x8, struct.pack("!H", 1001) + b"bye"))
    assert wire.recv_once() == b"last"
    with pytest.raises(LinkEnded) as ended:
        wire.recv_once()
    assert ended.value.code == 1001


def test_concurrent_writers_each_frame_arrives_whole_once(client: Tuple[_ClientSocket, socket.socket]) -> None:
    """The outbox combines the frames of concurrent callers into shared writes:
    every frame arrives once, whole and unmasked to its text."""
    wire, server = client
    peer = ServerWebSocket(server, require_masked=True)  # reads client frames as a server does
    threads, each = 8, 200
    errors = []

    def write(t: int) -> None:
        try:
            for n in range(each):
                wire.send_text(f'{{"thread": {t}, "n": {n}, "pad": "{"é" * (n % 50)}"}}')
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    pool = [threading.Thread(target=write, args=(t,), name=f"test-writer-{t}") for t in range(threads)]
    for thread in pool:
        thread.start()
    got = [peer.recv() for _ in range(threads * each)]
    for thread in pool:
        thread.join(5)
    assert not errors
    seen = sorted((m["thread"], m["n"]) for m in (json.loads(p) for _, p in got))
    assert seen == [(t, n) for t in range(threads) for n in range(each)]
    peer.abort()


def test_many_small_frames_mixed_with_the_general_path_keep_their_order(
    client: Tuple[_ClientSocket, socket.socket]
) -> None:
    """Hundreds of frames per read are parsed in one go; pings, fragments, 64-bit
    lengths and a masked server frame among them still go through websocket-client,
    in their place."""
    wire, server = client
    expected = []
    burst = b""
    for n in range(400):
        payload = json.dumps({"post_type": "message", "message_id": n}).encode()
        burst += server_frame(0x1, payload)
        expected.append(payload)
        if n % 97 == 5:
            burst += server_frame(0x9, b"p") + server_frame(0x1, b"fr", fin=False)
            burst += server_frame(0xA, b"") + server_frame(0x0, b"ag")
            expected += [None, None, b"frag"]  # ping, pong (proof of life), the message
        if n % 150 == 9:
            big = bytes([n % 256]) * 70_000
            burst += server_frame(0x2, big)
            expected.append(big)
    masked = bytearray(server_frame(0x1, b"masked"))
    masked[1] |= 0x80
    masked[2:2] = b"\x00\x00\x00\x00"  # a zero key: the payload reads as is
    burst += bytes(masked) + server_frame(0x1, b"last")
    expected += [b"masked", b"last"]
    writer = threading.Thread(target=server.sendall, args=(burst,), name="test-burst")
    writer.start()
    try:
        assert [wire.recv() for _ in expected] == expected
    finally:
        writer.join(5)


def test_frames_parsed_ahead_are_not_handed_out_after_abort(client: Tuple[_ClientSocket, socket.socket]) -> None:
    wire, server = client
    server.sendall(b"".join(server_frame(0x1, b"m%d" % n) for n in range(10)))
    assert wire.recv() == b"m0"  # read by websocket-client, with the nine others behind it
    assert wire.recv() == b"m1"  # the nine parsed at once; eight ready
    assert len(wire._ready) == 8
    wire.abort()  # a kill or stop: the reader must end now, not drain what it parsed
    with pytest.raises(LinkEnded):
        wire.recv()


# -- the reader's batches (recv_many, Link.on_batch) ---------------------------


def test_recv_many_gives_what_recv_gives_in_batches(client: Tuple[_ClientSocket, socket.socket]) -> None:
    """Flattened, the batches are the messages recv() gives, in order, with None for
    each control frame; a burst comes in batches of more than one."""
    wire, server = client
    expected = []
    burst = b""
    for n in range(300):
        payload = json.dumps({"post_type": "message", "message_id": n}).encode()
        burst += server_frame(0x1, payload)
        expected.append(payload)
        if n % 97 == 5:
            burst += server_frame(0x9, b"p") + server_frame(0x1, b"fr", fin=False) + server_frame(0x0, b"ag")
            expected += [None, b"frag"]
        if n == 150:
            big = b"b" * 70_000  # a 64-bit length: websocket-client's path
            burst += server_frame(0x2, big)
            expected.append(big)
    writer = threading.Thread(target=server.sendall, args=(burst,), name="test-burst")
    writer.start()
    got: list = []
    sizes = []
    try:
        while len(got) < len(expected):
            batch = wire.recv_many()
            if batch is None:
                got.append(None)
            else:
                assert batch, "a batch holds at least one message"
                sizes.append(len(batch))
                got += batch
    finally:
        writer.join(5)
    assert got == expected
    assert max(sizes) > 1


class _Recorder:
    """Stands in for a caller's waiter: notes when the reader settles the reply."""

    def __init__(self, log: list, then: "object" = None) -> None:
        self._log = log
        self._then = then

    def set_result(self, value: object) -> None:
        self._log.append(("reply", value["echo"]))  # type: ignore[index]
        if callable(self._then):
            self._then()


def _link(wire: _ClientSocket, log: list, batches: list) -> "object":
    from qqreliable.onebot.codec import OneBotCodec
    from qqreliable.reliability.liveness import Liveness
    from qqreliable.transport.link import Link, LinkCounters

    def deliver_many(link: object, events: list) -> None:
        batches.append(len(events))
        log.extend(("event", e["n"]) for e in events)

    return Link(wire, OneBotCodec(), Liveness(), LinkCounters(), name="test",
                deliver=lambda link, e: log.append(("event", e["n"])),
                on_fatal=lambda link, exc: None, deliver_many=deliver_many)


def test_a_batch_keeps_events_replies_and_bad_frames_in_their_order(
    client: Tuple[_ClientSocket, socket.socket]
) -> None:
    """Events of one read are delivered together, but a reply (or a bad frame, or a
    heartbeat) between them is taken in its place: the events before it are
    delivered first, those after it later."""
    wire, server = client
    log: list = []
    batches: list = []
    link = _link(wire, log, batches)
    expected = []
    burst = b""
    for n in range(200):
        burst += server_frame(0x1, json.dumps({"post_type": "message", "self_id": 1, "n": n}).encode())
        expected.append(("event", n))
        if n % 50 == 20:
            echo = f"call-{n}"
            link.pending._waiting[echo] = _Recorder(log)  # type: ignore[attr-defined]
            burst += server_frame(0x1, json.dumps({"status": "ok", "retcode": 0, "echo": echo}).encode())
            expected.append(("reply", echo))
        if n == 120:
            burst += server_frame(0x1, b"{not json")
            burst += server_frame(0x1, json.dumps({"post_type": "meta_event", "meta_event_type": "heartbeat",
                                                   "interval": 5000, "self_id": 1, "n": -1}).encode())
            expected.append(("event", -1))
    burst += server_frame(0x8, struct.pack("!H", 1000))
    writer = threading.Thread(target=server.sendall, args=(burst,), name="test-burst")
    writer.start()
    try:
        reason = link.serve()  # type: ignore[attr-defined]
    finally:
        writer.join(5)
    assert "1000" in reason
    assert log == expected
    assert link.counters.bad_frames == 1 and link.counters.events == 201  # type: ignore[attr-defined]
    assert max(batches) > 1  # delivered in batches, not one by one
    assert link.liveness.interval == 5.0  # type: ignore[attr-defined]  # the heartbeat was noted


def test_a_batch_stops_at_once_when_the_link_is_killed(client: Tuple[_ClientSocket, socket.socket]) -> None:
    """A kill (or stop) while a batch is taken: the events read ahead behind it are
    not handed out, and the reader ends."""
    wire, server = client
    log: list = []
    batches: list = []
    link = _link(wire, log, batches)
    frames = [server_frame(0x1, json.dumps({"post_type": "message", "self_id": 1, "n": n}).encode())
              for n in range(100)]
    link.pending._waiting["kill"] = _Recorder(log, lambda: link.kill("test kill"))  # type: ignore[attr-defined]
    frames.insert(10, server_frame(0x1, json.dumps({"retcode": 0, "echo": "kill"}).encode()))
    server.sendall(server_frame(0x1, json.dumps({"post_type": "message", "self_id": 1, "n": -1}).encode()))
    assert wire.recv() is not None  # websocket-client's first read: what follows is read ahead in one go
    server.sendall(b"".join(frames))
    assert link.serve() == "test kill"  # type: ignore[attr-defined]
    assert log == [("event", n) for n in range(10)] + [("reply", "kill")]


def test_frames_cut_anywhere_between_reads_come_out_whole_and_in_order(
    client: Tuple[_ClientSocket, socket.socket]
) -> None:
    """The stream arrives in pieces cut inside headers, extended lengths and
    payloads; after each piece the reader takes what is whole and times out on
    the rest (a read that ran dry is filled and parsed in one loop, a partial
    frame kept for the next read), so every message comes out once, whole, in order."""
    wire, server = client
    wire.ws.settimeout(0.05)
    frames = [
        (server_frame(0x1, b"hello"), b"hello"),
        (server_frame(0x1, b"m" * 300), b"m" * 300),  # 16-bit length
        (server_frame(0x9, b"ping"), None),
        (server_frame(0x2, bytes(range(256)) * 280), bytes(range(256)) * 280),  # 64-bit length
        (server_frame(0x1, b"fr", fin=False) + server_frame(0x0, b"ag"), b"frag"),
        (server_frame(0x1, b""), b""),
        (server_frame(0x1, b"tail"), b"tail"),
    ]
    stream = b"".join(f for f, _ in frames)
    bounds, at = [], 0
    for frame, _ in frames:
        bounds += [at + d for d in (-1, 1, 2, 3, 4, 9, 10, 11)]
        at += len(frame)
    rng = random.Random(16)
    cuts = sorted({c for c in bounds + list(range(1, 12)) + [rng.randrange(len(stream)) for _ in range(30)]
                   if 0 < c < len(stream)})
    got = []
    for start, end in zip([0] + cuts, cuts + [len(stream)]):
        server.sendall(stream[start:end])
        while True:
            try:
                got.append(wire.recv_once())
            except TimeoutError:
                break
    assert got == [message for _, message in frames]


def test_a_whole_control_frame_in_the_buffer_is_taken_without_another_read(
    client: Tuple[_ClientSocket, socket.socket]
) -> None:
    """A pong already read ahead behind data frames is handed on at once: the
    reader does not wait on the socket for more before reading it."""
    wire, server = client
    wire.ws.settimeout(5)  # a wrong read would block the test's whole timeout
    server.sendall(server_frame(0x1, b"a") + server_frame(0xA, b"") + server_frame(0x1, b"b"))
    assert wire.recv_once() == b"a"
    assert wire.recv_once() is None  # the pong, from the buffer
    assert wire.recv_once() == b"b"


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70_000])
def test_client_text_frames_are_what_websocket_client_writes(size: int) -> None:
    text = ("é" + "x" * size)[:size] if size else ""
    key = b"\x01\x82\xf3\x44"
    theirs = websocket.ABNF.create_frame(text, websocket.ABNF.OPCODE_TEXT)
    theirs.get_mask_key = lambda n: key
    assert client_text_frame(text, lambda n: key) == theirs.format()
    # and a server reads back the text (random key)
    ours, other = socket.socketpair()
    try:
        peer = ServerWebSocket(other, require_masked=True)
        ours.sendall(client_text_frame(text))
        assert peer.recv() == (0x1, text.encode("utf-8"))
    finally:
        ours.close()
        other.close()


def test_events_delivered_as_their_payload_are_batched_too(client: Tuple[_ClientSocket, socket.socket]) -> None:
    """mirai-api-http wraps each event (``{"syncId": "-1", "data": {...}}``): the
    codec delivers the ``data``. Those events are batched like plain ones, in their
    place among replies; a frame the codec notes something about is taken alone."""
    from qqreliable.mirai.codec import MiraiCodec
    from qqreliable.reliability.liveness import Liveness
    from qqreliable.transport.link import Link, LinkCounters

    wire, server = client
    log: list = []
    batches: list = []

    def deliver_many(link: object, events: list) -> None:
        batches.append(len(events))
        log.extend(("event", e["n"]) for e in events)

    codec = MiraiCodec("key", 10001)
    link = Link(wire, codec, Liveness(), LinkCounters(), name="test",
                deliver=lambda link, e: log.append(("event", e["n"])),
                on_fatal=lambda link, exc: None, deliver_many=deliver_many)
    expected = []
    burst = b""
    for n in range(120):
        burst += server_frame(0x1, json.dumps({"syncId": "-1", "data": {"type": "GroupMessage", "n": n}}).encode())
        expected.append(("event", n))
        if n == 60:
            link.pending._waiting["7"] = _Recorder(log)  # type: ignore[attr-defined]
            burst += server_frame(0x1, json.dumps({"syncId": "7", "data": {"code": 0, "echo": "7"}}).encode())
            expected.append(("reply", "7"))
    burst += server_frame(0x8, struct.pack("!H", 1000))
    writer = threading.Thread(target=server.sendall, args=(burst,), name="test-burst")
    writer.start()
    try:
        link.serve()  # type: ignore[attr-defined]
    finally:
        writer.join(5)
    assert log == expected
    assert link.counters.events == 120  # type: ignore[attr-defined]
    assert max(batches) > 1 and sum(batches) == 120
