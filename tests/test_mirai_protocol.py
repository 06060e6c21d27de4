"""mirai-api-http protocol modules: status codes, commands, chains, events (pure)."""

from __future__ import annotations

import base64
import pickle
from types import MappingProxyType

import pytest

from qqreliable import Message, MessageSegment
from qqreliable.exceptions import ApiNotAvailable, MediaUnavailable
from qqreliable.mirai import codes
from qqreliable.mirai.chain import chain_to_message, message_to_chain, plain_text_of, source_of
from qqreliable.mirai.commands import (
    COMMANDS,
    READ_ONLY,
    SEND_COMMANDS,
    command,
    http_route,
    is_retry_safe,
    message_from_id_content,
    parse_version,
    recall_content,
)
from qqreliable.mirai.codec import MiraiCodec
from qqreliable.mirai.events import Event, event_name, handler_key, message_key, reply_route
from qqreliable.mirai.history import MiraiHistory, chat_of
from qqreliable.transport.codec import KIND_EVENT

# --------------------------------------------------------------------------- codes


@pytest.mark.parametrize(
    "cmd, answer, content, kind",
    [
        ("sendGroupMessage", {"code": 0, "msg": "success", "messageId": 12}, None, codes.OK),
        ("sendGroupMessage", {"code": 0, "msg": "success", "messageId": -1}, None, codes.NOT_DELIVERED),
        ("sendFriendMessage", {"code": 0, "messageId": "-1"}, None, codes.NOT_DELIVERED),
        ("sendGroupMessage", {"code": 500, "msg": "timeout"}, None, codes.UNKNOWN),
        ("recall", {"code": 500, "msg": "x"}, None, codes.UNKNOWN),
        ("memberList", {"code": 500, "msg": "x"}, None, codes.RETRY),
        ("about", {"code": 500}, None, codes.RETRY),
        ("sendGroupMessage", {"code": 5}, {"quote": 3}, codes.RESEND_WITHOUT_QUOTE),
        ("sendGroupMessage", {"code": 5}, {"target": 1}, codes.NOT_SENT),
        ("memberInfo", {"code": 5}, None, codes.NOT_SENT),
        ("sendGroupMessage", {"code": 20}, None, codes.NOT_SENT),
        ("sendGroupMessage", {"code": 30}, None, codes.NOT_SENT),
        ("sendGroupMessage", {"code": 400}, None, codes.NOT_SENT),
        ("kick", {"code": 10}, None, codes.NOT_SENT),
        ("sendGroupMessage", {"code": 3}, None, codes.SESSION),
        ("fetchMessage", {"code": 4}, None, codes.SESSION),
        ("verify", {"code": 1}, None, codes.AUTH),
        ("bind", {"code": 2}, None, codes.RETRY),
        ("memberProfile", {"nickname": "x", "sex": "UNKNOWN"}, None, codes.OK),  # bare object, no code
        ("uploadImage", {"imageId": "{A}.jpg", "url": "u"}, None, codes.OK),
        ("sendGroupMessage", {"code": 777}, None, codes.UNKNOWN),
        ("sendGroupMessage", "not an object", None, codes.UNKNOWN),
        ("groupList", ["x"], None, codes.RETRY),
        ("sendGroupMessage", {"code": "x"}, None, codes.UNKNOWN),
    ],
)
def test_classify(cmd, answer, content, kind) -> None:
    assert codes.classify(cmd, answer, content=content).kind == kind


def test_classify_keeps_message_id_and_text() -> None:
    verdict = codes.classify("sendGroupMessage", {"code": 0, "msg": "success", "messageId": 42})
    assert verdict.ok and verdict.message_id == 42
    bad = codes.classify("sendGroupMessage", {"code": 20, "msg": "Bot被禁言"})
    assert bad.name == "BotMuted" and "code 20" in bad.describe() and "Bot被禁言" in bad.describe()
    nd = codes.classify("sendGroupMessage", {"code": 0, "messageId": -1})
    assert "messageId -1" in nd.describe()


