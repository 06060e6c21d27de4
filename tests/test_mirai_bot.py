"""MiraiBot over the WebSocket adapter, end to end against FakeMirai on real sockets."""

from __future__ import annotations

import base64
import queue
import threading
import time
from typing import Any, Callable, Iterator

import pytest

from qqreliable import (
    ActionFailed,
    AuthenticationError,
    Backoff,
    ConnectionLost,
    MessageSegment,
    NotDelivered,
    ResponseLost,
    SendUnconfirmed,
)
from qqreliable.mirai.bot import MiraiBot
from qqreliable.testing import FakeMirai

from .helpers import FAST_POLICY, MIRAI_DEFAULTS, MIRAI_KEY, MIRAI_QQ, bot_factory, eventually

KEY, QQ = MIRAI_KEY, MIRAI_QQ
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


@pytest.fixture
def make_bot() -> Iterator[Callable[..., MiraiBot]]:
    with bot_factory(MiraiBot, **MIRAI_DEFAULTS, send_policy=FAST_POLICY) as make:
        yield make


def _collect(bot: MiraiBot, *names: str) -> "queue.Queue[Any]":
    got: "queue.Queue[Any]" = queue.Queue()
    bot.on(*names)(got.put)
    return got


# --------------------------------------------------------------------------- event in, reply out


def test_group_message_in_reply_out(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.ws_url)
    seen: "queue.Queue[Any]" = queue.Queue()

    @bot.on_message("group")
    def echo(event):
        seen.put(event)
        if event.plain_text == "ping":
            event.reply("pong")

    bot.start()
    assert bot.wait_connected(5) == QQ
    incoming = mirai.emit_group_message(100, 2, "ping")
    event = seen.get(timeout=5)
    assert event.type == "GroupMessage" and event.name == "message.group"
    assert event.message_id == incoming["messageChain"][0]["id"] and event.is_group
    sent = mirai.wait_for_message()
    assert sent["type"] == "group" and sent["target"] == 100
    assert sent["messageChain"] == [{"type": "Plain", "text": "pong"}] and sent["quote"] is None
    assert mirai.handshakes[0]["headers"]["verifyKey"] == KEY and mirai.handshakes[0]["headers"]["qq"] == str(QQ)


def test_reply_routes_by_source_and_quotes(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.ws_url)

    @bot.on_message()
    def answer(event):
        event.reply(MessageSegment.text("re:") + MessageSegment.at(event.user_id), quote=True)

    bot.start()
    bot.wait_connected(5)
    temp = mirai.emit_temp_message(3, 77, "hi")
    first = mirai.wait_for_message()
    assert first["type"] == "temp" and first["target"] == 3 and first["group"] == 77
    assert first["quote"] == temp["messageChain"][0]["id"]
    mirai.emit_friend_message(4, "yo")
    second = mirai.wait_for_message(count=2)
    assert second["type"] == "friend" and second["target"] == 4
    assert second["messageChain"] == [{"type": "Plain", "text": "re:"}, {"type": "At", "target": 4}]
    mirai.emit_stranger_message(5, "who")
    assert mirai.wait_for_message(count=3)["type"] == "friend"


def test_events_by_mah_name_and_own_sync_messages_ignored(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.ws_url)
    joins = _collect(bot, "MemberJoinRequestEvent")
    messages = _collect(bot, "message")
    own = _collect(bot, "message_sent")
    by_type = _collect(bot, "FriendMessage")
    bot.start()
    bot.wait_connected(5)
    mirai.emit_sync_message("group", 100, "sent from my phone")
    mirai.emit_event("MemberJoinRequestEvent", eventId=9, fromId=2, groupId=100, groupName="g", nick="n",
                     message="let me in", invitorId=None)
    mirai.emit_friend_message(3, "hello")
    join = joins.get(timeout=5)
    assert join.name == "MemberJoinRequestEvent" and join.group_id == 100 and join["eventId"] == 9
    assert messages.get(timeout=5).type == "FriendMessage"
    assert by_type.get(timeout=5).type == "FriendMessage"
    assert own.get(timeout=5).type == "GroupSyncMessage"
    assert messages.empty()  # the sync message never reached on_message handlers


