"""FakeMirai behaves as mirai-api-http v2 does, on real sockets (websocket-client, requests)."""

from __future__ import annotations

import json
import socket
import threading
from typing import Any, Dict, List, Optional, Tuple

import pytest
import requests
import websocket

from qqreliable.testing import FakeMirai, MahError

KEY = "1234567890"
QQ = 10001


class Client:
    """A minimal MAH WebSocket client for the tests: frames in order, close codes visible."""

    def __init__(self, url: str, headers: Optional[Dict[str, str]] = None) -> None:
        hdrs = {"verifyKey": KEY, "qq": str(QQ)} if headers is None else headers
        self.ws = websocket.create_connection(url, header=[f"{k}: {v}" for k, v in hdrs.items()], timeout=5)
        self.sync = 0

    def frame(self) -> Tuple[str, Any]:
        """("text", obj) | ("close", (code, reason)) | ("eof", None)."""
        try:
            opcode, data = self.ws.recv_data(control_frame=True)
        except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
            return "eof", None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
            return "close", (code, data[2:].decode("utf-8"))
        if opcode == websocket.ABNF.OPCODE_TEXT:
            text = data.decode("utf-8")
            try:
                return "text", json.loads(text)
            except ValueError:
                return "raw", text
        return "other", (opcode, data)

    def json(self) -> Any:
        kind, value = self.frame()
        assert kind == "text", (kind, value)
        return value

    def call(self, command: str, content: Optional[Dict[str, Any]] = None, sub: Optional[str] = None) -> Any:
        self.sync += 1
        sync = str(self.sync)
        self.ws.send(json.dumps({"syncId": sync, "command": command, "subCommand": sub, "content": content or {}}))
        while True:
            frame = self.json()
            if frame.get("syncId") == sync:
                return frame["data"]

    def close(self) -> None:
        self.ws.close(timeout=1)


@pytest.fixture
def clients():
    made: List[Client] = []

    def make(url: str, headers: Optional[Dict[str, str]] = None) -> Client:
        client = Client(url, headers)
        made.append(client)
        return client

    yield make
    for client in made:
        try:
            client.ws.abort()
            client.ws.shutdown()
        except Exception:
            pass


def _ok_session(client: Client) -> str:
    first = client.json()
    assert first["syncId"] == "" and first["data"]["code"] == 0
    return first["data"]["session"]


# --------------------------------------------------------------------------- WebSocket handshake


def test_ws_handshake_event_and_send(mirai: FakeMirai, clients) -> None:
    client = clients(mirai.ws_all_url)
    session = _ok_session(client)
    assert [s["key"] for s in mirai.sessions] == [session]
    event = mirai.emit_group_message(100, 2, "ping", member_name="bob")
    frame = client.json()
    assert frame["syncId"] == "-1" and frame["data"] == event
    assert frame["data"]["sender"]["group"]["id"] == 100 and frame["data"]["messageChain"][1]["text"] == "ping"
    answer = client.call("sendGroupMessage", {"target": 100, "messageChain": [{"type": "Plain", "text": "pong"}]})
    assert answer["code"] == 0 and isinstance(answer["messageId"], int)
    sent = mirai.wait_for_message()
    assert sent["messageId"] == answer["messageId"] and sent["type"] == "group" and sent["target"] == 100
    assert sent["messageChain"] == [{"type": "Plain", "text": "pong"}] and sent["transport"] == "ws"
    call = mirai.wait_for_call("sendGroupMessage")
    assert call["syncId"] == "1" and call["transport"] == "ws" and call["session"] == session


def test_ws_credentials_in_query_too(mirai: FakeMirai, clients) -> None:
    client = clients(f"{mirai.ws_all_url}?verifyKey={KEY}&qq={QQ}", headers={})
    _ok_session(client)


def test_ws_wrong_key_code_1_then_clean_close(mirai: FakeMirai, clients) -> None:
    client = clients(mirai.ws_all_url, {"verifyKey": "wrong", "qq": str(QQ)})
    assert client.json() == {"syncId": "", "data": {"code": 1, "msg": "Auth Key错误"}}
    kind, (code, reason) = client.frame()
    assert kind == "close" and code == 1000 and reason == "Auth Key错误"
    assert mirai.sessions == [] and mirai.wait_for_handshakes(1)["code"] == 1


