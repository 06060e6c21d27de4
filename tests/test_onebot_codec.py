"""The OneBot WebSocket codec: pure tests of how frames are sorted."""

from __future__ import annotations

import pytest

from qqreliable import AuthenticationError
from qqreliable.onebot.codec import OneBotCodec
from qqreliable.transport.codec import EVENT, KIND_EVENT, KIND_REPLY


def test_calls_carry_the_transport_id_as_echo() -> None:
    codec = OneBotCodec("secret")
    assert codec.encode_call("get_status", {"a": 1}, "qqr:1:2") == {
        "action": "get_status", "params": {"a": 1}, "echo": "qqr:1:2",
    }
    assert codec.handshake_headers() == {"Authorization": "Bearer secret"}
    assert OneBotCodec().handshake_headers() == {}


def test_replies_are_matched_by_echo_as_text() -> None:
    codec = OneBotCodec()
    reply = codec.classify({"status": "ok", "retcode": 0, "data": None, "echo": "qqr:1:2"})
    assert reply.kind == KIND_REPLY and reply.request_id == "qqr:1:2" and reply.payload is None
    assert codec.classify({"retcode": 0, "echo": 7}).request_id == "7"
    assert codec.classify({"retcode": 0}).request_id is None  # nobody's: counted as unmatched


def test_events_name_the_account_once_per_connection() -> None:
    codec = OneBotCodec()
    codec.opened()
    first = codec.classify({"post_type": "message", "self_id": "10001"})
    assert first.kind == KIND_EVENT and first.identity == 10001
    assert codec.classify({"post_type": "message", "self_id": 10001}) is EVENT  # nothing new: no allocation
    codec.opened()  # a new connection may be another account (faults PROC-02)
    assert codec.classify({"post_type": "notice", "self_id": 20002}).identity == 20002


def test_heartbeats_carry_their_interval() -> None:
    beat = OneBotCodec().classify(
        {"post_type": "meta_event", "meta_event_type": "heartbeat", "interval": 5000, "self_id": 1}
    )
    assert beat.kind == KIND_EVENT and beat.heartbeat and beat.interval_ms == 5000 and beat.identity == 1


@pytest.mark.parametrize("retcode", [1401, 1403])
def test_a_token_rejection_frame_is_final(retcode: int) -> None:
    with pytest.raises(AuthenticationError) as info:
        OneBotCodec(url="ws://x").classify({"status": "failed", "retcode": retcode, "message": "token验证失败"})
    assert info.value.status == retcode and "ws://x" in str(info.value)
    # the same code answering one of our calls is that call's failure, not the token's
    assert OneBotCodec().classify({"retcode": retcode, "echo": "qqr:1:1"}).kind == KIND_REPLY