def test_repeated_message_ids_are_dropped(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.ws_url)
    got = _collect(bot, "message")
    bot.start()
    bot.wait_connected(5)
    mirai.emit_group_message(100, 2, "a", message_id=500)
    mirai.emit_group_message(100, 2, "a", message_id=500)
    mirai.emit_group_message(101, 2, "b", message_id=500)  # another chat: not a repeat
    assert got.get(timeout=5).plain_text == "a"
    assert got.get(timeout=5).plain_text == "b"
    eventually(lambda: bot.stats()["events_duplicate"] == 1, what="the repeat counted")
    assert got.empty()


def test_the_events_of_one_read_are_taken_as_one_batch(mirai: FakeMirai, make_bot) -> None:
    """What the reader hands over from one socket read (MiraiBot._on_events): each
    event as _on_event takes it, in order; a repeat within the batch dropped and
    counted; the chats noted for gap filling; own sync messages to message_sent."""
    bot = make_bot(mirai.ws_url)
    got = _collect(bot, "message", "message_sent", "MemberJoinRequestEvent")
    bot.start()
    bot.wait_connected(5)
    with FakeMirai(verify_key=MIRAI_KEY, qq=MIRAI_QQ) as idle:  # builds the events, sends them nowhere
        batch = [
            idle.emit_group_message(100, 2, "one", message_id=700),
            idle.emit_event("MemberJoinRequestEvent", eventId=9, fromId=2, groupId=100, groupName="g", nick="n",
                            message="let me in", invitorId=None),
            idle.emit_group_message(100, 2, "one", message_id=700),  # the same message again
            idle.emit_sync_message("group", 100, "from my phone"),
            idle.emit_friend_message(3, "two", message_id=701),
        ]
    before = bot.stats()["events_duplicate"]
    bot._on_events(batch)
    names = [got.get(timeout=5).type for _ in range(4)]
    assert names == ["GroupMessage", "MemberJoinRequestEvent", "GroupSyncMessage", "FriendMessage"]
    assert got.empty()
    assert bot.stats()["events_duplicate"] == before + 1
    chats = {chat for chat, _ in bot._gapfill.tracker.snapshot(MIRAI_QQ)}
    assert {("group", 100), ("friend", 3)} <= chats


def test_account_events_in_a_batch_are_noted_and_odd_types_pass(mirai: FakeMirai, make_bot) -> None:
    """The batch path skips someone's message in one test, but not an account notice
    (the offline watch and the send pipeline still hear it), and an event whose type
    is not a string (odd input) is taken the careful way, without an error."""
    bot = make_bot(mirai.ws_url)
    got = _collect(bot, "message")
    bot.start()
    bot.wait_connected(5)
    with FakeMirai(verify_key=MIRAI_KEY, qq=MIRAI_QQ) as idle:  # builds the events, sends them nowhere
        message = idle.emit_group_message(100, 2, "still here", message_id=800)
        offline = idle.emit_event("BotOfflineEventForce", qq=MIRAI_QQ, title="t", message="another device")
    bot._on_events([{"type": ["not", "a", "string"]}, message, offline])
    assert got.get(timeout=5).plain_text == "still here"
    assert not bot.account_online
    assert bot._media.offline is not None


def test_a_burst_over_the_socket_arrives_once_and_in_order(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.ws_url)
    got = _collect(bot, "message")
    bot.start()
    bot.wait_connected(5)
    for n in range(300):
        mirai.emit_group_message(100, 2, f"m{n}", message_id=1000 + n)
        if n % 50 == 7:
            mirai.emit_group_message(100, 2, f"m{n}", message_id=1000 + n)  # a repeat, right behind
    texts = [got.get(timeout=10).plain_text for _ in range(300)]
    assert texts == [f"m{n}" for n in range(300)]
    eventually(lambda: bot.stats()["events_duplicate"] >= 6, what="the repeats counted")
    assert got.empty()


def test_on_message_rejects_unknown_kinds(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.ws_url)
    with pytest.raises(ValueError, match="group"):
        bot.on_message("guild")


# --------------------------------------------------------------------------- connection faults


def test_reconnects_after_1006_with_a_fresh_session(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.ws_url)
    got = _collect(bot, "message.group")
    disconnects: "queue.Queue[str]" = queue.Queue()
    bot.on_disconnect(disconnects.put)
    bot.start()
    bot.wait_connected(5)
    first_session = mirai.sessions[0]["key"]
    mirai.drop_connections()
    assert "1006" in disconnects.get(timeout=5)
    mirai.wait_for_connections(2)
    bot.wait_connected(5)
    assert all("sessionKey" not in h["headers"] for h in mirai.handshakes)  # never the old key
    assert [s["key"] for s in mirai.sessions] != [first_session]
    mirai.emit_group_message(100, 2, "after")
    assert got.get(timeout=5).plain_text == "after"
    assert bot.send_group_message(100, "still here").message_id == mirai.wait_for_message()["messageId"]