@pytest.mark.parametrize(
    "headers, code",
    [
        ({"verifyKey": KEY}, 400),  # neither qq nor sessionKey
        ({"verifyKey": KEY, "qq": "abc"}, 400),
        ({"verifyKey": KEY, "qq": "999"}, 2),  # not this mirai's account
        ({"verifyKey": KEY, "sessionKey": "stale"}, 3),
    ],
)
def test_ws_handshake_failures(mirai: FakeMirai, clients, headers, code) -> None:
    client = clients(mirai.ws_all_url, headers)
    assert client.json()["data"]["code"] == code
    assert client.frame()[0] == "close"


def test_account_not_logged_in_is_code_2_until_it_is(mirai: FakeMirai, clients) -> None:
    mirai.set_account_online(False)
    client = clients(mirai.ws_all_url)
    assert client.json()["data"]["code"] == 2
    mirai.set_account_online(True)
    _ok_session(clients(mirai.ws_all_url))


def test_single_mode_and_verify_disabled(mirai_factory, clients) -> None:
    single = mirai_factory(single_mode=True)
    assert clients(single.ws_all_url, {"verifyKey": KEY}).json()["data"] == {"code": 0, "session": "SINGLE_SESSION"}
    open_mirai = mirai_factory(enable_verify=False)
    _ok_session(clients(open_mirai.ws_all_url, {"verifyKey": "anything", "qq": str(QQ)}))


def test_ws_session_dies_with_its_socket(mirai: FakeMirai, clients) -> None:
    client = clients(mirai.ws_all_url)
    session = _ok_session(client)
    client.close()
    again = clients(mirai.ws_all_url, {"verifyKey": KEY, "sessionKey": session})
    assert again.json()["data"]["code"] == 3  # never present the old key


def test_unparsable_frame_gets_a_bare_400(mirai: FakeMirai, clients) -> None:
    client = clients(mirai.ws_all_url)
    _ok_session(client)
    client.ws.send("not json{")
    assert client.json() == {"code": 400, "msg": "无效参数"}
    client.ws.send(json.dumps({"syncId": "1"}))  # no command
    assert client.json() == {"code": 400, "msg": "无效参数"}
    assert client.call("about")["data"]["version"] == "2.10.0"  # still alive


def test_ws_command_errors(mirai: FakeMirai, clients) -> None:
    client = clients(mirai.ws_all_url)
    _ok_session(client)
    assert client.call("uploadImage", {"type": "group"})["code"] == 6  # uploads are HTTP only
    assert client.call("noSuchCommand")["code"] == 6
    assert client.call("sendGroupMessage", {"messageChain": []})["code"] == 400  # no target
    chain = [{"type": "Bogus"}]
    assert client.call("sendGroupMessage", {"target": 1, "messageChain": chain})["code"] == 400
    chain = [{"type": "Image", "path": "/on/the/mah/host.png"}]
    assert client.call("sendGroupMessage", {"target": 1, "messageChain": chain})["code"] == 6
    chain = [{"type": "Source", "id": 1, "time": 1}]  # receive-only: nothing left to send
    assert client.call("sendGroupMessage", {"target": 1, "messageChain": chain})["code"] == 500
    chain = [{"type": "Plain", "text": "x"}]
    assert client.call("sendGroupMessage", {"target": 1, "messageChain": chain, "quote": 424242})["code"] == 5
    assert mirai.sent_messages == []


def test_ws_path_filters(mirai: FakeMirai, clients) -> None:
    messages = clients(mirai.ws_url + "/message")
    events = clients(mirai.ws_url + "/event")
    _ok_session(messages)
    _ok_session(events)
    mirai.emit_event("MemberJoinRequestEvent", eventId=1, fromId=2, groupId=3)
    mirai.emit_friend_message(5, "hi")
    assert messages.json()["data"]["type"] == "FriendMessage"
    assert events.json()["data"]["type"] == "MemberJoinRequestEvent"


def test_reserved_sync_id_is_configurable(mirai_factory, clients) -> None:
    mirai = mirai_factory(reserved_sync_id="evt")
    client = clients(mirai.ws_all_url)
    _ok_session(client)
    mirai.emit_event("BotOnlineEvent", qq=QQ)
    assert client.json() == {"syncId": "evt", "data": {"type": "BotOnlineEvent", "qq": QQ}}


def test_unknown_ws_path_is_404(mirai: FakeMirai) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(mirai.ws_url + "/nope", timeout=5)
    assert info.value.status_code == 404


# --------------------------------------------------------------------------- messages, cache, versions


