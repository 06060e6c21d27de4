"""The YiriMirai look-alikes: what 2.x plugins do with them, and their conversion."""

from __future__ import annotations

import pytest

from qqreliable import Message, MessageSegment
from qqreliable.compat.mirai import (
    At, AtAll, Face, FriendMessage, GroupMessage, Image, MessageChain, MessageEvent, Plain, Quote, Source, Voice,
    component_from_mah, to_message,
)


def test_chain_str_message_id_get_and_in() -> None:
    chain = MessageChain([Source(id=42, time=1), Plain("hi "), At(target=3), Image(url="https://x/a.png"), "!"])
    assert str(chain) == "hi @3[图片]!"
    assert chain.message_id == 42 and MessageChain(["x"]).message_id == -1
    assert chain.get(Image)[0].url == "https://x/a.png" and chain.get(Plain, 1) == [Plain("hi ")]
    assert Image in chain and Voice not in chain and At(3) in chain and "hi" in chain
    assert chain.get_first(At).target == 3


def test_components_need_their_source() -> None:
    with pytest.raises(ValueError, match="url="):
        Image()
    with pytest.raises(ValueError):
        Voice()
    with pytest.raises(ValueError):
        Face()
    with pytest.raises(TypeError, match="str"):
        Plain(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        MessageChain([object()])


def test_to_message_converts_each_component() -> None:
    msg = to_message([Plain("a"), At(5), AtAll(), Face(face_id=14), Image(image_id="{ABC}.png"),
                      Voice(url="https://x/v.amr"), Quote(id=9), Source(id=1)])
    assert isinstance(msg, Message)
    assert [s.type for s in msg] == ["text", "at", "at", "face", "image", "record", "reply"]
    assert msg[1].data["qq"] == "5" and msg[2].data["qq"] == "all" and msg[6].data["id"] == "9"
    assert to_message("x") == Message([MessageSegment.text("x")])
    assert to_message(MessageSegment.face(1))[0].type == "face"
    with pytest.raises(ValueError, match="empty"):
        to_message([Source(id=1)])


def test_events_from_mah() -> None:
    sender = {"id": 2, "memberName": "m", "permission": "MEMBER",
              "group": {"id": 100, "name": "g", "permission": "MEMBER"}}
    group = MessageEvent.from_mah({"type": "GroupMessage", "sender": sender,
                                   "messageChain": [{"type": "Source", "id": 7, "time": 1},
                                                    {"type": "Plain", "text": "ping"}, {"type": "Unknown"}]})
    assert isinstance(group, GroupMessage) and group.sender.id == 2 and group.group.id == 100
    assert str(group.message_chain) == "ping" and group.message_chain.message_id == 7
    friend = MessageEvent.from_mah({"type": "FriendMessage", "sender": {"id": 3, "nickname": "n"},
                                    "messageChain": [{"type": "Plain", "text": "yo"}]})
    assert isinstance(friend, FriendMessage) and friend.sender.get_name() == "n"
    assert component_from_mah({"type": "Face", "faceId": 1, "name": "微笑"}) == Face(face_id=1, name="微笑")
    assert component_from_mah({"type": "Nope"}) is None