def test_pending_call_fails_at_once_when_the_socket_drops(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.ws_url, api_timeout=30.0)
    bot.start()
    bot.wait_connected(5)
    mirai.stall("mute")  # a command with effects: never asked again
    result: "queue.Queue[Any]" = queue.Queue()

    def call() -> None:
        started = time.monotonic()
        try:
            bot.call("mute", target=1, memberId=2, time=60)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            result.put((exc, time.monotonic() - started))

    worker = threading.Thread(target=call, name="qqreliable:test-call")
    worker.start()
    mirai.wait_for_call("mute")
    mirai.drop_connections()
    exc, took = result.get(timeout=10)
    worker.join(5)
    assert isinstance(exc, ResponseLost) and took < 5


def test_wrong_verify_key_raises_from_run_and_is_not_retried(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.ws_url, verify_key="wrong")
    with pytest.raises(AuthenticationError, match="code 1"):
        bot.run(log_handler=None)
    assert len(mirai.handshakes) == 1 and mirai.handshakes[0]["code"] == 1


def test_bad_qq_raises_from_run(mirai_factory, make_bot) -> None:
    mirai = mirai_factory(single_mode=False)
    bot = make_bot(mirai.ws_url, verify_key=KEY, single_mode=True)  # sends no qq: MAH answers 400
    with pytest.raises(AuthenticationError, match="code 400"):
        bot.run(log_handler=None)


def test_account_not_logged_in_is_retried_until_it_is(mirai: FakeMirai, make_bot) -> None:
    mirai.set_account_online(False)
    bot = make_bot(mirai.ws_url)
    bot.start()
    mirai.wait_for_handshakes(3)
    assert not bot.connected
    mirai.set_account_online(True)
    assert bot.wait_connected(5) == QQ


def test_a_bot_started_before_mirai_finds_it(mirai: FakeMirai, make_bot) -> None:
    mirai.down()
    bot = make_bot(mirai.ws_url)
    bot.start()
    eventually(lambda: bot.stats()["ws"]["connect_failures"] >= 2, what="failed connects")
    mirai.up()
    assert bot.wait_connected(5) == QQ


def test_a_spent_budget_raises_connection_lost_from_run(mirai: FakeMirai, make_bot) -> None:
    mirai.down()
    bot = make_bot(mirai.ws_url, reconnect=Backoff(initial=0.01, maximum=0.02, max_attempts=3))
    with pytest.raises(ConnectionLost):
        bot.run(log_handler=None)


def test_half_open_link_is_noticed_by_pings(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.ws_url, ping_interval=0.1, pong_timeout=0.3)
    disconnects: "queue.Queue[str]" = queue.Queue()
    bot.on_disconnect(disconnects.put)
    bot.start()
    bot.wait_connected(5)
    mirai.half_open()
    assert "pong" in disconnects.get(timeout=5)
    mirai.wait_for_connections(2)
    bot.wait_connected(5)


def test_bare_400_and_garbage_do_not_kill_the_reader(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.ws_url)
    got = _collect(bot, "message")
    bot.start()
    bot.wait_connected(5)
    mirai.send_garbage('{"code": 400, "msg": "无效参数"}')
    mirai.send_garbage("not json{")
    mirai.emit_friend_message(3, "still alive")
    assert got.get(timeout=5).plain_text == "still alive"
    stats = bot.stats()["ws"]
    assert stats["bare_errors"] == 1 and stats["bad_frames"] == 1 and stats["connects"] == 1


# --------------------------------------------------------------------------- sends exactly once


def test_message_id_minus_one_raises_not_delivered(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.ws_url)
    bot.start()
    bot.wait_connected(5)
    mirai.not_delivered("sendGroupMessage")
    with pytest.raises(NotDelivered) as info:
        bot.send_group_message(100, "risky")
    assert isinstance(info.value, ActionFailed) and "messageId -1" in str(info.value)
    assert mirai.wait_for_call("sendGroupMessage")["content"]["messageChain"][0]["text"] == "risky"
    assert len([c for c in mirai.calls if c["command"] == "sendGroupMessage"]) == 1  # never resent
    assert mirai.sent_messages == []