def test_classify_two_way_commands_by_sub_command() -> None:
    assert codes.classify("groupConfig", {"code": 500}, sub_command="get").kind == codes.RETRY
    assert codes.classify("groupConfig", {"code": 500}, sub_command="update").kind == codes.RETRY  # idempotent
    assert codes.classify("sendNudge", {"code": 0, "msg": "success"}).kind == codes.OK


@pytest.mark.parametrize(
    "answer, kind",
    [
        ({"code": 0, "session": "abc"}, codes.OK),
        ({"code": 1, "msg": "Auth Key错误"}, codes.AUTH),
        ({"code": 400, "msg": "无效参数"}, codes.AUTH),
        ({"code": 2, "msg": "指定Bot不存在"}, codes.RETRY),
        ({"code": 3}, codes.SESSION),
        ({"code": 4}, codes.SESSION),
        ({"code": 500}, codes.RETRY),
        ({"session": "x"}, codes.RETRY),
        (None, codes.RETRY),
    ],
)
def test_classify_handshake(answer, kind) -> None:
    assert codes.classify_handshake(answer).kind == kind


def test_classify_transport() -> None:
    assert codes.classify_transport("sendGroupMessage", sent=False) == codes.RETRY
    assert codes.classify_transport("sendGroupMessage", sent=True) == codes.UNKNOWN
    assert codes.classify_transport("memberList", sent=True) == codes.RETRY
    assert codes.classify_transport("someFutureCommand", sent=True) == codes.UNKNOWN


def test_every_code_of_the_reference_is_in_the_table() -> None:
    assert sorted(codes.CODES) == [0, 1, 2, 3, 4, 5, 6, 10, 20, 30, 400, 500]


# --------------------------------------------------------------------------- commands


def test_inventory_covers_the_reference() -> None:
    names = {c.name for c in COMMANDS}
    for name in (
        "about", "botList", "sessionInfo", "messageFromId", "friendList", "groupList", "memberList",
        "latestMemberList", "botProfile", "friendProfile", "memberProfile", "userProfile",
        "sendFriendMessage", "sendGroupMessage", "sendTempMessage", "sendOtherClientMessage",
        "sendImageMessage", "sendNudge", "recall", "roamingMessages", "file_list", "file_info", "file_mkdir",
        "file_delete", "file_move", "file_rename", "deleteFriend", "mute", "unmute", "kick", "quit",
        "muteAll", "unmuteAll", "setEssence", "groupConfig", "memberInfo", "memberAdmin", "anno_list",
        "anno_publish", "anno_delete", "resp_newFriendRequestEvent", "resp_memberJoinRequestEvent",
        "resp_botInvitedJoinGroupRequestEvent", "cmd_execute", "cmd_register", "uploadImage", "uploadVoice",
        "uploadShortVideo", "file_upload", "countMessage", "fetchMessage", "fetchLatestMessage",
        "peekMessage", "peekLatestMessage", "verify", "bind", "release",
    ):
        assert name in names, name


def test_read_only_table() -> None:
    assert ("about", None) in READ_ONLY
    assert ("groupConfig", "get") in READ_ONLY and ("groupConfig", "update") not in READ_ONLY
    assert ("roamingMessages", None) in READ_ONLY
    assert ("fetchMessage", None) not in READ_ONLY  # destructive
    assert not any(name in SEND_COMMANDS for name, _ in READ_ONLY)
    assert is_retry_safe("mute") and not is_retry_safe("sendGroupMessage") and not is_retry_safe("nope")
    assert not is_retry_safe("recall")


def test_http_routes() -> None:
    assert http_route("file_list") == ("GET", "/file/list")
    assert http_route("resp_memberJoinRequestEvent") == ("POST", "/resp/memberJoinRequestEvent")
    assert http_route("memberInfo", "get") == ("GET", "/memberInfo")
    assert http_route("memberInfo", "update") == ("POST", "/memberInfo")
    assert http_route("sendGroupMessage") == ("POST", "/sendGroupMessage")
    assert http_route("brand_new") == ("POST", "/brand/new")
    assert command("uploadImage").ws is False and command("uploadImage").multipart
    assert command("groupConfig").sub_command == "get"


