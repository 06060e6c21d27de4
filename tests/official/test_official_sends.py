"""OfficialBot sends against FakeOfficial: msg_seq on retries, 5xx before/after
delivery, timeouts, the passive window and budget, markdown, length, tokens, media."""

from __future__ import annotations

import base64
import threading
from typing import Any, List

import pytest

from qqreliable import MessageSegment, OfficialBot, SendUnconfirmed
from qqreliable.official.codes import ProactiveRefused, ReplyBudgetSpent, ReplyWindowClosed
from qqreliable.official.events import Event
from qqreliable.testing import FakeOfficial

from .conftest import inbound


def test_502_retried_with_retry_after(official: FakeOfficial, bot: OfficialBot) -> None:
    event = inbound(official, bot)
    official.fail_next("c2c", 502, retry_after=0.1)
    receipt = bot.reply(event, "hi")
    (sent,) = official.sent_messages
    assert receipt.attempts == 2 and receipt.message_id == sent["id"] and isinstance(receipt.message_id, str)


def test_500_after_delivery_retried_with_the_same_seq_is_delivered_once(
    official: FakeOfficial, bot: OfficialBot
) -> None:
    event = inbound(official, bot)
    official.fail_next("c2c", 500, deliver=True)
    receipt = bot.reply(event, "exactly once")
    assert [m["text"] for m in official.sent_messages] == ["exactly once"]
    posts = [c for c in official.calls if c["route"] == "c2c"]
    assert len(posts) == 2 and posts[0]["json"]["msg_seq"] == posts[1]["json"]["msg_seq"]
    assert receipt.verified and receipt.attempts == 2


def test_timeout_retried_with_the_same_seq(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official, api_timeout=0.3)
    bot.start()
    bot.wait_connected(5)
    event = inbound(official, bot)
    official.delay("c2c", 1.0, deliver=True)
    receipt = bot.reply(event, "slow")
    assert [m["text"] for m in official.sent_messages] == ["slow"] and receipt.verified


def test_proactive_unknown_outcome_is_not_resent(official: FakeOfficial, bot: OfficialBot) -> None:
    official.fail_next("c2c", 500, deliver=True)
    with pytest.raises(SendUnconfirmed):
        bot.send_c2c_message("U1", "maybe")
    assert len([c for c in official.calls if c["route"] == "c2c"]) == 1


def test_each_reply_its_own_seq_and_budget_goes_proactive(official: FakeOfficial, bot: OfficialBot) -> None:
    event = inbound(official, bot)
    for i in range(6):
        bot.reply(event, f"r{i}")
    sent = official.sent_messages
    assert [m["passive"] for m in sent] == [True] * 5 + [False]
    assert [m["msg_seq"] for m in sent[:5]] == [1, 2, 3, 4, 5]
    assert "msg_id" not in [c for c in official.calls if c["route"] == "c2c"][-1]["json"]


def test_budget_spent_where_proactive_is_not_allowed(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official, proactive=())
    bot.start()
    bot.wait_connected(5)
    event = inbound(official, bot, scene="group")
    for i in range(5):
        bot.reply(event, f"r{i}")
    calls = len(official.calls)
    with pytest.raises(ReplyBudgetSpent):
        bot.reply(event, "one too many")
    assert len(official.calls) == calls  # nothing sent


def test_platform_says_expired_goes_proactive_once(official: FakeOfficial, bot: OfficialBot) -> None:
    event = inbound(official, bot, scene="group")
    official.advance(400)  # the platform's window has passed, the bot's clock has not
    bot.reply(event, "late")
    posts = [c["json"] for c in official.calls if c["route"] == "group"]
    assert "msg_id" in posts[0] and "msg_id" not in posts[1]
    assert official.sent_messages[-1]["passive"] is False
    bot.reply(event, "later")  # remembered: no doomed passive attempt
    assert "msg_id" not in [c["json"] for c in official.calls if c["route"] == "group"][-1]


def test_window_closed_and_proactive_refused(official_factory, make_official_bot) -> None:
    official = official_factory(proactive=())
    bot = make_official_bot(official, proactive=("group",))
    bot.start()
    bot.wait_connected(5)
    event = inbound(official, bot, scene="group")
    official.advance(400)
    with pytest.raises(ProactiveRefused):
        bot.reply(event, "late")
    bot2 = make_official_bot(official, proactive=())
    bot2.start()
    bot2.wait_connected(5)
    event2 = inbound(official, bot2, scene="group", age=400)
    bot2._ledger.mark(event2.message_id, "window")
    with pytest.raises(ReplyWindowClosed):
        bot2.reply(event2, "nothing sent")


def test_markdown_refused_falls_back_and_is_remembered(official_factory, make_official_bot) -> None:
    official = official_factory(markdown=False)
    bot = make_official_bot(official, markdown=True)
    bot.start()
    bot.wait_connected(5)
    event = inbound(official, bot)
    bot.reply(event, "**bold**")
    bot.reply(event, "again")
    posts = [c["json"] for c in official.calls if c["route"] == "c2c"]
    assert [p["msg_type"] for p in posts] == [2, 0, 0]
    assert posts[0]["msg_seq"] != posts[1]["msg_seq"]
    assert [m["text"] for m in official.sent_messages] == ["**bold**", "again"]


def test_long_text_split(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official, text_limit=100)
    bot.start()
    bot.wait_connected(5)
    event = inbound(official, bot)
    text = "word " * 50
    receipt = bot.reply(event, text)
    sent = official.sent_messages
    assert "".join(m["text"] for m in sent) == text and len(sent) == 3
    assert len(receipt["message_ids"]) == 3