def test_code_500_after_delivery_is_verified_not_resent(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.ws_url)
    bot.start()
    bot.wait_connected(5)
    mirai.fail_next("sendFriendMessage", 500, "java.util.concurrent.TimeoutException", deliver=True)
    receipt = bot.send_friend_message(3, "maybe")
    assert receipt.verified and receipt.message_id == mirai.sent_messages[0]["messageId"]
    assert len(mirai.sent_messages) == 1
    assert mirai.wait_for_call("roamingMessages")["content"]["target"] == 3


def test_code_500_not_delivered_is_resent_once_after_the_settle_window(mirai: FakeMirai, make_bot) -> None:
    mirai.add_group(100)
    bot = make_bot(mirai.ws_url)
    bot.start()
    bot.wait_connected(5)
    mirai.fail_next("sendGroupMessage", 500, "timeout")
    receipt = bot.send_group_message(100, "again")
    assert receipt.attempts == 2 and len(mirai.sent_messages) == 1
    assert receipt.message_id == mirai.sent_messages[0]["messageId"]


def test_unverifiable_500_raises_send_unconfirmed(mirai_factory, make_bot) -> None:
    mirai = mirai_factory(version="2.9.0")  # roamingMessages serves no groups before 2.10
    mirai.add_group(100)
    bot = make_bot(mirai.ws_url)
    bot.start()
    bot.wait_connected(5)
    mirai.fail_next("sendGroupMessage", 500, "timeout", deliver=True)
    with pytest.raises(SendUnconfirmed):
        bot.send_group_message(100, "unknowable")
    assert len(mirai.sent_messages) == 1  # never sent twice


def test_quote_not_cached_is_resent_without_the_quote(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.ws_url)
    bot.start()
    bot.wait_connected(5)
    receipt = bot.send_group_message(100, "reply", quote=123456)
    sent = mirai.wait_for_message()
    assert sent["quote"] is None and receipt.message_id == sent["messageId"]
    quotes = [c["content"].get("quote") for c in mirai.calls if c["command"] == "sendGroupMessage"]
    assert quotes == [123456, None]


def test_refusals_are_typed_and_not_resent(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.ws_url)
    bot.start()
    bot.wait_connected(5)
    mirai.fail_next("sendGroupMessage", 20)
    with pytest.raises(ActionFailed) as info:
        bot.send_group_message(100, "muted")
    assert info.value.retcode == 20 and info.value.category == "permission"
    with pytest.raises(ValueError, match="share"):
        bot.send_group_message(100, MessageSegment.share("http://x", "t"))
    with pytest.raises(ValueError, match="empty"):
        bot.send_group_message(100, "")
    assert len([c for c in mirai.calls if c["command"] == "sendGroupMessage"]) == 1