def test_quote_recall_message_from_id_and_roaming(mirai: FakeMirai, clients) -> None:
    client = clients(mirai.ws_all_url)
    _ok_session(client)
    incoming = mirai.emit_group_message(100, 2, "q")
    client.json()
    quoted_id = incoming["messageChain"][0]["id"]
    answer = client.call(
        "sendGroupMessage", {"target": 100, "messageChain": [{"type": "Plain", "text": "a"}], "quote": quoted_id}
    )
    assert answer["code"] == 0 and mirai.sent_messages[0]["quote"] == quoted_id
    got = client.call("messageFromId", {"messageId": answer["messageId"], "target": 100})
    assert got["code"] == 0 and got["data"]["type"] == "GroupSyncMessage"
    assert [e["type"] for e in got["data"]["messageChain"]] == ["Source", "Quote", "Plain"]
    roaming = client.call("roamingMessages", {"timeStart": 0, "timeEnd": 2**31 - 1, "target": 100})
    assert [m["messageChain"][0]["id"] for m in roaming["data"]] == [quoted_id, answer["messageId"]]
    assert client.call("recall", {"target": 100, "messageId": answer["messageId"]})["code"] == 0
    assert mirai.recalled[0]["messageId"] == answer["messageId"]
    assert client.call("recall", {"target": answer["messageId"]})["code"] == 400  # 2.5 shape on 2.10


def test_old_versions_read_old_shapes(mirai_factory, clients) -> None:
    old = mirai_factory(version="2.5.2")
    client = clients(old.ws_all_url)
    _ok_session(client)
    old.emit_group_message(100, 2, "x", message_id=55)
    client.json()
    assert client.call("about")["data"]["version"] == "2.5.2"
    assert client.call("messageFromId", {"id": 55})["data"]["messageChain"][1]["text"] == "x"
    assert client.call("recall", {"target": 55})["code"] == 0
    assert client.call("roamingMessages", {"target": 100})["code"] == 5  # groups only from 2.10
    mid = mirai_factory(version="2.6.0")
    client2 = clients(mid.ws_all_url)
    _ok_session(client2)
    mid.emit_friend_message(3, "y", message_id=66)
    client2.json()
    assert client2.call("messageFromId", {"id": 66, "target": 3})["code"] == 0
    assert client2.call("roamingMessages", {"target": 3})["data"][0]["messageChain"][0]["id"] == 66


def test_temp_friend_and_other_sends(mirai: FakeMirai, clients) -> None:
    client = clients(mirai.ws_all_url)
    _ok_session(client)
    chain = [{"type": "Plain", "text": "t"}, {"type": "Voice", "base64": "AAAA"}]
    assert client.call("sendTempMessage", {"qq": 3, "group": 7, "messageChain": chain})["code"] == 0
    assert client.call("sendFriendMessage", {"target": 3, "messageChain": chain})["code"] == 0
    temp, friend = mirai.sent_messages
    assert temp["type"] == "temp" and temp["group"] == 7 and temp["messageChain"] == chain[:1]  # no voice in temp
    assert friend["type"] == "friend" and friend["messageChain"] == chain
    assert client.call("sendNudge", {"target": 3, "subject": 3, "kind": "Friend"})["code"] == 0
    assert client.call("sendGroupMessage", {"target": 1, "messageChain": [{"type": "Image", "base64": "!!"}]})[
        "code"
    ] == 400


def test_lists_profiles_and_two_way_commands(mirai: FakeMirai, clients) -> None:
    mirai.add_group(100, "g")
    mirai.add_member(100, 2, name="bob", permission="ADMINISTRATOR")
    mirai.add_friend(3, nickname="amy")
    client = clients(mirai.ws_all_url)
    _ok_session(client)
    assert [g["id"] for g in client.call("groupList")["data"]] == [100]
    assert client.call("friendList")["data"] == [{"id": 3, "nickname": "amy", "remark": ""}]
    members = client.call("memberList", {"target": 100})["data"]
    assert [(m["id"], m["memberName"], m["permission"]) for m in members] == [(2, "bob", "ADMINISTRATOR")]
    info = client.call("memberInfo", {"target": 100, "memberId": 2}, sub="get")
    assert "code" not in info and info["memberName"] == "bob"  # a bare object
    assert client.call("memberInfo", {"target": 100, "memberId": 2, "info": {"name": "b2"}}, sub="update")["code"] == 0
    assert client.call("memberInfo", {"target": 100, "memberId": 2}, sub="get")["memberName"] == "b2"
    assert client.call("groupConfig", {"target": 100}, sub="get")["name"] == "g"
    assert client.call("botProfile")["nickname"] == mirai.nickname
    assert client.call("mute", {"target": 100, "memberId": 2, "time": 60})["code"] == 0