def test_token_rejected_is_refreshed_and_the_call_replayed(official: FakeOfficial, bot: OfficialBot) -> None:
    event = inbound(official, bot)
    official.reject_token()
    bot.reply(event, "after refresh")
    assert [m["text"] for m in official.sent_messages] == ["after refresh"]
    auths = [c["authorization"] for c in official.calls if c["route"] == "c2c"]
    assert len(auths) == 2 and auths[0] != auths[1]


def test_expired_token_everywhere(official: FakeOfficial, bot: OfficialBot) -> None:
    official.expire_tokens()
    bot.send_c2c_message("U1", "fine")
    assert official.sent_messages[-1]["text"] == "fine"


def test_media_uploaded_once_and_sent_without_stale_msg_id(official: FakeOfficial, bot: OfficialBot) -> None:
    event = inbound(official, bot)
    image = MessageSegment.image(b"\x89PNG fake bytes")
    bot.reply(event, image)
    bot.reply(event, image)
    assert len(official.uploads) == 1 and bot.stats()["official"]["upload_cache_hits"] == 1
    media = [m for m in official.sent_messages if m["msg_type"] == 7]
    assert len(media) == 2 and media[0]["passive"]
    assert base64.b64decode(
        [c for c in official.calls if c["route"] == "c2c_files"][0]["json"]["file_data"]) == b"\x89PNG fake bytes"
    bot.send_group_message("G9", image)  # another scope: uploaded again, proactive, no msg_id
    assert len(official.uploads) == 2
    last = [c["json"] for c in official.calls if c["route"] == "group"][-1]
    assert "msg_id" not in last and last["msg_type"] == 7


def test_upload_retried_on_304082(official: FakeOfficial, bot: OfficialBot) -> None:
    official.fail_next("c2c_files", 400, code=304082, message="upload media info fail")
    bot.send_c2c_message("U1", MessageSegment.image("https://example.invalid/a.png"))
    assert len([c for c in official.calls if c["route"] == "c2c_files"]) == 2
    assert official.uploads[0]["url"] == "https://example.invalid/a.png"


def test_upload_304020_raised(official: FakeOfficial, bot: OfficialBot) -> None:
    from qqreliable.official.codes import MediaUploadFailed

    official.fail_next("c2c_files", 400, code=304020, message="file too large")
    with pytest.raises(MediaUploadFailed):
        bot.send_c2c_message("U1", MessageSegment.image("https://example.invalid/a.png"))
    assert len([c for c in official.calls if c["route"] == "c2c_files"]) == 1


def test_guild_reply(official: FakeOfficial, bot: OfficialBot) -> None:
    got: List[Event] = []
    ready = threading.Event()

    @bot.on_message("guild")
    def guild(event: Event) -> None:
        got.append(event)
        event.reply("pong")
        ready.set()

    official.emit_guild_at_message("C1", "G1", "A1", "ping")
    assert ready.wait(5)
    official.wait_for_sent(1)
    assert got[0].plain_text == "ping"
    call = [c for c in official.calls if c["route"] == "channel"][0]
    assert call["target"] == "C1" and "msg_type" not in call["json"]


def test_event_id_reply(official: FakeOfficial, bot: OfficialBot) -> None:
    done = threading.Event()

    @bot.on("FRIEND_ADD")
    def welcome(event: Event) -> None:
        event.reply("welcome")
        done.set()

    env = official.emit_event("FRIEND_ADD", openid="U5")
    assert done.wait(5)
    official.wait_for_sent(1)
    call = [c for c in official.calls if c["route"] == "c2c"][0]
    assert call["json"]["event_id"] == env["id"] and official.sent_messages[0]["passive"]


def test_interaction_acknowledged(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official, intents=(1 << 25) | (1 << 26))
    bot.start()
    bot.wait_connected(5)
    official.emit_event("INTERACTION_CREATE", id="I-1", type=11, chat_type=2, user_openid="U1",
                        data={"type": 11, "resolved": {"button_id": "b1"}})
    official.wait_until(lambda: official._interactions != [], 5, "interaction acked")
    assert official.interactions == [{"id": "I-1", "code": 0}]


def test_fetch_image_from_an_attachment(official: FakeOfficial, bot: OfficialBot) -> None:
    import http.server
    import struct
    import zlib

    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="test:media-host", daemon=True)
    thread.start()
    try:
        got: List[Event] = []
        ready = threading.Event()

        @bot.on_message("c2c")
        def grab(event: Event) -> None:
            got.append(event)
            ready.set()

        official.emit_c2c_message("U1", "look", attachments=[
            {"content_type": "image/png", "url": f"http://127.0.0.1:{server.server_port}/a.png", "size": len(png)}])
        assert ready.wait(5)
        media = bot.fetch_image(got[0], timeout=10)
        assert media.content_type == "image/png" and media.size == len(png) and media.source in ("url", "cache")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_large_file_uploaded_in_parts(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official, chunked_upload_threshold=100_000)
    bot.start()
    bot.wait_connected(5)
    data = bytes(range(256)) * 1000  # 256,000 bytes: four 64 KiB parts
    official.fail_next("c2c_part_finish", 400, code=40093001, message="transient")
    receipt = bot.send_c2c_message("U1", MessageSegment.file(data, name="big.bin"))
    routes = [c["route"] for c in official.calls]
    assert routes.count("c2c_prepare") == 1 and routes.count("cos") == 4
    assert routes.count("c2c_part_finish") == 5  # one transient 40093001 retried
    (upload,) = official.uploads
    assert upload["chunked"] and upload["size"] == len(data)
    assert official.sent_messages[-1]["msg_type"] == 7 and receipt.message_id
    files_call = [c for c in official.calls if c["route"] == "c2c_files"][0]["json"]
    assert "file_data" not in files_call and files_call["upload_id"].startswith("up-")