def test_media_is_sent_inline(mirai: FakeMirai, make_bot, tmp_path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(PNG)
    hosted = mirai.add_image(PNG)  # a URL MAH might not reach: fetched here, checked, inlined
    bot = make_bot(mirai.ws_url)
    bot.start()
    bot.wait_connected(5)
    bot.send_group_message(100, [MessageSegment.image(image), MessageSegment.image(hosted["url"]),
                                 {"type": "Image", "imageId": "{KNOWN}.jpg"}])
    chain = mirai.wait_for_message()["messageChain"]
    b64 = base64.b64encode(PNG).decode()
    assert chain == [{"type": "Image", "base64": b64}, {"type": "Image", "base64": b64},
                     {"type": "Image", "imageId": "{KNOWN}.jpg"}]  # an id MAH gave out stays an id
    assert mirai.image_downloads(hosted["imageId"]) == 1


def test_media_urls_as_given_without_outbound_preparation(mirai: FakeMirai, make_bot) -> None:
    hosted = mirai.add_image(PNG)
    bot = make_bot(mirai.ws_url, outbound_media=None)
    bot.start()
    bot.wait_connected(5)
    bot.send_group_message(100, MessageSegment.image(hosted["url"]))
    assert mirai.wait_for_message()["messageChain"] == [{"type": "Image", "url": hosted["url"]}]


def test_media_that_cannot_be_sent_is_refused_before_sending(mirai: FakeMirai, make_bot, tmp_path) -> None:
    from qqreliable import MediaTooLarge, MediaUnavailable, OutboundMedia

    big = tmp_path / "big.png"
    big.write_bytes(PNG + b"\x00" * 4096)
    bot = make_bot(mirai.ws_url, outbound_media=OutboundMedia(max_request_bytes=2048, fetch_timeout=5.0))
    bot.start()
    bot.wait_connected(5)
    with pytest.raises(MediaTooLarge):
        bot.send_group_message(100, MessageSegment.image(big))
    with pytest.raises(MediaUnavailable):
        bot.send_group_message(100, MessageSegment.image(mirai.url + "/_image/gone.jpg"))  # a 404
    assert [c for c in mirai.calls if c["command"] == "sendGroupMessage"] == []


# --------------------------------------------------------------------------- calls and versions


def test_call_any_command(mirai: FakeMirai, make_bot) -> None:
    mirai.add_member(100, 2, name="bob")
    bot = make_bot(mirai.ws_url)
    bot.start()
    bot.wait_connected(5)
    assert bot.call("memberInfo", "get", target=100, memberId=2)["memberName"] == "bob"
    assert [m["id"] for m in bot.call("memberList", target=100)] == [2]
    assert bot.call("mute", target=100, memberId=2, time=60) == {"code": 0, "msg": "success"}
    with pytest.raises(ActionFailed) as info:
        bot.call("memberInfo", "get", target=100, memberId=99)
    assert info.value.retcode == 5 and info.value.category == "not_found"
    with pytest.raises(ActionFailed) as info:
        bot.call("uploadImage", type="group")
    assert info.value.retcode == 6 and info.value.category == "unsupported"


@pytest.mark.parametrize("version", ["2.5.2", "2.6.0", "2.10.0"])
def test_recall_and_message_from_id_in_the_servers_shape(mirai_factory, make_bot, version) -> None:
    mirai = mirai_factory(version=version)
    bot = make_bot(mirai.ws_url)
    bot.start()
    bot.wait_connected(5)
    receipt = bot.send_group_message(100, "oops")
    found = bot.message_from_id(receipt.message_id, target=100)
    assert found.message_id == receipt.message_id and found.plain_text == "oops"
    bot.recall(receipt.message_id, target=100)
    assert mirai.recalled[0]["messageId"] == receipt.message_id
    call = mirai.wait_for_call("recall")["content"]
    if version == "2.5.2":
        assert call == {"target": receipt.message_id}
    else:
        assert call == {"target": 100, "messageId": receipt.message_id}
    assert bot.stats()["mah_version"] == version


def test_recall_needs_a_target_on_current_mah(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.ws_url)
    bot.start()
    bot.wait_connected(5)
    with pytest.raises(ValueError, match="target"):
        bot.recall(1)


def test_exported_and_options_checked() -> None:
    import qqreliable
    import qqreliable.mirai

    assert qqreliable.MiraiBot is MiraiBot and qqreliable.mirai.MiraiBot is MiraiBot
    with pytest.raises(ValueError, match="scheme"):
        MiraiBot("ftp://127.0.0.1:1", verify_key=KEY, qq=QQ)
    with pytest.raises(ValueError, match="qq"):
        MiraiBot("ws://127.0.0.1:1", verify_key=KEY, qq="abc")  # type: ignore[arg-type]
    bot = MiraiBot("ws://127.0.0.1:1", verify_key=KEY, qq=QQ)
    with pytest.raises(qqreliable.exceptions.NotStarted):
        bot.send_group_message(1, "x")



def test_fetch_image_from_an_event(mirai: FakeMirai, make_bot, tmp_path) -> None:
    from qqreliable.reliability.media import MediaConfig

    bot = make_bot(mirai.ws_url, media_cache=MediaConfig(cache_dir=str(tmp_path)))
    got = _collect(bot, "message.group")
    bot.start()
    bot.wait_connected(5)
    element = mirai.add_image(PNG)
    mirai.emit_group_message(100, 2, ["look", element])
    event = got.get(timeout=5)
    media = bot.fetch_image(event, timeout=10)
    assert media.data == PNG
    again = bot.fetch_image(event.message[1], timeout=10)  # the segment; cached by id
    assert again.data == PNG and mirai.image_downloads(element["imageId"]) == 1


def test_fetch_image_refuses_an_expired_link_page(mirai: FakeMirai, make_bot) -> None:
    from qqreliable import MediaUnavailable
    from qqreliable.reliability.media import MediaConfig

    config = MediaConfig(cache=False, url_attempts=2, backoff=Backoff(initial=0.01, maximum=0.02))
    bot = make_bot(mirai.ws_url, media_cache=config)
    bot.start()
    bot.wait_connected(5)
    element = mirai.add_image(b"<html><body>expired</body></html>", content_type="text/html")
    with pytest.raises(MediaUnavailable):
        bot.fetch_image(element, timeout=10)
    with pytest.raises(ValueError):
        bot.fetch_image({"type": "Plain", "text": "no image"})


def test_uploads_over_http_from_a_websocket_bot(mirai: FakeMirai, make_bot, tmp_path) -> None:
    doc = tmp_path / "notes.txt"
    doc.write_bytes(b"hello file")
    bot = make_bot(mirai.ws_url)
    bot.start()
    bot.wait_connected(5)
    image = bot.upload_image(PNG)
    assert image["imageId"].endswith(".jpg")
    upload = mirai.uploads[0]
    assert upload["command"] == "uploadImage" and upload["data"] == PNG
    assert upload["session"] == mirai.sessions[0]["key"]  # the socket's own session, over HTTP
    bot.send_group_message(100, {"type": "Image", "imageId": image["imageId"]})
    assert mirai.wait_for_message()["messageChain"] == [{"type": "Image", "imageId": image["imageId"]}]
    file = bot.upload_file(100, doc)
    assert file["name"] == "notes.txt"
    assert mirai.uploads[1]["target"] == "100" and mirai.uploads[1]["data"] == b"hello file"
    voice = bot.upload_voice(mirai.url + "/_image/any.amr", kind="friend")  # a URL MAH downloads itself
    assert "voiceId" in voice and mirai.uploads[2]["url"].endswith("any.amr")
    with pytest.raises(ValueError, match="upload_file"):
        bot.send_group_message(100, MessageSegment.file(b"data", name="x.bin"))


def test_upload_errors_are_typed(mirai: FakeMirai, make_bot, tmp_path) -> None:
    from qqreliable import MediaUnavailable

    bot = make_bot(mirai.ws_url)
    bot.start()
    bot.wait_connected(5)
    with pytest.raises(MediaUnavailable, match="missing.png"):
        bot.upload_image(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="kind"):
        bot.upload_image(PNG, kind="guild")
    mirai.fail_next("uploadImage", 400, "图片上传错误")
    with pytest.raises(ActionFailed) as info:
        bot.upload_image(PNG)
    assert info.value.retcode == 400


def test_every_option_has_a_check() -> None:
    import inspect

    from qqreliable.mirai.bot import MIRAI_OPTIONS

    params = [name for name in inspect.signature(MiraiBot.__init__).parameters if name != "self"]
    assert sorted(set(params) - set(MIRAI_OPTIONS)) == []


@pytest.mark.parametrize(
    "option, value, error, words",
    [
        ("api_timeout", "5", TypeError, "api_timeout must be a number of seconds"),
        ("api_timeout", 0, ValueError, "api_timeout must be more than 0"),
        ("qq", None, TypeError, "qq must be the bot's QQ number"),
        ("qq", -5, ValueError, "qq must be the bot's QQ number"),
        ("verify_key", 123, TypeError, "verify_key must be a string"),
        ("single_mode", "yes", TypeError, "single_mode must be True or False"),
        ("poll_count", 0, ValueError, "poll_count must be 1 or more"),
        ("reconnect", 3, TypeError, "reconnect must be a Backoff"),
        ("reserved_sync_id", "", ValueError, "reserved_sync_id must not be empty"),
    ],
)
def test_bad_options_name_themselves(option, value, error, words) -> None:
    options = {"verify_key": KEY, "qq": QQ, option: value}
    with pytest.raises(error) as info:
        MiraiBot("ws://127.0.0.1:1", **options)
    assert words in str(info.value)


def test_qq_as_a_digit_string_is_accepted() -> None:
    assert MiraiBot("ws://127.0.0.1:1", verify_key=KEY, qq="10001").qq == 10001  # type: ignore[arg-type]


def test_every_option_is_documented() -> None:
    import inspect
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "mirai.md").read_text(encoding="utf-8")
    params = [name for name in inspect.signature(MiraiBot.__init__).parameters if name not in ("self", "url")]
    assert [name for name in params if f"`{name}`" not in page and f"{name}=" not in page] == []