def test_versions_and_shapes() -> None:
    assert parse_version("2.10.0") == (2, 10, 0)
    assert parse_version("v2.5.2") == (2, 5, 2)
    assert parse_version("2.6") == (2, 6, 0)
    assert parse_version(None) is None and parse_version("garbage") is None
    assert recall_content((2, 5, 2), 77, 100) == {"target": 77}
    assert recall_content((2, 6, 0), 77, 100) == {"target": 100, "messageId": 77}
    assert recall_content(None, 77, 100) == {"target": 100, "messageId": 77}
    with pytest.raises(ValueError, match="target"):
        recall_content((2, 10, 0), 77, None)
    assert message_from_id_content((2, 5, 0), 7, None) == {"id": 7}
    assert message_from_id_content((2, 6, 1), 7, 9) == {"id": 7, "target": 9}
    assert message_from_id_content((2, 7, 0), 7, 9) == {"messageId": 7, "target": 9}


# --------------------------------------------------------------------------- chains in


RECEIVED = [
    {"type": "Source", "id": 123, "time": 1700000000},
    {"type": "Quote", "id": 99, "groupId": 5, "senderId": 6, "targetId": 5, "origin": [{"type": "Plain", "text": "o"}]},
    {"type": "Plain", "text": "hi "},
    {"type": "At", "target": 42, "display": "@bob"},
    {"type": "AtAll"},
    {"type": "Face", "faceId": 14, "name": "微笑"},
    {"type": "Image", "imageId": "{A-B}.jpg", "url": "http://127.0.0.1/i", "width": 10, "height": 20},
    {"type": "FlashImage", "imageId": "{F}.jpg", "url": "http://127.0.0.1/f"},
    {"type": "Voice", "voiceId": "V.amr", "url": "http://127.0.0.1/v", "length": 3},
    {"type": "Forward", "nodeList": [{"senderId": 1, "time": 2, "senderName": "a", "messageChain": []}]},
    {"type": "File", "id": "/abc", "name": "a.txt", "size": 3},
    {"type": "Xml", "xml": "<x/>"},
    {"type": "Json", "json": "{}"},
    {"type": "App", "content": "{\"app\":1}"},
    {"type": "Poke", "name": "ShowLove"},
    {"type": "Dice", "value": 4},
    {"type": "MarketFace", "id": 7, "name": "[好]"},
    {"type": "MusicShare", "kind": "QQMusic", "title": "t", "summary": "s", "jumpUrl": "j", "pictureUrl": "p",
     "musicUrl": "m", "brief": "b"},
    {"type": "MiraiCode", "code": "[mirai:at:1]"},
    {"type": "ShortVideo", "videoId": "vid", "videoUrl": "http://127.0.0.1/v.mp4"},
    {"type": "SomethingNew", "x": 1},
    "not an element",
]


@pytest.mark.parametrize(
    "obj",
    [
        {"syncId": "-1", "data": {"type": "GroupMessage"}},
        {"syncId": -1, "data": {"type": "GroupMessage"}},  # not MAH's, but classify takes it
        {"syncId": "-1", "data": [1, 2]},
        {"syncId": "-1"},
        {"syncId": "7", "data": {"code": 0}},
        {"syncId": "", "data": {"code": 0, "session": "s"}},
        {"code": 400, "msg": "bad"},
        {"data": {"type": "GroupMessage"}},
    ],
)
def test_event_payload_agrees_with_classify(obj) -> None:
    """The reader's fast path for a pushed event (no Inbound made) gives what
    classify would deliver, and is taken by every pushed event whose data is an object."""
    codec = MiraiCodec("k", 1)
    payload = codec.event_payload(obj)
    inbound = codec.classify(obj)
    if payload is not None:
        assert inbound.kind == KIND_EVENT and inbound.payload is payload
        assert not inbound.heartbeat and inbound.interval_ms is None and inbound.identity is None
    assert (payload is not None) == (obj.get("syncId") == "-1" and type(obj.get("data")) is dict)


