"""FakeOneBot behaves as go-cqhttp, NapCat and LLOneBot do where independent clients
(aiocqhttp, nonebot2) noticed a difference (issue 11, "FakeOneBot, as independent
clients saw it"). Raw sockets and HTTP requests, no qqreliable Bot, except where the
bot is the other side (HTTP POST quick operations)."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any, Callable, Dict, Optional, Tuple

import pytest
import websocket

from qqreliable import Bot
from qqreliable.onebot.events import Event
from qqreliable.testing import FakeOneBot


def _ws(url: str, header: Optional[list] = None) -> websocket.WebSocket:
    return websocket.create_connection(url, timeout=5, header=header or [])


def _ws_call(ws: websocket.WebSocket, action: str, **params: Any) -> Dict[str, Any]:
    ws.send(json.dumps({"action": action, "params": params, "echo": action}))
    while True:
        frame = json.loads(ws.recv())
        if frame.get("echo") == action:
            return frame


def _http_call(onebot: FakeOneBot, action: str, headers: Optional[Dict[str, str]] = None,
               **params: Any) -> Tuple[int, Dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", onebot.port, timeout=5)
    try:
        conn.request("POST", f"/{action}", body=json.dumps(params),
                     headers=dict({"Content-Type": "application/json"}, **(headers or {})))
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


# --------------------------------------------------------------------------- suffixes


@pytest.mark.parametrize("suffix", ["_async", "_rate_limited"])
def test_action_suffixes_run_the_action_over_ws_and_http(onebot: FakeOneBot, suffix: str) -> None:
    ws = _ws(onebot.ws_url)
    try:
        answer = _ws_call(ws, "send_group_msg" + suffix, group_id=5, message="over ws")
    finally:
        ws.close()
    assert (answer["status"], answer["retcode"]) == ("async", 1)
    assert onebot.wait_for_message(group_id=5, text="over ws")
    status, body = _http_call(onebot, "send_private_msg" + suffix, user_id=6, message="over http")
    assert (status, body["status"], body["retcode"]) == (200, "async", 1)
    assert onebot.wait_for_message(user_id=6, text="over http")
    ws = _ws(onebot.ws_url)
    try:
        assert _ws_call(ws, "no_such_action" + suffix)["retcode"] == 1404
    finally:
        ws.close()


def test_handle_quick_operation_async_over_ws_replies_as_aiocqhttp_expects(onebot: FakeOneBot) -> None:
    # aiocqhttp answers a handler's {"reply": ...} over reverse WS with
    # .handle_quick_operation_async; the reply must arrive, with at_sender's default (true).
    event = onebot.emit_group_message(30, 40, "ping")
    ws = _ws(onebot.ws_url)
    try:
        answer = _ws_call(ws, ".handle_quick_operation_async", context=event, operation={"reply": "pong"})
        assert answer["retcode"] == 1
        sent = onebot.wait_for_message(group_id=30)
        assert sent["message"] == [{"type": "at", "data": {"qq": "40"}}, {"type": "text", "data": {"text": "pong"}}]
        private = onebot.emit_private_message(41, "hi")
        answer = _ws_call(ws, ".handle_quick_operation", context=private,
                          operation={"reply": "[CQ:face,id=1]", "auto_escape": True})
        assert answer["retcode"] == 0
        assert onebot.wait_for_message(user_id=41)["raw_message"] == "&#91;CQ:face,id=1&#93;"
    finally:
        ws.close()


# --------------------------------------------------------------------------- HTTP POST quick operations


def test_http_post_quick_operations_are_carried_out(onebot: FakeOneBot, make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(None, listen="http://127.0.0.1:0/onebot", pacing=None)

    @bot.quick_operation("message.group")
    def punish(event: Event) -> Dict[str, Any]:
        return {"reply": "bye", "at_sender": False, "delete": True, "kick": True, "ban": True, "ban_duration": 60}

    @bot.quick_operation("request.friend")
    def befriend(event: Event) -> Dict[str, Any]:
        return {"approve": True, "remark": "pal"}

    @bot.quick_operation("request.group")
    def refuse(event: Event) -> Dict[str, Any]:
        return {"approve": False, "reason": "no"}

    onebot.add_member(50, 60)
    with bot:
        poster = onebot.post_events(bot.listen_url)
        bad = onebot.emit_group_message(50, 60, "spam")
        onebot.emit_request("friend", user_id=61, comment="hi", flag="f1")
        onebot.emit_request("group", sub_type="add", group_id=50, user_id=62, flag="g1")
        poster.wait_idle()
        assert onebot.wait_for_message(group_id=50)["raw_message"] == "bye"
        assert onebot.wait_for_call("delete_msg")["params"] == {"message_id": bad["message_id"]}
        assert bad["message_id"] not in [m["message_id"] for m in onebot.history(group_id=50)]
        assert onebot.wait_for_call("set_group_kick")["params"]["user_id"] == 60
        ban = onebot.wait_for_call("set_group_ban")["params"]
        assert (ban["group_id"], ban["user_id"], ban["duration"]) == (50, 60, 60)
        friend = onebot.wait_for_call("set_friend_add_request")["params"]
        assert (friend["flag"], friend["approve"], friend["remark"]) == ("f1", True, "pal")
        group = onebot.wait_for_call("set_group_add_request")["params"]
        assert (group["flag"], group["sub_type"], group["approve"], group["reason"]) == ("g1", "add", False, "no")
        assert {c["transport"] for c in onebot.calls if c["action"].startswith(("set_", "delete_"))} == {"quick"}


def test_ban_without_a_duration_is_thirty_minutes(onebot: FakeOneBot) -> None:
    event = onebot.emit_group_message(70, 71, "x")
    onebot.quick_operation(event, {"ban": True})
    assert onebot.wait_for_call("set_group_ban")["params"]["duration"] == 1800
    status, body = _http_call(onebot, "get_group_member_info", group_id=70, user_id=71)
    assert body["data"]["shut_up_timestamp"] > 0


# --------------------------------------------------------------------------- retcodes by transport


def test_failures_use_the_http_retcode_over_http(onebot: FakeOneBot) -> None:
    # NapCat/LLOneBot: the catch-all failure is 1200 over WS, 200 over HTTP, everywhere.
    ws = _ws(onebot.ws_url)
    try:
        assert _ws_call(ws, "get_msg", message_id=1)["retcode"] == 1200
        assert _ws_call(ws, "delete_msg", message_id=1)["retcode"] == 1200
    finally:
        ws.close()
    assert _http_call(onebot, "get_msg", message_id=1)[1]["retcode"] == 200
    assert _http_call(onebot, "delete_msg", message_id=1)[1]["retcode"] == 200
    onebot.fail_next("send_group_msg")
    status, body = _http_call(onebot, "send_group_msg", group_id=1, message="x")
    assert (status, body["status"], body["retcode"]) == (200, "failed", 200)
    onebot.fail_next("send_group_msg", retcode=100)  # an explicit retcode other than 1200 stays
    assert _http_call(onebot, "send_group_msg", group_id=1, message="x")[1]["retcode"] == 100


# --------------------------------------------------------------------------- tokens


def test_frame_style_reads_only_bearer(onebot_factory: Callable[..., FakeOneBot]) -> None:
    onebot = onebot_factory(access_token="s3cret", auth_style="frame")
    ws = _ws(onebot.ws_url, ["Authorization: Token s3cret"])  # NapCat reads only "Bearer "
    try:
        assert json.loads(ws.recv())["retcode"] == 1403
    finally:
        ws.close()
    ws = _ws(onebot.ws_url, ["Authorization: Bearer s3cret"])
    try:
        assert _ws_call(ws, "get_login_info")["retcode"] == 0
    finally:
        ws.close()
    ws = _ws(onebot.ws_url + "?access_token=s3cret", ["Authorization: Bearer "])  # empty: the query counts
    try:
        assert _ws_call(ws, "get_login_info")["retcode"] == 0
    finally:
        ws.close()
    assert _http_call(onebot, "get_login_info", {"Authorization": "Token s3cret"})[0] == 403
    assert _http_call(onebot, "get_login_info", {"Authorization": "Bearer s3cret"})[0] == 200


def test_an_empty_bearer_is_a_missing_token(onebot_factory: Callable[..., FakeOneBot]) -> None:
    onebot = onebot_factory(access_token="s3cret")  # go-cqhttp: 401 missing, 403 wrong
    assert _http_call(onebot, "get_login_info")[0] == 401
    assert _http_call(onebot, "get_login_info", {"Authorization": "Bearer "})[0] == 401
    assert _http_call(onebot, "get_login_info", {"Authorization": "Bearer nope"})[0] == 403
    assert _http_call(onebot, "get_login_info", {"Authorization": "Token s3cret"})[0] == 200
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        _ws(onebot.ws_url, ["Authorization: Bearer "])
    assert info.value.status_code == 401


# --------------------------------------------------------------------------- call threads


def test_a_slow_call_never_holds_up_the_quick_ones_behind_it(onebot: FakeOneBot) -> None:
    """Quick built-in calls are answered on the connection's thread, in order; a
    call with a fault, a custom handler, a send or a media action runs on a worker,
    so the quick calls sent after it on the same connection are answered first."""
    release = threading.Event()
    onebot.set_action("slow_custom", lambda params: release.wait(5) and {"done": True})
    onebot.stall("get_status", times=1)
    onebot.delay("send_group_msg", 0.5, times=1)
    onebot.media.set_api_mode("never")  # get_image waits until the server stops
    ws = _ws(onebot.ws_url)
    try:
        for echo, action in [("custom", "slow_custom"), ("stalled", "get_status"), ("send", "send_group_msg"),
                             ("image", "get_image")]:
            ws.send(json.dumps({"action": action, "params": {"group_id": 1, "message": "x"}, "echo": echo}))
        for n in range(20):
            ws.send(json.dumps({"action": "get_login_info", "params": {}, "echo": n}))
        answers = []
        while len(answers) < 21:
            frame = json.loads(ws.recv())
            if "echo" in frame:
                answers.append(frame["echo"])
        assert answers[:20] == list(range(20))  # in order, before the slow ones
        assert answers[20] == "send"  # its 0.5 s delay, on a worker
        release.set()
        while True:
            frame = json.loads(ws.recv())
            if frame.get("echo") == "custom":
                assert frame["data"] == {"done": True}
                break
    finally:
        release.set()
        ws.close()
