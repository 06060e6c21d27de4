"""Event: dict with attribute access, names, helpers; frames parsed with typed errors."""

from __future__ import annotations

import json
import pickle

import pytest

from qqreliable import Event, Message, ProtocolError
from qqreliable.transport._json import parse_frame

GROUP = {
    "post_type": "message",
    "message_type": "group",
    "sub_type": "normal",
    "self_id": 10001,
    "user_id": 42,
    "group_id": 7,
    "message_id": -12345,
    "message": [{"type": "text", "data": {"text": "hi "}}, {"type": "face", "data": {"id": "1"}}],
    "raw_message": "hi [CQ:face,id=1]",
}


def test_dict_and_attribute_access() -> None:
    e = Event(GROUP)
    assert e.group_id == e["group_id"] == 7
    assert isinstance(e, dict) and dict(e) == GROUP
    with pytest.raises(AttributeError):
        _ = e.nonexistent
    assert e.get("nonexistent") is None


@pytest.mark.parametrize(
    "data, name",
    [
        (GROUP, "message.group.normal"),
        ({"post_type": "message", "message_type": "private", "sub_type": "friend"}, "message.private.friend"),
        (
            {"post_type": "notice", "notice_type": "group_increase", "sub_type": "approve"},
            "notice.group_increase.approve",
        ),
        ({"post_type": "notice", "notice_type": "friend_add"}, "notice.friend_add"),
        ({"post_type": "request", "request_type": "friend"}, "request.friend"),
        ({"post_type": "meta_event", "meta_event_type": "heartbeat", "interval": 5000}, "meta_event.heartbeat"),
        ({"post_type": "message_sent", "message_type": "group", "sub_type": "normal"}, "message_sent.group.normal"),
        ({"post_type": "message", "message_type": "group", "self_id": 1, "user_id": 1}, "message_sent.group"),
        ({"post_type": "weird"}, "weird"),
        ({}, ""),
        ({"post_type": "notice", "notice_type": 5}, "notice"),
    ],
)
def test_names(data: dict, name: str) -> None:
    assert Event(data).name == name
    # as the bot receives it: named once, the same name
    received = Event._received(data, None)
    assert received.name == name and received == Event(data)


def test_received_event_keeps_the_name_it_was_routed_by() -> None:
    received = Event._received(GROUP, None)
    received["sub_type"] = "anonymous"  # a handler editing the dict does not rename it
    assert received.name == "message.group.normal"
    by_hand = Event(GROUP)
    by_hand["sub_type"] = "anonymous"
    assert by_hand.name == "message.group.anonymous"


def test_message_helpers_array_and_string() -> None:
    array = Event(GROUP)
    string = Event(dict(GROUP, message="hi [CQ:face,id=1]"))
    for e in (array, string):
        assert isinstance(e.message, Message)
        assert e.plain_text == "hi "
        assert e.is_group and not e.is_private
    assert array.message == string.message
    assert array["message"] == GROUP["message"]  # raw untouched


def test_garbage_message_field_does_not_crash() -> None:
    e = Event(dict(GROUP, message=12345))
    assert isinstance(e.message, Message)
    assert Event({"post_type": "notice"}).plain_text == ""


def test_reply_without_bot_is_clear() -> None:
    from qqreliable import ApiNotAvailable

    with pytest.raises(ApiNotAvailable):
        Event(GROUP).reply("x")


def test_pickle() -> None:
    e = pickle.loads(pickle.dumps(Event(GROUP)))
    assert e == GROUP and e.name == "message.group.normal"


@pytest.mark.parametrize("frame", [b"not json", b"[1,2]", b'"str"', b"\xff\xfe", b"", b"null"])
def test_parse_frame_typed_errors(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_frame(frame)


@pytest.mark.parametrize(
    "frame",
    [b'{"a": 1} x', b'{"a": ', b"{", b'{"a": "\xff"}', b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     '{"a": 1}, 2', b"{}{}"],
)
def test_parse_frame_typed_errors_on_the_object_fast_path(frame: object) -> None:
    with pytest.raises(ProtocolError):
        parse_frame(frame)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "frame",
    [b'{"a": 1}', b'{"a": 1}  \r\n', '{"a": "\u00e9"}', '{"a": "é"}'.encode(), b'\xef\xbb\xbf{"a": 1}',
     '{"a": 1}'.encode("utf-16"), b' {"a": 1}', b'{"a": "\xed\xa0\x80"}'],
)
def test_parse_frame_decodes_as_json_loads_does(frame: object) -> None:
    assert parse_frame(frame) == json.loads(frame)  # type: ignore[arg-type]


def test_parse_frame_deep_nesting_is_typed() -> None:
    with pytest.raises(ProtocolError):
        parse_frame(b"[" * 100_000 + b"]" * 100_000)


def test_the_readers_shortcut_skips_only_events_without_account_or_send_facts() -> None:
    """The reader skips the account-state and send-ledger look at someone else's
    message: for every event it skips, both look-ups find nothing."""
    from qqreliable.onebot.bot import _someone_elses_message
    from qqreliable.onebot.sends import account_signal, own_message

    base = {"post_type": "message", "message_type": "group", "group_id": 5, "message_id": 1, "self_id": 100}
    events = [
        dict(base, user_id=7),
        dict(base, user_id=100),  # our own (Lagrange reports it as a message)
        dict(base, user_id="7"),
        dict(base, user_id=7, self_id="100"),
        dict(base, user_id=None),
        dict(base, post_type="message_sent", user_id=100),
        dict(base, post_type="message_sent", user_id=7),
        dict(base, message_type="private", user_id=7, target_id=8),
        {"post_type": "notice", "notice_type": "bot_offline", "self_id": 100, "user_id": 7},
        {"post_type": "meta_event", "meta_event_type": "heartbeat", "status": {"online": False}, "self_id": 100},
        {"post_type": "meta_event", "meta_event_type": "lifecycle", "sub_type": "connect", "self_id": 100},
        {"post_type": "request", "request_type": "friend", "user_id": 7, "self_id": 100},
    ]
    skipped = [e for e in events if _someone_elses_message(e)]
    assert len(skipped) == 2  # the group and the private message from user 7
    for event in skipped:
        assert account_signal(event) is None
        for self_id in (None, 100, 7):
            assert own_message(event, self_id) is None
    kept = [e for e in events if not _someone_elses_message(e)]
    assert any(own_message(e, 100) is not None for e in kept)
    assert any(account_signal(e) is not None for e in kept)