def test_event_payload_follows_the_configured_sync_id() -> None:
    codec = MiraiCodec("k", 1, reserved_sync_id="-9")
    data: dict = {}
    assert codec.event_payload({"syncId": "-1", "data": {}}) is None
    assert codec.event_payload({"syncId": "-9", "data": data}) is data


@pytest.mark.parametrize("wrap", [dict, MappingProxyType])
def test_chat_and_source_of_any_mapping_and_ids_as_strings(wrap) -> None:
    """The gap filler's reading of a live message (reader thread, every message): a dict
    is the usual case, but any mapping and ids as numeric strings read the same."""
    chain = [wrap({"type": "Source", "id": "7", "time": 1700000000}), {"type": "Plain", "text": "x"}]
    group = {"type": "GroupMessage", "sender": wrap({"id": 2, "group": wrap({"id": "100"})}), "messageChain": chain}
    assert chat_of(group) == ("group", 100)
    assert source_of(chain) == (7, 1700000000)
    assert chat_of({"type": "FriendMessage", "sender": wrap({"id": "3"})}) == ("friend", 3)
    assert chat_of({"type": "StrangerMessage", "sender": wrap({"id": 4})}) == ("friend", 4)
    assert chat_of({"type": "GroupMessage", "sender": wrap({"id": 2, "group": wrap({"id": True})})}) is None
    assert chat_of({"type": "GroupMessage", "sender": wrap({"id": 2, "group": [100]})}) is None
    assert chat_of({"type": "GroupMessage", "sender": [1]}) is None
    assert chat_of({"type": "TempMessage", "sender": wrap({"id": 5})}) is None
    assert source_of([wrap({"type": "Source", "id": True, "time": "soon"})]) == (None, None)
    sighting = MiraiHistory(lambda *a: None, 10001).locate(group)
    assert sighting is not None and type(sighting).__name__ == "Sighting"
    assert (sighting.account, sighting.chat, sighting.message_id, sighting.time) == (10001, ("group", 100), 7, 1.7e9)
    assert MiraiHistory(lambda *a: None, 10001).locate(dict(group, messageChain=[])) is None


def test_every_received_element_converts_and_nothing_is_dropped() -> None:
    message = chain_to_message(RECEIVED)
    types = [seg.type for seg in message]
    assert types == [
        "reply", "text", "at", "at", "face", "image", "image", "record", "forward", "file", "xml", "json",
        "json", "poke", "dice", "mface", "music", "mirai_code", "video", "SomethingNew", "unknown",
    ]
    assert message[0].data["id"] == "99" and message[0].data["origin"] == [{"type": "Plain", "text": "o"}]
    assert message[2] == MessageSegment("at", {"qq": "42", "name": "@bob"})
    assert message[3].data == {"qq": "all"}
    assert message[4].data["id"] == "14"
    assert message[5].data["file"] == "{A-B}.jpg" and message[5].data["url"] == "http://127.0.0.1/i"
    assert message[6].data["type"] == "flash"
    assert message[7].data["file"] == "V.amr" and message[7].data["length"] == 3
    assert message[9].data["name"] == "a.txt"
    assert message[19].data == {"x": 1}
    assert message[20].data == {"raw": "not an element"}
    assert message.extract_plain_text() == "hi "
    assert chain_to_message(RECEIVED, keep_source=True)[0] == MessageSegment("source", {"id": 123, "time": 1700000000})


def test_chain_helpers_never_raise() -> None:
    assert chain_to_message(None) == Message()
    assert chain_to_message("x") == Message()
    assert source_of(RECEIVED) == (123, 1700000000)
    assert source_of([{"type": "Source", "id": "x"}]) == (None, None)
    assert source_of(None) == (None, None)
    assert plain_text_of(RECEIVED) == "hi "


