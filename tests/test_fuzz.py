"""Property-based fuzzing: arbitrary frames and events give typed errors, never a crash.

CQ-code parse/render round trips live in test_message.py; this file covers
what arrives from the wire: any bytes as a frame, any JSON object as an event,
and garbage through a real socket into a running Bot.
"""

from __future__ import annotations

import json
from typing import Any, List

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qqreliable import Event, Message, ProtocolError
from qqreliable.transport._json import parse_frame

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
known_keys = st.sampled_from(
    ["post_type", "message_type", "notice_type", "request_type", "meta_event_type", "sub_type",
     "message", "raw_message", "user_id", "group_id", "self_id", "message_id", "interval", "echo"]
)
event_like = st.dictionaries(known_keys | st.text(max_size=8), json_values, max_size=10)
segment_like = st.fixed_dictionaries({"type": json_values, "data": json_values})
message_field = json_values | st.lists(segment_like | json_values, max_size=4) | st.text(max_size=40)


@given(st.binary(max_size=200))
@settings(max_examples=300)
def test_any_bytes_are_an_object_or_a_protocol_error(data: bytes) -> None:
    try:
        obj = parse_frame(data)
    except ProtocolError:
        return
    assert isinstance(obj, dict)


@given(json_values)
def test_any_json_is_an_object_or_a_protocol_error(value: Any) -> None:
    text = json.dumps(value)
    try:
        obj = parse_frame(text)
    except ProtocolError:
        assert not isinstance(value, dict)
        return
    assert obj == value


def test_deeply_nested_json_is_a_protocol_error() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    try:
        parse_frame(deep)
    except ProtocolError:
        pass


def _touch(event: Event) -> None:
    """Every helper a handler might use; none may raise."""
    assert isinstance(event.name, str)
    assert isinstance(event.post_type, str)
    assert isinstance(event.detail_type, str)
    assert isinstance(event.plain_text, str)
    assert isinstance(event.message, Message)
    assert isinstance(str(event.message), str)
    assert isinstance(event.is_group, bool)
    assert isinstance(event.is_private, bool)
    assert isinstance(event.is_self, bool)
    repr(event)


@given(event_like)
@settings(max_examples=300)
def test_event_helpers_never_raise_on_arbitrary_objects(obj: Any) -> None:
    _touch(Event(obj))


@given(st.sampled_from(["message", "message_sent"]), message_field, json_values)
@settings(max_examples=300)
def test_message_events_with_odd_message_fields(post_type: str, message: Any, raw: Any) -> None:
    _touch(Event({"post_type": post_type, "message_type": "group", "message": message, "raw_message": raw}))


@given(st.text(max_size=60))
def test_message_from_any_string_round_trips_to_equal_segments(text: str) -> None:
    message = Message(text)
    assert Message(str(message)) == message


@given(st.lists(st.binary(min_size=1, max_size=64) | st.text(min_size=1, max_size=64), min_size=1, max_size=5))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_garbage_through_a_real_socket_never_stops_the_bot(onebot: Any, make_bot: Any, frames: Any) -> None:
    bot = make_bot(onebot.ws_url)
    with bot:
        bot.wait_connected(5)
        for frame in frames:
            onebot.send_garbage(frame)
        assert bot.get_login_info()["user_id"] == onebot.self_id  # the reader is alive
        assert bot.connected


def test_oversized_message_is_refused_and_the_bot_reconnects(onebot: Any, make_bot: Any) -> None:
    bot = make_bot(onebot.ws_url, max_message_size=4096)
    with bot:
        bot.wait_connected(5)
        onebot.send_garbage("x" * 5000)
        onebot.wait_for_connections(2)  # the stream cannot be resynchronised: a new connection
        assert bot.wait_connected(5) == onebot.self_id
        assert bot.get_login_info()["user_id"] == onebot.self_id
        assert bot.stats()["bad_frames"] == 1


def test_frame_length_is_checked_before_the_payload_is_read() -> None:
    import struct

    import websocket

    from qqreliable.transport.ws import _BoundedFrames

    header = bytes([0x82, 127]) + struct.pack("!Q", 1 << 40)  # binary, fin, 1 TiB
    stream = [header]
    reads: List[int] = []

    def recv(n: int) -> bytes:
        reads.append(n)
        return stream.pop(0) if stream else b""

    frames = _BoundedFrames(recv, limit=1 << 20)
    try:
        frames.recv_frame()
    except websocket.WebSocketPayloadException as exc:
        assert "over the 1048576-byte limit" in str(exc)
    else:
        raise AssertionError("a 1 TiB frame was not refused")
    assert max(reads) < 1 << 20  # nothing near the declared size was asked for


def test_fragmented_message_total_is_bounded() -> None:
    import websocket

    from qqreliable.transport.ws import _BoundedFrames

    def frame(opcode: int, payload: bytes, fin: bool) -> bytes:
        return bytes([(0x80 if fin else 0) | opcode, len(payload)]) + payload

    data = bytearray(frame(0x1, b"a" * 100, False) + frame(0x0, b"b" * 100, False) + frame(0x0, b"c" * 100, True))

    def recv(n: int) -> bytes:
        chunk = bytes(data[:n])
        del data[:n]
        return chunk

    frames = _BoundedFrames(recv, limit=250)
    frames.recv_frame()
    frames.recv_frame()
    try:
        frames.recv_frame()
    except websocket.WebSocketPayloadException:
        pass
    else:
        raise AssertionError("300 bytes in fragments passed a 250-byte limit")


def test_read_ahead_survives_a_timeout_mid_frame() -> None:
    import websocket

    from qqreliable.transport.ws import _BoundedFrames

    def frame(payload: bytes) -> bytes:
        return bytes([0x81, 126]) + len(payload).to_bytes(2, "big") + payload

    first, second = b"a" * 300, b"b" * 200
    wire = frame(first) + frame(second)
    script: List[Any] = [wire[:100], websocket.WebSocketTimeoutException("slow"), wire[100:250],
                         websocket.WebSocketTimeoutException("slow"), wire[250:]]
    asked: List[int] = []

    def recv(n: int) -> bytes:
        asked.append(n)
        step = script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    frames = _BoundedFrames(recv, limit=None)
    got = []
    while len(got) < 2:
        try:
            got.append(frames.recv_frame().data)
        except websocket.WebSocketTimeoutException:
            continue
    assert got == [first, second]
    assert min(asked) >= 65536  # always reads ahead, never 2 bytes at a time


def test_huge_webhook_body_is_refused_before_it_is_read(make_bot: Any) -> None:
    import socket
    from urllib.parse import urlsplit

    bot = make_bot(listen="http://127.0.0.1:0/onebot")
    with bot:
        where = urlsplit(bot.listen_url)
        with socket.create_connection((where.hostname, where.port), timeout=5) as sock:
            sock.sendall(
                b"POST /onebot HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 4294967296\r\n\r\n{"
            )
            answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 413")
        assert bot.stats()["events_received"] == 0
