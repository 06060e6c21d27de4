"""Inbound payloads to Message, and outbound messages to parts and bodies."""

from __future__ import annotations

import pytest

from qqreliable import Message, MessageSegment
from qqreliable.official.message import (
    fix_url, guild_body, media_body, split_outbound, split_text, text_body, to_message,
)


def test_group_leading_space() -> None:
    msg = to_message({"content": " hello there"})
    assert msg == [MessageSegment.text("hello there")]


def test_guild_mention_of_the_bot() -> None:
    msg = to_message({"content": "<@!1234> ping <@5678> x"})
    assert [s.type for s in msg] == ["at", "text", "at", "text"]
    assert msg[0].data["qq"] == "1234"
    assert msg.extract_plain_text() == "ping  x"


def test_faces() -> None:
    msg = to_message({"content": 'hi <faceType=1,faceId="13",ext="eyJ0ZXh0IjoiW+W+rueskV0ifQ==">!'})
    assert [s.type for s in msg] == ["text", "face", "text"]
    assert msg[1].data["id"] == "13" and msg[1].data["type"] == "1"


def test_attachments() -> None:
    msg = to_message({
        "content": "",
        "attachments": [
            {"content_type": "image/jpeg", "url": "gchat.qpic.cn/x.jpg", "width": 10, "height": 20},
            {"content_type": "voice", "url": "https://v/a.silk", "voice_wav_url": "v/a.wav", "asr_refer_text": "hi"},
            {"content_type": "video/mp4", "url": "//x/v.mp4"},
            {"content_type": "file", "url": "https://f/doc.pdf", "filename": "doc.pdf"},
        ],
    })
    assert [s.type for s in msg] == ["image", "record", "video", "file"]
    assert msg[0].data["url"] == "https://gchat.qpic.cn/x.jpg" and msg[0].data["width"] == 10
    assert msg[1].data["wav_url"] == "https://v/a.wav" and msg[1].data["asr_text"] == "hi"
    assert msg[2].data["url"] == "https://x/v.mp4"
    assert msg[3].data["name"] == "doc.pdf"


def test_no_content() -> None:
    assert to_message({}) == []
    assert to_message({"content": None, "attachments": None}) == []


def test_fix_url() -> None:
    assert fix_url("https://a/b") == "https://a/b"
    assert fix_url("a/b") == "https://a/b"
    assert fix_url("") == ""


def test_split_text_respects_utf8_bytes_and_boundaries() -> None:
    text = ("第一段。" * 200) + "\n\n" + ("second paragraph. " * 100)
    parts = split_text(text, 500)
    assert "".join(parts) == text
    assert all(len(p.encode("utf-8")) <= 500 for p in parts)
    assert len(parts) > 3


def test_split_text_without_boundaries() -> None:
    parts = split_text("x" * 1001, 100)
    assert "".join(parts) == "x" * 1001 and all(len(p) <= 100 for p in parts)


def test_split_outbound_media_apart() -> None:
    msg = Message([MessageSegment.text("a"), MessageSegment.image("https://x/i.png"), MessageSegment.text("b")])
    parts = split_outbound(msg, "c2c")
    assert [p.kind for p in parts] == ["text", "media", "text"]


def test_str_is_never_parsed_as_cq() -> None:
    parts = split_outbound("[CQ:face,id=1]", "c2c")
    assert parts[0].text == "[CQ:face,id=1]"


def test_mentions_rendered_in_guilds_only() -> None:
    msg = MessageSegment.at("42") + MessageSegment.text(" hi")
    assert split_outbound(msg, "guild")[0].text == "<@42> hi"
    assert split_outbound(msg, "group")[0].text == " hi"


def test_markdown_part() -> None:
    assert split_outbound(MessageSegment.markdown("# t"), "c2c")[0].kind == "markdown"


def test_unsendable_segment() -> None:
    with pytest.raises(ValueError):
        split_outbound(MessageSegment("poke", {"type": 1, "id": 1}), "c2c")


def test_bodies() -> None:
    assert text_body("x") == {"msg_type": 0, "content": "x"}
    assert text_body("x", markdown=True) == {"msg_type": 2, "markdown": {"content": "x"}}
    assert media_body("fi") == {"msg_type": 7, "media": {"file_info": "fi"}, "content": " "}
    assert guild_body("t", image="https://i") == {"content": "t", "image": "https://i"}
    assert "msg_type" not in guild_body("t")