# --------------------------------------------------------------------------- HTTP adapter


def _verify_bind(http: requests.Session, mirai: FakeMirai) -> str:
    verify = http.post(mirai.url + "/verify", json={"verifyKey": KEY}, timeout=5).json()
    assert verify["code"] == 0
    key = verify["session"]
    assert http.post(mirai.url + "/bind", json={"sessionKey": key, "qq": QQ}, timeout=5).json()["code"] == 0
    return key


def test_http_session_lifecycle_and_polling(mirai: FakeMirai) -> None:
    with requests.Session() as http:
        assert http.post(mirai.url + "/verify", json={"verifyKey": "bad"}, timeout=5).json()["code"] == 1
        verify = http.post(mirai.url + "/verify", json={"verifyKey": KEY}, timeout=5).json()
        key = verify["session"]
        assert http.get(mirai.url + "/fetchMessage", headers={"sessionKey": key}, timeout=5).json()["code"] == 4
        assert http.post(mirai.url + "/bind", json={"sessionKey": key, "qq": 42}, timeout=5).json()["code"] == 2
        assert http.post(mirai.url + "/bind", json={"sessionKey": "nope", "qq": QQ}, timeout=5).json()["code"] == 3
        assert http.post(mirai.url + "/bind", json={"sessionKey": key, "qq": QQ}, timeout=5).json()["code"] == 0
        mirai.emit_friend_message(3, "one")
        mirai.emit_group_message(100, 2, "two")
        assert http.get(mirai.url + "/countMessage", params={"sessionKey": key}, timeout=5).json()["data"] == 2
        peek = http.get(mirai.url + "/peekMessage?count=5", headers={"Authorization": f"session {key}"}, timeout=5)
        assert len(peek.json()["data"]) == 2
        fetched = http.get(mirai.url + "/fetchMessage?count=1", headers={"sessionKey": key}, timeout=5).json()
        assert [m["type"] for m in fetched["data"]] == ["FriendMessage"]
        rest = http.get(mirai.url + "/fetchMessage?count=10", headers={"sessionKey": key}, timeout=5).json()
        assert [m["type"] for m in rest["data"]] == ["GroupMessage"]
        body = {"sessionKey": key, "target": 3, "messageChain": [{"type": "Plain", "text": "r"}]}
        answer = http.post(mirai.url + "/sendFriendMessage", json=body, timeout=5).json()
        assert answer["code"] == 0 and mirai.sent_messages[0]["transport"] == "http"
        assert http.get(mirai.url + "/about", timeout=5).json()["data"]["version"] == "2.10.0"  # no session needed
        assert http.get(mirai.url + "/memberInfo", params={"target": 1, "memberId": 2}, headers={
            "sessionKey": key}, timeout=5).json()["code"] == 5
        assert http.post(mirai.url + "/release", json={"sessionKey": key, "qq": QQ}, timeout=5).json()["code"] == 0
        assert http.get(mirai.url + "/countMessage", headers={"sessionKey": key}, timeout=5).json()["code"] == 3
        assert http.get(mirai.url + "/not/a/route", timeout=5).status_code == 404
        assert http.post(mirai.url + "/sendGroupMessage", data=b"{broken", timeout=5).json()["code"] == 400


def test_http_unread_queue_is_capped(mirai_factory) -> None:
    mirai = mirai_factory(unread_queue_max_size=3)
    with requests.Session() as http:
        key = _verify_bind(http, mirai)
        for i in range(5):
            mirai.emit_friend_message(3, str(i))
        data = http.get(mirai.url + "/fetchMessage?count=10", headers={"sessionKey": key}, timeout=5).json()["data"]
        assert [m["messageChain"][1]["text"] for m in data] == ["0", "1", "2"]
        assert mirai.unread_dropped == 2


def test_http_single_mode(mirai_factory) -> None:
    mirai = mirai_factory(single_mode=True)
    with requests.Session() as http:
        assert http.post(mirai.url + "/bind", json={"sessionKey": "x", "qq": QQ}, timeout=5).json()["code"] == 6
        body = {"target": 3, "messageChain": [{"type": "Plain", "text": "r"}]}
        assert http.post(mirai.url + "/sendFriendMessage", json=body, timeout=5).json()["code"] == 0


