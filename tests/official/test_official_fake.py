"""FakeOfficial against plain clients (requests, websocket-client) on real sockets:
the token endpoint, the gateway, the REST rules, the faults."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

import pytest
import requests
import websocket

from qqreliable.testing import FakeOfficial


def token(official: FakeOfficial) -> str:
    r = requests.post(official.token_url, json={"appId": official.app_id, "clientSecret": official.secret}, timeout=5)
    body = r.json()
    assert isinstance(body["expires_in"], str)
    return body["access_token"]


def api(official: FakeOfficial, method: str, path: str, tok: Optional[str] = None, **kw: Any) -> requests.Response:
    headers = {"Authorization": f"QQBot {tok}"} if tok else {}
    return requests.request(method, official.url + path, headers=headers, timeout=5, **kw)


class Gateway:
    def __init__(self, official: FakeOfficial) -> None:
        self.ws = websocket.create_connection(official.ws_url, timeout=5)

    def recv(self) -> Dict[str, Any]:
        return json.loads(self.ws.recv())

    def send(self, obj: Dict[str, Any]) -> None:
        self.ws.send(json.dumps(obj))

    def close(self) -> None:
        self.ws.close()


def identify(official: FakeOfficial, tok: str, intents: int = 1 << 25) -> Gateway:
    gw = Gateway(official)
    hello = gw.recv()
    assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == int(official.heartbeat_interval * 1000)
    gw.send({"op": 2, "d": {"token": f"QQBot {tok}", "intents": intents, "shard": [0, 1]}})
    return gw


# ---------------------------------------------------------------- token


def test_token_same_until_the_last_minute(official: FakeOfficial) -> None:
    a = token(official)
    assert token(official) == a
    official.advance(official.token_ttl - 30)
    b = token(official)
    assert b != a
    # the old one stays valid until its own expiry
    assert api(official, "GET", "/users/@me", a).status_code == 200
    official.advance(31)
    assert api(official, "GET", "/users/@me", a).status_code == 401
    assert api(official, "GET", "/users/@me", b).status_code == 200


def test_token_wrong_secret_and_rate_limit(official: FakeOfficial) -> None:
    r = requests.post(official.token_url, json={"appId": official.app_id, "clientSecret": "nope"}, timeout=5)
    assert r.json()["code"] == 100016
    official.rate_limit_token()
    r = requests.post(official.token_url, json={"appId": official.app_id, "clientSecret": official.secret}, timeout=5)
    assert r.json()["code"] == 100001
    assert token(official)


def test_auth_rules(official: FakeOfficial) -> None:
    assert api(official, "GET", "/gateway/bot").json()["code"] == 11241
    r = requests.get(official.url + "/users/@me", headers={"Authorization": "Bot 1.x"}, timeout=5)
    assert r.status_code == 401 and r.json()["code"] == 11245
    tok = token(official)
    gateway = api(official, "GET", "/gateway/bot", tok).json()
    assert gateway["url"] == official.ws_url and gateway["shards"] == 1
    official.reject_token()
    r = api(official, "GET", "/users/@me", tok)
    assert r.status_code == 401 and r.json()["code"] == 11244
    assert api(official, "GET", "/users/@me", tok).status_code == 401  # revoked
    assert api(official, "GET", "/users/@me", token(official)).status_code == 200
    official.expire_tokens()
    assert api(official, "GET", "/users/@me", tok).json()["code"] == 11244


# ---------------------------------------------------------------- gateway


def test_identify_dispatch_heartbeat_and_resume(official: FakeOfficial) -> None:
    tok = token(official)
    gw = identify(official, tok)
    ready = gw.recv()
    assert ready["t"] == "READY" and ready["s"] == 1
    session_id = ready["d"]["session_id"]
    gw.send({"op": 1, "d": 1})
    assert gw.recv() == {"op": 11}
    d = official.emit_c2c_message("U1", "hello")
    frame = gw.recv()
    assert frame["t"] == "C2C_MESSAGE_CREATE" and frame["s"] == 2 and frame["d"]["id"] == d["id"]
    assert frame["id"].startswith("C2C_MESSAGE_CREATE:")
    official.drop_connections()
    official.emit_c2c_message("U1", "while away")
    gw2 = Gateway(official)
    assert gw2.recv()["op"] == 10
    gw2.send({"op": 6, "d": {"token": f"QQBot {tok}", "session_id": session_id, "seq": 2}})
    missed = gw2.recv()
    assert missed["s"] == 3 and missed["d"]["content"] == "while away"
    assert gw2.recv()["t"] == "RESUMED"
    assert official.resumed_count == 1
    gw2.close()


def test_intents_filter_dispatches(official: FakeOfficial) -> None:
    gw = identify(official, token(official), intents=1 << 30)
    gw.recv()  # READY
    official.emit_c2c_message("U1", "not for you")
    official.emit_guild_at_message("C1", "G1", "A1", "for you")
    frame = gw.recv()
    assert frame["t"] == "AT_MESSAGE_CREATE" and frame["d"]["content"].startswith(f"<@!{official.bot_id}>")
    gw.close()


@pytest.mark.parametrize("d, code", [
    ({"token": "QQBot wrong", "intents": 1, "shard": [0, 1]}, 4004),
    ("intents", 4014),
    ("shard", 4010),
])
def test_identify_refusals(official_factory, d, code) -> None:
    official = official_factory(allowed_intents=1 << 25)
    tok = token(official)
    if d == "intents":
        d = {"token": f"QQBot {tok}", "intents": 1 << 9, "shard": [0, 1]}
    elif d == "shard":
        d = {"token": f"QQBot {tok}", "intents": 1 << 25, "shard": [1, 1]}
    gw = Gateway(official)
    gw.recv()
    gw.send({"op": 2, "d": d})
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        while True:
            gw.ws.recv()
    assert gw.ws.close_status == code if hasattr(gw.ws, "close_status") else True


def close_code(gw: Gateway) -> int:
    opcode, data = gw.ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    return int.from_bytes(data[:2], "big")


def test_close_with_any_code_and_op7_op9(official: FakeOfficial) -> None:
    tok = token(official)
    gw = identify(official, tok)
    gw.recv()
    official.send_reconnect()
    assert gw.recv() == {"op": 7}
    official.invalidate_session(resumable=False)
    assert gw.recv() == {"op": 9, "d": False}
    official.close_connections(4009, "session timed out")
    assert close_code(gw) == 4009


def test_resume_of_an_ended_session_is_op9(official: FakeOfficial) -> None:
    tok = token(official)
    gw = identify(official, tok)
    sid = gw.recv()["d"]["session_id"]
    official.close_connections(4006)
    gw2 = Gateway(official)
    gw2.recv()
    gw2.send({"op": 6, "d": {"token": f"QQBot {tok}", "session_id": sid, "seq": 1}})
    assert gw2.recv() == {"op": 9, "d": False}


def test_no_heartbeat_ack_and_half_open(official: FakeOfficial) -> None:
    gw = identify(official, token(official))
    gw.recv()
    official.no_heartbeat_ack()
    gw.send({"op": 1, "d": 1})
    official.emit_c2c_message("U", "x")
    assert gw.recv()["t"] == "C2C_MESSAGE_CREATE"  # a dispatch, not an ACK
    official.half_open()
    official.emit_c2c_message("U", "lost")
    gw.ws.settimeout(0.3)
    with pytest.raises(websocket.WebSocketTimeoutException):
        gw.ws.recv()


# ---------------------------------------------------------------- REST rules


def test_passive_reply_seq_dedup_and_budget(official: FakeOfficial) -> None:
    tok = token(official)
    d = official.emit_c2c_message("U1", "hi")
    path = "/v2/users/U1/messages"
    r = api(official, "POST", path, tok, json={"msg_type": 0, "content": "a", "msg_id": d["id"], "msg_seq": 1})
    assert r.status_code == 200 and r.json()["id"].startswith("ROBOT1.0_")
    r = api(official, "POST", path, tok, json={"msg_type": 0, "content": "a", "msg_id": d["id"], "msg_seq": 1})
    assert r.json()["code"] == 40054005
    for seq in range(2, 6):
        body = {"msg_type": 0, "content": "x", "msg_id": d["id"], "msg_seq": seq}
        assert api(official, "POST", path, tok, json=body).ok
    r = api(official, "POST", path, tok, json={"msg_type": 0, "content": "x", "msg_id": d["id"], "msg_seq": 6})
    assert r.json()["code"] == 22009
    assert len(official.sent_messages) == 5 and all(m["passive"] for m in official.sent_messages)


def test_msg_id_checked_and_window(official: FakeOfficial) -> None:
    tok = token(official)
    d = official.emit_group_at_message("G1", "M1", "hi")
    r = api(official, "POST", "/v2/groups/OTHER/messages", tok, json={"msg_type": 0, "content": "a", "msg_id": d["id"]})
    assert r.json()["code"] == 40034024
    official.advance(301)
    r = api(official, "POST", "/v2/groups/G1/messages", tok, json={"msg_type": 0, "content": "a", "msg_id": d["id"]})
    assert r.json()["code"] == 304027 and "过期" in r.json()["message"]


def test_proactive_refused_per_scene(official_factory) -> None:
    official = official_factory(proactive=("c2c",))
    tok = token(official)
    assert api(official, "POST", "/v2/users/U/messages", tok, json={"msg_type": 0, "content": "a"}).ok
    r = api(official, "POST", "/v2/groups/G/messages", tok, json={"msg_type": 0, "content": "a"})
    assert r.json()["code"] == 40034102


def test_markdown_grant(official_factory) -> None:
    official = official_factory(markdown=False)
    tok = token(official)
    d = official.emit_c2c_message("U", "hi")
    md = {"msg_type": 2, "markdown": {"content": "**x**"}}
    assert api(official, "POST", "/v2/users/U/messages", tok, json=md).json()["code"] == 40034012
    assert api(official, "POST", "/v2/users/U/messages", tok, json=dict(md, msg_id=d["id"])).json()["code"] == 304041
    official.markdown = True
    assert api(official, "POST", "/v2/users/U/messages", tok, json=md).ok


def test_stream_validation(official: FakeOfficial) -> None:
    tok = token(official)
    d = official.emit_c2c_message("U", "hi")
    path = "/v2/users/U/messages"

    def chunk(text: str, seq: int, **stream: Any) -> requests.Response:
        return api(official, "POST", path, tok, json={
            "msg_type": 2, "markdown": {"content": text}, "msg_id": d["id"], "msg_seq": seq, "stream": stream})

    assert chunk("a", 1, state=1, index=0, id=None).json()["code"] == 40034123  # id: null
    first = chunk("Hel", 2, state=1, index=0, reset=False)
    sid = first.json()["id"]
    assert chunk("lo", 3, state=1, index=2, id=sid).json()["code"] == 40034127  # index out of order
    assert chunk("lo", 4, state=1, index=1, id=sid).json()["id"] == sid
    assert "流式消息md分片需要" in chunk("!", 5, state=10, index=2, id=sid).json()["message"]
    assert chunk("!\n", 6, state=10, index=2, id=sid).ok
    assert chunk("more", 7, state=1, index=3, id=sid).json()["code"] == 40034126  # finished
    (record,) = official.sent_messages
    assert record["text"] == "Hello!\n" and record["stream"] == "closed" and len(record["chunks"]) == 3
    r = api(official, "POST", "/v2/groups/G/messages", tok,
            json={"msg_type": 0, "content": "x", "stream": {"state": 1, "index": 0}})
    assert r.json()["code"] == 40034120


def test_media_upload_scope_and_ttl(official: FakeOfficial) -> None:
    tok = token(official)
    r = api(official, "POST", "/v2/users/U/files", tok,
            json={"file_type": 1, "url": "https://x/i.png", "srv_send_msg": False})
    info = r.json()["file_info"]
    assert r.json()["ttl"] == official.file_ttl
    media = {"msg_type": 7, "media": {"file_info": info}, "content": " "}
    assert api(official, "POST", "/v2/users/U/messages", tok, json=media).ok
    assert api(official, "POST", "/v2/groups/G/messages", tok, json=media).json()["code"] == 40034006  # scope
    official.advance(official.file_ttl + 1)
    assert api(official, "POST", "/v2/users/U/messages", tok, json=media).json()["code"] == 40034007
    r = api(official, "POST", "/v2/groups/G/files", tok, json={"file_type": 1, "file_data": "bm90IGFuIGltYWdl"})
    assert official.uploads[-1]["size"] == 12 and r.ok
    r = api(official, "POST", "/v2/groups/G/files", tok, json={"file_type": 9, "url": "https://x"})
    assert r.json()["code"] == 40034130


def test_http_faults(official: FakeOfficial) -> None:
    tok = token(official)
    official.fail_next("c2c", 502, retry_after=2)
    r = api(official, "POST", "/v2/users/U/messages", tok, json={"msg_type": 0, "content": "a"})
    assert r.status_code == 502 and r.headers["Retry-After"] == "2" and official.sent_messages == []
    official.fail_next("c2c", 500, deliver=True)
    r = api(official, "POST", "/v2/users/U/messages", tok, json={"msg_type": 0, "content": "b"})
    assert r.status_code == 500 and len(official.sent_messages) == 1
    official.fail_next("c2c_files", 400, code=304082, message="upload media info fail")
    r = api(official, "POST", "/v2/users/U/files", tok, json={"file_type": 1, "url": "https://x"})
    assert r.json()["code"] == 304082
    official.delay("c2c", 2.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(official.url + "/v2/users/U/messages", json={"msg_type": 0, "content": "late"},
                      headers={"Authorization": f"QQBot {tok}"}, timeout=0.3)
    official.wait_for_sent(2)
    official.drop_next("c2c", deliver=False)
    with pytest.raises(requests.exceptions.ConnectionError):
        api(official, "POST", "/v2/users/U/messages", tok, json={"msg_type": 0, "content": "gone"})
    assert len(official.sent_messages) == 2
    assert [c["route"] for c in official.calls].count("c2c") == 4


def test_guild_and_dm_sends(official: FakeOfficial) -> None:
    tok = token(official)
    d = official.emit_guild_at_message("C1", "G1", "A1", "hi")
    r = api(official, "POST", "/channels/C1/messages", tok, json={"content": "pong", "msg_id": d["id"]})
    assert r.ok and r.json()["author"]["bot"] is True
    dm = official.emit_direct_message("G9", "A1", "hi")
    assert api(official, "POST", "/dms/G9/messages", tok, json={"content": "pong", "msg_id": dm["id"]}).ok
    assert [m["scene"] for m in official.sent_messages] == ["guild", "direct"]


def test_event_ids_and_interactions(official: FakeOfficial) -> None:
    tok = token(official)
    env = official.emit_event("FRIEND_ADD", openid="U7")
    r = api(official, "POST", "/v2/users/U7/messages", tok,
            json={"msg_type": 0, "content": "welcome", "event_id": env["id"]})
    assert r.ok and official.sent_messages[-1]["passive"]
    assert api(official, "PUT", "/interactions/I1", tok, json={"code": 0}).status_code == 204
    assert official.interactions == [{"id": "I1", "code": 0}]


def test_null_fields_are_accepted_like_the_platform(official: FakeOfficial) -> None:
    # qq-botpy posts every parameter, null ones included.
    tok = token(official)
    body = {"msg_type": 0, "content": "x", "embed": None, "ark": None, "markdown": None, "keyboard": None,
            "media": None, "message_reference": None, "msg_id": None, "event_id": None, "msg_seq": 1}
    assert api(official, "POST", "/v2/users/U/messages", tok, json=body).ok
