"""Event: names, attribute access, ids, intents from handler keys."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qqreliable import ApiNotAvailable
from qqreliable.official import events as events_module
from qqreliable.official.events import DEFAULT_INTENTS, Event, Intents, event_name, handler_key, intents_for
from qqreliable.official.message import to_message


def c2c_payload() -> dict:
    return {"op": 0, "s": 7, "t": "C2C_MESSAGE_CREATE", "id": "C2C_MESSAGE_CREATE:abc",
            "d": {"id": "ROBOT1.0_m", "author": {"user_openid": "U1"}, "content": "hi", "timestamp": "t"}}


def test_from_payload() -> None:
    event = Event.from_payload(c2c_payload())
    assert event.name == "message.c2c.C2C_MESSAGE_CREATE"
    assert event.type == "C2C_MESSAGE_CREATE" and event.seq == 7 and event.event_id == "C2C_MESSAGE_CREATE:abc"
    assert event.message_id == "ROBOT1.0_m" and event.user_id == "U1" and event.target == "U1"
    assert event.is_private and not event.is_group and event.plain_text == "hi"
    assert event.content == "hi" and event["content"] == "hi"
    with pytest.raises(AttributeError):
        _ = event.nope
    again = pickle.loads(pickle.dumps(event))
    assert again == event and again.type == event.type


def test_group_event() -> None:
    event = Event({"id": "g1", "group_openid": "G", "author": {"member_openid": "M"}, "content": " yo"},
                  type="GROUP_AT_MESSAGE_CREATE")
    assert event.scene == "group" and event.target == "G" and event.user_id == "M" and event.plain_text == "yo"
    assert event.is_group


def test_guild_and_direct_targets() -> None:
    guild = Event({"id": "1", "channel_id": "C", "guild_id": "GU", "author": {"id": "A"}}, type="AT_MESSAGE_CREATE")
    direct = Event(
        {"id": "1", "channel_id": "C", "guild_id": "GU", "author": {"id": "A"}}, type="DIRECT_MESSAGE_CREATE"
    )
    assert guild.target == "C" and direct.target == "GU"


@pytest.mark.parametrize("t, name", [
    ("FRIEND_ADD", "notice.FRIEND_ADD"),
    ("INTERACTION_CREATE", "interaction.INTERACTION_CREATE"),
    ("READY", "meta.READY"),
    ("SOMETHING_NEW", "event.SOMETHING_NEW"),
    ("DIRECT_MESSAGE_CREATE", "message.direct.DIRECT_MESSAGE_CREATE"),
])
def test_names(t, name) -> None:
    assert event_name(t) == name
    assert handler_key(t) == name


def test_handler_keys() -> None:
    assert handler_key("message.group") == "message.group"
    assert handler_key("message") == "message"


def test_intents() -> None:
    assert intents_for([]) == DEFAULT_INTENTS
    assert intents_for(["message.c2c"]) == Intents.GROUP_AND_C2C_EVENT
    assert intents_for(["message.guild.AT_MESSAGE_CREATE", "message.direct"]) == (
        Intents.PUBLIC_GUILD_MESSAGES | Intents.DIRECT_MESSAGE)
    assert intents_for(["message"]) & Intents.GUILD_MESSAGES == 0  # never asked unless named
    assert intents_for(["message.guild.MESSAGE_CREATE"]) == Intents.GUILD_MESSAGES
    assert intents_for(["interaction"]) == Intents.INTERACTION


def test_reply_needs_a_bot() -> None:
    with pytest.raises(ApiNotAvailable):
        Event.from_payload(c2c_payload()).reply("x")


def test_reply_delegates() -> None:
    calls = []

    class FakeBot:
        def reply(self, event, message, **kw):
            calls.append(("reply", message))
            return "r"

        def reply_stream(self, event, chunks, interval=1.0, **kw):
            calls.append(("stream", list(chunks), interval))
            return "s"

    event = Event.from_payload(c2c_payload(), bot=FakeBot())
    assert event.reply("a") == "r" and event.reply_stream(["x"], interval=0.5) == "s"
    assert calls == [("reply", "a"), ("stream", ["x"], 0.5)]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(" \t\n<>@!abc,=\"faceTypIdmoj:12")), max_size=40))
def test_plain_text_is_what_the_message_keeps(content) -> None:
    # plain_text skips building the Message when there is no "<": the same text either way
    event = Event({"id": "m", "content": content}, type="C2C_MESSAGE_CREATE")
    assert event.plain_text == to_message({"content": content}).extract_plain_text()
    assert event.message.extract_plain_text() == event.plain_text


def test_plain_text_of_odd_content() -> None:
    assert Event({"content": None}, type="C2C_MESSAGE_CREATE").plain_text == ""
    assert Event({"content": 5}, type="C2C_MESSAGE_CREATE").plain_text == ""
    assert Event({}, type="C2C_MESSAGE_CREATE").plain_text == ""
    assert Event({"content": "<@!bot> hi <emoji:1>x"}, type="AT_MESSAGE_CREATE").plain_text == "hi x"


@pytest.mark.parametrize("payload, fields", [
    ({"t": "C2C_MESSAGE_CREATE", "s": True, "id": 5, "d": [1]}, ("C2C_MESSAGE_CREATE", None, None, {})),
    ({"t": None, "s": "7", "d": None}, ("", None, None, {})),
    ({"t": 12, "s": 3, "id": "x", "d": {"a": 1}}, ("12", "x", 3, {"a": 1})),
    ({}, ("", None, None, {})),
])
def test_from_payload_takes_only_well_typed_fields(payload, fields) -> None:
    event = Event.from_payload(payload)
    assert (event.type, event.event_id, event.seq, dict(event)) == fields
    assert event.plain_text == "" and event.name.startswith(("event.", "message."))


def test_from_payload_copies_d() -> None:
    payload = c2c_payload()
    event = Event.from_payload(payload)
    event["content"] = "changed"
    assert payload["d"]["content"] == "hi"


def test_dispatch_names_remembered_up_to_a_bound(monkeypatch) -> None:
    monkeypatch.setattr(events_module, "_NAMES", {})
    monkeypatch.setattr(events_module, "_NAMES_MAX", 3)
    names = [event_name(f"KIND_{i}") for i in range(10)]
    assert names == [f"event.KIND_{i}" for i in range(10)]
    assert len(events_module._NAMES) == 3  # wire input: never an unbounded cache
    assert event_name("KIND_9") == "event.KIND_9"