def test_http_upload_image_multipart(mirai: FakeMirai) -> None:
    with requests.Session() as http:
        key = _verify_bind(http, mirai)
        files = {"img": ("a.png", b"\x89PNG-data", "image/png")}
        answer = http.post(mirai.url + "/uploadImage", data={"type": "group"}, files=files,
                           headers={"sessionKey": key}, timeout=5).json()
        assert answer["imageId"].startswith("{") and answer["imageId"].endswith("}.jpg")
        assert http.get(answer["url"], timeout=5).content == b"\x89PNG-data"
        assert mirai.uploads[0]["data"] == b"\x89PNG-data" and mirai.uploads[0]["type"] == "group"
        bad = http.post(mirai.url + "/uploadImage", data={"type": "nope"}, files=files,
                        headers={"sessionKey": key}, timeout=5).json()
        assert bad["code"] == 400
        voice = http.post(mirai.url + "/uploadVoice", data={"type": "group", "sessionKey": key},
                          files={"voice": ("a.amr", b"amr", "audio/amr")}, timeout=5).json()
        assert "voiceId" in voice


def test_restart_forgets_every_session(mirai: FakeMirai, clients) -> None:
    client = clients(mirai.ws_all_url)
    _ok_session(client)
    with requests.Session() as http:
        key = _verify_bind(http, mirai)
        mirai.emit_friend_message(3, "before")
        client.json()
        mirai.restart()
        assert client.frame()[0] == "eof"  # 1006: no close frame
        assert http.get(mirai.url + "/fetchMessage", headers={"sessionKey": key}, timeout=5).json()["code"] == 3
        assert mirai.sessions == []
        again = clients(mirai.ws_all_url)
        _ok_session(again)
        assert again.call("messageFromId", {"messageId": 1, "target": 3})["code"] == 5  # cache gone


# --------------------------------------------------------------------------- faults


def test_drop_is_1006_and_the_session_dies(mirai: FakeMirai, clients) -> None:
    client = clients(mirai.ws_all_url)
    _ok_session(client)
    mirai.drop_connections()
    assert client.frame() == ("eof", None)
    mirai.wait_for_connections(1)
    _ok_session(clients(mirai.ws_all_url))
    mirai.wait_for_connections(2)


def test_close_connections_sends_a_close_frame(mirai: FakeMirai, clients) -> None:
    client = clients(mirai.ws_all_url)
    _ok_session(client)
    done = threading.Thread(target=mirai.close_connections, args=(1001, "bye"), name="qqreliable:test-close")
    done.start()
    assert client.frame() == ("close", (1001, "bye"))
    client.ws.send_close()
    done.join(5)
    assert not done.is_alive()


def test_half_open_keeps_the_socket_and_answers_nothing(mirai: FakeMirai, clients) -> None:
    client = clients(mirai.ws_all_url)
    _ok_session(client)
    mirai.half_open()
    client.ws.settimeout(0.3)
    client.ws.send(json.dumps({"syncId": "1", "command": "about"}))
    client.ws.ping()
    mirai.emit_friend_message(3, "lost")
    with pytest.raises(websocket.WebSocketTimeoutException):
        client.ws.recv_data(control_frame=True)
    assert mirai.connection_count == 1
    _ok_session(clients(mirai.ws_all_url))  # new connections are normal


def test_down_refuses_and_up_listens_again(mirai: FakeMirai, clients) -> None:
    client = clients(mirai.ws_all_url)
    _ok_session(client)
    mirai.down()
    assert client.frame()[0] == "eof"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", mirai.port), timeout=2)
    mirai.up()
    _ok_session(clients(mirai.ws_all_url))


def test_fail_next_with_and_without_delivery(mirai: FakeMirai, clients) -> None:
    client = clients(mirai.ws_all_url)
    _ok_session(client)
    chain = [{"type": "Plain", "text": "x"}]
    mirai.fail_next("sendGroupMessage", 500, "timeout", deliver=True)
    mirai.fail_next("sendGroupMessage", 20)
    assert client.call("sendGroupMessage", {"target": 1, "messageChain": chain}) == {"code": 500, "msg": "timeout"}
    assert client.call("sendGroupMessage", {"target": 1, "messageChain": chain})["code"] == 20
    assert len(mirai.sent_messages) == 1  # the 500 was delivered, the 20 was not
    assert client.call("sendGroupMessage", {"target": 1, "messageChain": chain})["code"] == 0