# --------------------------------------------------------------------------- chains out


def test_received_message_round_trips_to_a_sendable_chain() -> None:
    out = message_to_chain(chain_to_message(RECEIVED[:10] + RECEIVED[11:20]))
    assert out.quote == 99
    assert [e["type"] for e in out.chain] == [
        "Plain", "At", "AtAll", "Face", "Image", "FlashImage", "Voice", "Forward", "Xml", "Json", "App", "Poke",
        "Dice", "MarketFace", "MusicShare", "MiraiCode", "ShortVideo",
    ]
    image = out.chain[4]
    assert image == {"type": "Image", "imageId": "{A-B}.jpg"}  # the id MAH knows, not a URL
    assert out.chain[6] == {"type": "Voice", "voiceId": "V.amr"}
    assert out.chain[13] == {"type": "MarketFace", "id": 7, "name": "[好]"}
    assert out.chain[14]["jumpUrl"] == "j" and out.chain[14]["musicUrl"] == "m"
    assert out.chain[15] == {"type": "MiraiCode", "code": "[mirai:at:1]"}
    assert out.uploads == []


def test_outgoing_media_from_bytes_paths_and_urls(tmp_path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(b"PNG!")
    out = message_to_chain(
        [
            MessageSegment.image(b"raw"),
            MessageSegment.image(path),
            MessageSegment.image(str(path)),
            MessageSegment.image("https://example.invalid/x.png"),
            MessageSegment.image(b"f", type="flash"),
            MessageSegment.record(b"amr"),
            MessageSegment("image", {"file": str(path)}),
        ]
    )
    b64 = base64.b64encode(b"PNG!").decode()
    assert out.chain == [
        {"type": "Image", "base64": base64.b64encode(b"raw").decode()},
        {"type": "Image", "base64": b64},
        {"type": "Image", "base64": b64},
        {"type": "Image", "url": "https://example.invalid/x.png"},
        {"type": "FlashImage", "base64": base64.b64encode(b"f").decode()},
        {"type": "Voice", "base64": base64.b64encode(b"amr").decode()},
        {"type": "Image", "base64": b64},
    ]


def test_outgoing_missing_file_is_a_typed_error(tmp_path) -> None:
    gone = tmp_path / "gone.png"
    with pytest.raises(MediaUnavailable, match="gone.png"):
        message_to_chain(MessageSegment("image", {"file": gone.as_uri()}))


def test_outgoing_text_is_never_parsed_as_cq_code() -> None:
    assert message_to_chain("[CQ:at,qq=all] hi").chain == [{"type": "Plain", "text": "[CQ:at,qq=all] hi"}]
    assert message_to_chain("").chain == []
    assert message_to_chain(Message("a") + MessageSegment.at(5)).chain == [
        {"type": "Plain", "text": "a"},
        {"type": "At", "target": 5},
    ]


def test_outgoing_raw_elements_reply_and_nodes() -> None:
    out = message_to_chain(
        [
            {"type": "Plain", "text": "x"},
            MessageSegment.reply(7),
            MessageSegment("ShortVideo", {"videoId": "v1"}),
            MessageSegment.node_custom(1, "a", "inner"),
            MessageSegment.node(55),
            "tail",
        ]
    )
    assert out.quote == 7
    assert out.chain[0] == {"type": "Plain", "text": "x"}
    assert out.chain[1] == {"type": "ShortVideo", "videoId": "v1"}
    forward = out.chain[2]
    assert forward["type"] == "Forward" and len(forward["nodeList"]) == 2
    assert forward["nodeList"][0]["senderId"] == 1 and forward["nodeList"][0]["messageChain"] == [
        {"type": "Plain", "text": "inner"}
    ]
    assert forward["nodeList"][1] == {"messageId": 55}
    assert out.chain[3] == {"type": "Plain", "text": "tail"}


def test_outgoing_files_and_videos_need_uploads(tmp_path) -> None:
    path = tmp_path / "v.mp4"
    path.write_bytes(b"v")
    out = message_to_chain([MessageSegment.file(b"data", name="a.bin"), MessageSegment.video(path), "x"])
    assert [seg.type for seg in out.uploads] == ["file", "video"]
    assert out.chain == [{"type": "Plain", "text": "x"}]


@pytest.mark.parametrize(
    "segment, match",
    [
        (MessageSegment.share("http://x", "t"), "share"),
        (MessageSegment.music("qq", 1), "music_custom"),
        (MessageSegment.forward("abc"), "nodeList"),
        (MessageSegment.at("bob"), "at qq"),
        (MessageSegment("image", {}), "no file"),
        (MessageSegment("face", {}), "face"),
    ],
)
def test_outgoing_bad_segments_name_the_problem(segment, match) -> None:
    with pytest.raises(ValueError, match=match):
        message_to_chain(segment)


def test_outgoing_bad_types() -> None:
    with pytest.raises(TypeError):
        message_to_chain(b"bytes")
    with pytest.raises(TypeError):
        message_to_chain(12)


# --------------------------------------------------------------------------- events


def _group_message(**extra):
    data = {
        "type": "GroupMessage",
        "sender": {"id": 2, "memberName": "m", "permission": "MEMBER", "group": {"id": 100, "name": "g"}},
        "messageChain": [{"type": "Source", "id": 9, "time": 1700000000}, {"type": "Plain", "text": "ping"}],
    }
    data.update(extra)
    return data


def test_message_event_helpers() -> None:
    event = Event(_group_message())
    assert event.name == "message.group" and event.type == "GroupMessage" and event.kind == "group"
    assert event.message_id == 9 and event.time == 1700000000
    assert event.plain_text == "ping" and event.message == Message([MessageSegment.text("ping")])
    assert event.is_group and not event.is_private and not event.is_self
    assert event.user_id == 2 and event.group_id == 100 and event.chat == ("group", 100)
    assert event.sender["memberName"] == "m" and event["type"] == "GroupMessage"
    with pytest.raises(AttributeError):
        event.nope  # noqa: B018
    assert pickle.loads(pickle.dumps(event)) == event


@pytest.mark.parametrize(
    "mah_type, sender_or_subject, name, private, route",
    [
        ("FriendMessage", {"sender": {"id": 3}}, "message.friend", True, ("sendFriendMessage", {"target": 3})),
        ("StrangerMessage", {"sender": {"id": 3}}, "message.stranger", True, ("sendFriendMessage", {"target": 3})),
        ("TempMessage", {"sender": {"id": 3, "group": {"id": 7}}}, "message.temp", True,
         ("sendTempMessage", {"qq": 3, "group": 7})),
        ("OtherClientMessage", {"sender": {"id": 1, "platform": "MOBILE"}}, "message.other_client", False,
         ("sendOtherClientMessage", {"target": 1})),
        ("GroupSyncMessage", {"subject": {"id": 7}}, "message_sent.group", False, ("sendGroupMessage", {"target": 7})),
        ("FriendSyncMessage", {"subject": {"id": 3}}, "message_sent.friend", True,
         ("sendFriendMessage", {"target": 3})),
    ],
)
def test_message_kinds(mah_type, sender_or_subject, name, private, route) -> None:
    event = Event(dict(type=mah_type, messageChain=[], **sender_or_subject))
    assert event.name == name
    assert event.is_private is private
    assert reply_route(event) == route
    assert event.is_self == name.startswith("message_sent")


def test_other_events() -> None:
    join = Event({"type": "MemberJoinRequestEvent", "eventId": 1, "fromId": 5, "groupId": 100, "nick": "n"})
    assert join.name == "MemberJoinRequestEvent" and join.user_id == 5 and join.group_id == 100
    assert join.is_group and not join.is_private and join.message_id is None and join.plain_text == ""
    assert reply_route(join) == ("sendGroupMessage", {"target": 100})
    friend_request = Event({"type": "NewFriendRequestEvent", "eventId": 1, "fromId": 5, "groupId": 0})
    assert reply_route(friend_request) is None and friend_request.chat is None
    nudge = Event({"type": "NudgeEvent", "fromId": 5, "subject": {"id": 100, "kind": "Group"}, "target": 1})
    assert nudge.group_id == 100 and reply_route(nudge) == ("sendGroupMessage", {"target": 100})
    recall = Event({"type": "GroupRecallEvent", "authorId": 5, "messageId": 77, "time": 3, "group": {"id": 8}})
    assert recall.message_id == 77 and recall.group_id == 8 and recall.time == 3
    assert Event({}).name == "unknown" and Event({"type": 3}).name == "unknown"


def test_registry_keys() -> None:
    assert handler_key("GroupMessage") == "message.group"
    assert handler_key("FriendSyncMessage") == "message_sent.friend"
    assert handler_key("MemberJoinRequestEvent") == "MemberJoinRequestEvent"
    assert handler_key("message.group") == "message.group"
    assert message_key() == "message" and message_key("temp") == "message.temp"
    with pytest.raises(ValueError, match="group"):
        message_key("guild")
    with pytest.raises(ValueError):
        handler_key(" ")
    with pytest.raises(TypeError):
        handler_key(3)  # type: ignore[arg-type]
    assert event_name("GroupMessage").startswith(message_key())


class _RecordingBot:
    def __init__(self) -> None:
        self.sent = []

    def send(self, event, message, **kwargs):
        self.sent.append((event, message, kwargs))
        return "receipt"


def test_reply_delegates_to_the_bot() -> None:
    bot = _RecordingBot()
    event = Event(_group_message(), bot=bot)
    assert event.reply("pong", quote=True) == "receipt"
    assert bot.sent == [(event, "pong", {"quote": True})]
    with pytest.raises(ApiNotAvailable):
        Event(_group_message()).reply("x")


def test_not_delivered_is_an_action_failed() -> None:
    import qqreliable
    from qqreliable.exceptions import ActionFailed, NotDelivered

    error = NotDelivered("sendGroupMessage", 0, "messageId -1", response={"code": 0, "messageId": -1})
    assert isinstance(error, ActionFailed) and error.category == "risk_control"
    assert qqreliable.NotDelivered is NotDelivered
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is NotDelivered and again.response == {"code": 0, "messageId": -1}


def test_rewrite_chain_reaches_forward_nodes_and_leaves_ids() -> None:
    from qqreliable.mirai.media import rewrite_chain
    from qqreliable.reliability.interfaces import Replacement

    seen = []
    texts = []

    def visit(element):
        seen.append((element.kind, element.file))
        return Replacement(base64="QUJD")

    chain = [
        {"type": "Plain", "text": "hi"},
        {"type": "Image", "imageId": "{ID}.jpg", "url": "http://127.0.0.1/x"},
        {"type": "Voice", "url": "http://127.0.0.1/v.amr"},
        {"type": "Forward", "nodeList": [{"senderId": 1, "time": 1, "senderName": "a",
                                          "messageChain": [{"type": "FlashImage", "base64": "eHl6"}]}]},
    ]
    out = rewrite_chain(chain, visit, texts.append)
    assert seen == [("record", "http://127.0.0.1/v.amr"), ("image", "base64://eHl6")]
    assert out[1] is chain[1] and out[2] == {"type": "Voice", "base64": "QUJD"}
    assert out[3]["nodeList"][0]["messageChain"] == [{"type": "FlashImage", "base64": "QUJD"}]
    assert chain[3]["nodeList"][0]["messageChain"] == [{"type": "FlashImage", "base64": "eHl6"}]  # untouched
    assert texts == ["hi"]
    plain = [{"type": "Plain", "text": "x"}]
    assert rewrite_chain(plain, visit, texts.append) is plain