def test_not_delivered_answers_message_id_minus_one(mirai: FakeMirai, clients) -> None:
    client = clients(mirai.ws_all_url)
    _ok_session(client)
    mirai.not_delivered("sendFriendMessage")
    chain = [{"type": "Plain", "text": "x"}]
    assert client.call("sendFriendMessage", {"target": 3, "messageChain": chain}) == {
        "code": 0, "msg": "success", "messageId": -1}
    assert mirai.sent_messages == []


def test_delay_and_stall_do_not_hold_up_other_calls(mirai: FakeMirai, clients) -> None:
    client = clients(mirai.ws_all_url)
    _ok_session(client)
    mirai.stall("sendGroupMessage", deliver=True)
    mirai.delay("friendList", 0.2)
    client.ws.send(json.dumps({"syncId": "s", "command": "sendGroupMessage",
                               "content": {"target": 1, "messageChain": [{"type": "Plain", "text": "x"}]}}))
    client.ws.send(json.dumps({"syncId": "d", "command": "friendList"}))
    client.ws.send(json.dumps({"syncId": "a", "command": "about"}))
    order = [client.json()["syncId"], client.json()["syncId"]]
    assert order == ["a", "d"]
    assert mirai.wait_for_message()["messageChain"][0]["text"] == "x"  # delivered, never answered


def test_drop_after_a_send(mirai: FakeMirai, clients) -> None:
    client = clients(mirai.ws_all_url)
    _ok_session(client)
    mirai.drop_after("sendGroupMessage", deliver=True)
    client.ws.send(json.dumps({"syncId": "1", "command": "sendGroupMessage",
                               "content": {"target": 1, "messageChain": [{"type": "Plain", "text": "x"}]}}))
    assert client.frame() == ("eof", None)
    assert len(mirai.sent_messages) == 1


def test_set_command_overrides(mirai: FakeMirai, clients) -> None:
    def handler(content: Dict[str, Any]) -> Dict[str, Any]:
        if content.get("target") == 1:
            raise MahError(10)
        return {"code": 0, "msg": "", "data": ["custom"]}

    mirai.set_command("memberList", handler)
    client = clients(mirai.ws_all_url)
    _ok_session(client)
    assert client.call("memberList", {"target": 1}) == {"code": 10, "msg": "无操作权限"}
    assert client.call("memberList", {"target": 2})["data"] == ["custom"]


def test_garbage_from_the_server(mirai: FakeMirai, clients) -> None:
    client = clients(mirai.ws_all_url)
    _ok_session(client)
    mirai.send_garbage("{{{")
    assert client.frame() == ("raw", "{{{")
    mirai.send_garbage(b"\x00\x01", binary=True)
    assert client.frame() == ("other", (websocket.ABNF.OPCODE_BINARY, b"\x00\x01"))


def test_wait_helpers_time_out(mirai: FakeMirai) -> None:
    with pytest.raises(TimeoutError):
        mirai.wait_for_message(timeout=0.05)
    with pytest.raises(TimeoutError):
        mirai.wait_for_call("about", timeout=0.05)
    with pytest.raises(TimeoutError):
        mirai.wait_for_connections(1, timeout=0.05)


def test_faults_apply_to_polling_too(mirai: FakeMirai) -> None:
    with requests.Session() as http:
        key = _verify_bind(http, mirai)
        mirai.fail_next("fetchMessage", 500, "boom")
        mirai.emit_friend_message(3, "kept")
        first = http.get(mirai.url + "/fetchMessage", headers={"sessionKey": key}, timeout=5).json()
        assert first == {"code": 500, "msg": "boom"}
        second = http.get(mirai.url + "/fetchMessage", headers={"sessionKey": key}, timeout=5).json()
        assert [m["messageChain"][1]["text"] for m in second["data"]] == ["kept"]
        assert mirai.wait_for_call("fetchMessage", count=2)["session"] == key


def test_hosted_images(mirai: FakeMirai) -> None:
    element = mirai.add_image(b"\x89PNG\r\n\x1a\nxyz")
    assert element["type"] == "Image" and element["url"].startswith(mirai.url)
    got = requests.get(element["url"], timeout=5)
    assert got.content == b"\x89PNG\r\n\x1a\nxyz" and got.headers["Content-Type"] == "image/png"
    assert mirai.image_downloads(element["imageId"]) == 1
    assert requests.get(mirai.url + "/_image/nope", timeout=5).status_code == 404
