"""Pure tests of qqreliable.onebot.actions: tables, classification, decoding, Receipt, ApiMixin.

Bodies are quoted from the implementations (reference/onebot11.md section 2,
reference/faults.md): gocq = go-cqhttp, NC = NapCatQQ, LLOB = LLOneBot,
LGR = Lagrange.OneBot. No sockets, no sleeps.
"""

from __future__ import annotations

import ast
import copy
import inspect
import pickle
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

import pytest

from qqreliable.onebot import actions
from qqreliable.onebot.actions import (
    ACTIONS,
    READ_ONLY,
    RULES,
    SEND_ACTIONS,
    ApiMixin,
    Category,
    Receipt,
    Rule,
    classify,
    decode_response,
    find_rule,
    http_status_body,
)
from qqreliable.exceptions import ActionFailed, AuthenticationError, ProtocolError

# -- realistic bodies ----------------------------------------------------------------

NC_SEND_TIMEOUT = (
    "Timeout: NTEvent serviceAndMethod:NodeIKernelMsgService/sendMsg "
    "ListenerName:NodeIKernelMsgListener/onMsgInfoListUpdate "
    'EventRet: {"result": 0, "errMsg": ""}'
)
NC_DOWNLOAD_TIMEOUT = (
    "Timeout: NTEvent serviceAndMethod:NodeIKernelMsgService/downloadRichMedia "
    "ListenerName:NodeIKernelMsgListener/onRichMediaDownloadComplete EventRet:\nundefined\n"
)
NC_RICH_MEDIA = (
    "EventChecker Failed: NTEvent serviceAndMethod:NodeIKernelMsgService/sendMsg "
    "ListenerName:NodeIKernelMsgListener/onMsgInfoListUpdate "
    'EventRet: {"result": -1, "errMsg": "rich media transfer failed"}'
)
NC_OFFLINE = (
    "EventChecker Failed: NTEvent serviceAndMethod:NodeIKernelMsgService/sendMsg "
    "ListenerName:NodeIKernelMsgListener/onMsgInfoListUpdate "
    'EventRet: {"result": 1006514, "errMsg": "网络连接异常!"}'
)
NC_CHECKER = (
    "EventChecker Failed: NTEvent serviceAndMethod:NodeIKernelMsgService/sendMsg "
    "ListenerName:NodeIKernelMsgListener/onMsgInfoListUpdate "
    'EventRet: {"result": 10, "errMsg": ""}'
)


def nc(retcode: int, message: str, data: Any = None) -> Dict[str, Any]:
    """An NC/LLOB failure: `wording` is a copy of `message`."""
    return {"status": "failed", "retcode": retcode, "data": data, "message": message,
            "wording": message, "echo": "c:1"}


def gocq(msg: str, wording: str, *, new: bool = True, retcode: int = 100) -> Dict[str, Any]:
    """A gocq failure; since v1.0 `message` repeats `wording`."""
    body: Dict[str, Any] = {"data": None, "retcode": retcode, "msg": msg, "wording": wording,
                            "status": "failed"}
    if new:
        body["message"] = wording
    return body


def lgr(retcode: int, status: str = "failed") -> Dict[str, Any]:
    """A Lagrange answer: no `message` at all."""
    return {"status": status, "retcode": retcode, "data": None, "echo": "c:1"}


# (id, action, body, via, expected category)
CASES: List[Tuple[str, str, Dict[str, Any], str, str]] = [
    ("success-string-retcode", "get_status",
     {"status": "ok", "retcode": "0", "data": {"online": True}}, "ws", "ok"),
    ("spec-async", "send_msg", {"status": "async", "retcode": 1, "data": None}, "http", "async"),
    ("nc-ws-token", "get_login_info", nc(1403, "token验证失败"), "ws", "auth"),
    ("spec-1401", "get_login_info", nc(1401, ""), "ws", "auth"),
    ("nc-ws-unknown-action", "get_foo", nc(1404, "不支持的Api get_foo"), "ws", "unsupported"),
    ("gocq-unknown-action", "get_foo", gocq("API_NOT_FOUND", "API不存在", new=False, retcode=404),
     "http", "unsupported"),
    ("lgr-unknown-action", "get_foo", lgr(404), "ws", "unsupported"),
    ("llob-http-unknown-action", "get_foo", nc(404, "不支持的api get_foo"), "http", "unsupported"),
    ("nc-http-unknown-action", "get_foo", nc(200, "不支持的Api get_foo"), "http", "unsupported"),
    ("nc-ws-bad-json", "send_group_msg", nc(1400, "json解析失败,请检查数据格式"), "ws",
     "bad_request"),
    ("nc-http-validation", "send_group_msg", nc(400, "group_id: 必须是 number 或 string"), "http",
     "bad_request"),
    ("snowluma-too-large", "send_group_msg", nc(1413, "payload too large"), "http",
     "bad_request"),
    ("nc-ws-offline", "send_group_msg", nc(1200, NC_OFFLINE), "ws", "offline"),
    ("nc-http-offline", "send_private_msg", nc(200, NC_OFFLINE), "http", "offline"),
    ("nc-offline-read", "get_group_info", nc(1200, NC_OFFLINE), "ws", "offline"),
    ("kicked", "send_group_msg",
     nc(1200, "[KickedOffLine] [下线通知] 你的帐号当前登录已失效，请重新登录。"), "ws", "offline"),
    ("gocq-risk-text", "send_group_msg",
     gocq("SEND_MSG_API_ERROR", "群消息发送失败: 账号可能被风控."), "ws", "risk_control"),
    ("gocq-empty", "send_group_msg", gocq("EMPTY_MSG_ERROR", "消息为空"), "http", "bad_request"),
    ("gocq-empty-media", "send_private_msg", gocq("SEND_MSG_API_ERROR", "empty message"), "ws",
     "bad_request"),
    # outbound media the implementation could not use (faults MEDIA-03/04/07)
    ("nc-ws-download-failed", "send_group_msg", nc(1200, "文件下载失败 未知文件类型"), "ws", "bad_request"),
    ("nc-http-url-unrecognised", "send_private_msg",
     nc(200, "文件下载失败识别URL失败, uri= 2cacc6e7fa985710a59a034889a0dfa8.image"), "http", "bad_request"),
    ("nc-cdn-bad-request", "send_group_msg",
     nc(1200, "Error: 文件下载失败https://multimedia.nt.qq.com.cn/download?appid=1407下载失败,"
              "Error: 下载文件失败: Bad Request"), "ws", "bad_request"),
    ("nc-ws-voice-conversion", "send_group_msg", nc(1200, "语音转换失败, 请检查语音文件是否正常"), "ws",
     "bad_request"),
    ("nc-http-voice-conversion", "send_private_msg", nc(200, "语音转换失败, 请检查语音文件是否正常"), "http",
     "bad_request"),
    ("gocq-empty-nodes", "send_group_forward_msg",
     gocq("EMPTY_NODES", "未找到任何可发送的合并转发信息"), "ws", "bad_request"),
    ("gocq-ban-duration", "set_group_ban", gocq("DURATION_IS_NOT_IN_RANGE", "非法的禁言时长"), "ws",
     "bad_request"),
    ("llob-unparseable", "send_group_msg",
     nc(1200, "消息体无法解析，请检查是否发送了不支持的消息类型"), "ws", "bad_request"),
    ("llob-muted", "send_group_msg", nc(200, "当前处于被禁言状态"), "http", "permission"),
    ("nc-temp-chat", "send_private_msg", nc(1200, "不能发送临时消息"), "ws", "permission"),
    ("gocq-blocked", "send_group_msg",
     gocq("SEND_MSG_API_ERROR", "send group message failed: blocked by server"), "ws",
     "risk_control"),
    ("gocq-old-send-error", "send_private_msg",
     gocq("SEND_MSG_API_ERROR", "请参考 go-cqhttp 端输出", new=False), "http", "risk_control"),
    ("gocq-group-not-found", "send_group_msg", gocq("GROUP_NOT_FOUND", "群聊不存在"), "ws",
     "not_found"),
    ("gocq-member-not-found", "set_group_kick", gocq("MEMBER_NOT_FOUND", "人员不存在"), "ws",
     "not_found"),
    ("gocq-msg-not-found-read", "get_msg", gocq("MSG_NOT_FOUND", "消息不存在"), "ws", "not_found"),
    ("nc-msg-not-found", "delete_msg", nc(1200, "消息不存在或已被撤回"), "ws", "not_found"),
    ("nc-msg-not-found-read", "get_msg", nc(200, "消息不存在"), "http", "not_found"),
    ("nc-file-not-found", "get_file", nc(1200, "file not found"), "ws", "not_found"),
    ("gocq-not-manageable", "set_group_kick", gocq("NOT_MANAGEABLE", "机器人权限不足"), "ws",
     "permission"),
    ("gocq-permission-denied", "set_group_whole_ban", gocq("PERMISSION_DENIED", "权限不足"), "ws",
     "permission"),
    ("spec-103", "set_group_admin", {"status": "failed", "retcode": 103, "data": None}, "http",
     "permission"),
    ("spec-102", "get_group_member_list", {"status": "failed", "retcode": 102, "data": None},
     "http", "not_found"),
    ("lgr-muted", "send_group_msg", lgr(120), "ws", "permission"),
    ("lgr-group-not-found", "send_group_msg", lgr(16), "ws", "not_found"),
    ("lgr-no-sequence", "send_group_msg", lgr(9000), "ws", "ambiguous"),
    ("cqhttp-no-reply", "send_private_msg",
     {"status": "failed", "retcode": -2, "data": None}, "http", "ambiguous"),
    ("nc-rich-media-send", "send_group_msg", nc(1200, NC_RICH_MEDIA), "ws", "ambiguous"),
    ("nc-rich-media-read", "get_image", nc(1200, NC_RICH_MEDIA), "ws", "retryable"),
    ("nc-event-checker", "send_group_msg", nc(1200, NC_CHECKER), "ws", "retryable"),
    ("nc-ws-send-timeout", "send_group_msg", nc(1200, NC_SEND_TIMEOUT), "ws", "ambiguous"),
    ("nc-http-send-timeout", "send_msg", nc(200, NC_SEND_TIMEOUT), "http", "ambiguous"),
    ("llob-send-timeout", "send_private_msg", nc(200, "发送超时"), "http", "ambiguous"),
    ("nc-forward-timeout", "send_group_forward_msg",
     nc(200, "发送伪造合并转发消息失败: Error: sendCommand timed out after 20000 ms for "
             "trpc.group.long_msg_interface.MsgService.SsoSendLongMsg"), "http", "ambiguous"),
    ("nc-mutation-timeout", "set_group_kick", nc(1200, "Timeout: NTEvent kickMember"), "ws",
     "ambiguous"),
    ("nc-download-timeout", "get_image", nc(1200, NC_DOWNLOAD_TIMEOUT), "ws", "retryable"),
    ("nc-record-timeout", "get_record", nc(200, NC_DOWNLOAD_TIMEOUT), "http", "retryable"),
    ("spec-201", "send_group_msg", {"status": "failed", "retcode": 201, "data": None}, "http",
     "retryable"),
    ("spec-104", "get_cookies", {"status": "failed", "retcode": 104, "data": None}, "http",
     "retryable"),
    ("lgr-ok-retcode-1", "set_friend_add_request", lgr(1, status="ok"), "ws", "failed"),
    ("lgr-failed-retcode-1", "set_essence_msg", lgr(1), "ws", "failed"),
    ("lgr-read-failure", "get_group_member_info", lgr(-1), "ws", "retryable"),
    ("nc-read-exception", "get_group_info", nc(1200, "获取群信息失败"), "ws", "retryable"),
    ("gocq-read-unknown", "get_stranger_info", gocq("API_ERROR", "获取失败"), "ws", "retryable"),
    # NC/LLOB catch-all on a send: may have gone out, verified (faults SEND-01)
    ("nc-send-failed", "send_group_msg", nc(1200, "发送消息失败"), "ws", "ambiguous"),
    ("nc-http-send-failed", "send_private_msg", nc(200, "Error: x"), "http", "ambiguous"),
    ("nc-1200-over-http-send", "send_msg", nc(1200, "发送消息失败"), "http", "failed"),
    # no rule: the default
    ("nc-mutation-failed", "set_group_card", nc(1200, "设置失败"), "ws", "failed"),
    ("nc-recall-failed", "delete_msg", nc(200, "Recall failed"), "http", "failed"),
    ("gocq-bare-100", "send_like", gocq("", "", new=False), "ws", "failed"),
    ("lgr-send-result", "send_group_msg", lgr(9057), "ws", "failed"),
    ("nc-http-exception", "set_group_card", nc(200, "Error: something broke\n    at x.js:1"),
     "http", "failed"),
    ("400-over-ws-is-not-http-400", "set_group_name", nc(400, "?"), "ws", "failed"),
    ("lgr-120-on-read", "get_group_info", lgr(120), "ws", "retryable"),
]


@pytest.mark.parametrize(
    "action, body, via, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_classify(action: str, body: Dict[str, Any], via: str, expected: str) -> None:
    assert classify(action, body, via=via) == expected


def test_every_rule_is_exercised() -> None:
    matched: Set[int] = set()
    for _, action, body, via, _expected in CASES:
        rule = find_rule(action, body, via=via)
        if rule is not None:
            matched.add(RULES.index(rule))
    missing = [(i, RULES[i]) for i in range(len(RULES)) if i not in matched]
    assert not missing, f"rules without a test case: {missing}"


def test_default_matches_no_rule() -> None:
    assert find_rule("set_group_card", nc(1200, "设置失败"), via="ws") is None


def test_rules_table_is_well_formed() -> None:
    assert isinstance(RULES, tuple) and RULES
    for rule in RULES:
        assert isinstance(rule, Rule)
        assert rule.category in Category.ALL
        assert rule.via in (None, "ws", "http")
        assert rule.source, f"row without a source: {rule}"
        assert rule.retcodes is not None or rule.pattern is not None or rule.read_only
    # every category but the default is reachable from the table
    assert {r.category for r in RULES} == set(Category.ALL)
    with pytest.raises(AttributeError):
        RULES[0].category = "x"  # type: ignore[misc]  # frozen


def test_category_values_are_plain_strings() -> None:
    assert Category.AMBIGUOUS == "ambiguous" and type(Category.AMBIGUOUS) is str
    assert len(set(Category.ALL)) == 12
    assert set(Category.ALL) == {
        "ok", "async", "auth", "unsupported", "bad_request", "not_found", "permission",
        "ambiguous", "retryable", "risk_control", "offline", "failed",
    }


def test_text_is_searched_in_message_wording_and_msg() -> None:
    # old gocq has no `message`; the code is only in `msg`
    body = gocq("GROUP_NOT_FOUND", "", new=False)
    assert classify("send_group_msg", body, via="ws") == "not_found"
    # only `wording`
    body = {"status": "failed", "retcode": 1200, "wording": NC_SEND_TIMEOUT}
    assert classify("send_group_msg", body, via="ws") == "ambiguous"
    # non-string text does not break the classifier
    body = {"status": "failed", "retcode": 1200, "message": None, "wording": 5, "msg": ["x"]}
    assert classify("set_group_card", body, via="ws") == "failed"


def test_classify_rejects_unknown_transport() -> None:
    with pytest.raises(ValueError):
        classify("get_status", {"retcode": 1}, via="grpc")
    with pytest.raises(ValueError):
        decode_response("get_status", {"retcode": 0}, via="")


def test_classify_without_retcode_is_failed() -> None:
    assert classify("get_status", {"status": "ok"}, via="ws") == "failed"


# -- decode_response -------------------------------------------------------------------


@pytest.mark.parametrize("retcode", [0, "0", " 0 ", 0.0])
def test_decode_success(retcode: Any) -> None:
    body = {"status": "ok", "retcode": retcode, "data": {"message_id": 7}, "message": ""}
    assert decode_response("send_msg", body, via="ws") == {"message_id": 7}


def test_decode_success_is_retcode_not_status() -> None:
    assert decode_response("get_status", {"status": "failed", "retcode": 0, "data": 1},
                           via="http") == 1
    assert decode_response("clean_cache", {"status": "ok", "retcode": 0}, via="ws") is None


def test_decode_lagrange_ok_with_retcode_1_is_a_failure() -> None:
    body = lgr(1, status="ok")
    with pytest.raises(ActionFailed) as info:
        decode_response("set_group_add_request", body, via="ws")
    error = info.value
    assert error.retcode == 1 and error.category == "failed"
    assert error.action == "set_group_add_request"
    assert error.message == "" and error.wording == ""
    assert error.response == body


def test_decode_async_is_not_success() -> None:
    with pytest.raises(ActionFailed) as info:
        decode_response("send_msg", {"status": "async", "retcode": "1", "data": None}, via="http")
    assert info.value.category == "async" and info.value.retcode == 1


@pytest.mark.parametrize(
    "body",
    [
        {"status": "ok", "data": None},
        {"status": "ok", "retcode": None},
        {"status": "ok", "retcode": "ok"},
        {"status": "ok", "retcode": True},
        {"status": "ok", "retcode": 0.5},
        {"status": "ok", "retcode": [0]},
    ],
    ids=["missing", "null", "text", "bool", "fraction", "list"],
)
def test_decode_without_usable_retcode(body: Dict[str, Any]) -> None:
    with pytest.raises(ProtocolError):
        decode_response("get_status", body, via="ws")


@pytest.mark.parametrize("body", [None, [], "ok", 0, b"{}"])
def test_decode_non_object(body: Any) -> None:
    with pytest.raises(ProtocolError):
        decode_response("get_status", body, via="http")


@pytest.mark.parametrize("retcode", [1401, 1403, "1403"])
def test_decode_auth(retcode: Any) -> None:
    body = {"status": "failed", "retcode": retcode, "data": None, "message": "token验证失败"}
    with pytest.raises(AuthenticationError) as info:
        decode_response("get_login_info", body, via="ws")
    assert "token验证失败" in str(info.value)
    assert not isinstance(info.value, ActionFailed)


def test_decode_action_failed_fields_new_gocq() -> None:
    body = gocq("SEND_MSG_API_ERROR", "send group message failed: blocked by server")
    with pytest.raises(ActionFailed) as info:
        decode_response("send_group_msg", body, via="ws")
    error = info.value
    assert error.retcode == 100 and error.category == "risk_control"
    assert error.message == "send group message failed: blocked by server"
    assert error.wording == "send group message failed: blocked by server"
    assert error.response["msg"] == "SEND_MSG_API_ERROR"


def test_decode_action_failed_fields_old_gocq_uses_msg() -> None:
    body = gocq("SEND_MSG_API_ERROR", "请参考 go-cqhttp 端输出", new=False)
    with pytest.raises(ActionFailed) as info:
        decode_response("send_group_msg", body, via="http")
    assert info.value.message == "SEND_MSG_API_ERROR"
    assert info.value.wording == "请参考 go-cqhttp 端输出"


def test_decode_nc_timeout_is_ambiguous_and_pickles() -> None:
    body = nc(1200, NC_SEND_TIMEOUT)
    with pytest.raises(ActionFailed) as info:
        decode_response("send_group_msg", body, via="ws")
    error = info.value
    assert error.category == "ambiguous" and error.retcode == 1200
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.category, clone.retcode, clone.message) == ("ambiguous", 1200, NC_SEND_TIMEOUT)


def test_decode_numeric_string_retcode_failure() -> None:
    with pytest.raises(ActionFailed) as info:
        decode_response("get_foo", {"status": "failed", "retcode": "1404"}, via="ws")
    assert info.value.retcode == 1404 and info.value.category == "unsupported"


# -- http_status_body ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, retcode, category",
    [(404, 1404, "unsupported"), (405, 1404, "unsupported"), (400, 1400, "bad_request"),
     (406, 1400, "bad_request"), (413, 1413, "bad_request")],
)
def test_http_status_body(status: int, retcode: int, category: str) -> None:
    body = http_status_body(status, "<html>nope</html>")
    assert body["retcode"] == retcode and body["status"] == "failed"
    assert body["http_status"] == status and body["wording"] == "<html>nope</html>"
    assert body["data"] is None
    with pytest.raises(ActionFailed) as info:
        decode_response("send_group_msg", body, via="http")
    assert info.value.category == category and info.value.retcode == retcode


def test_http_status_body_404_message() -> None:
    assert http_status_body(404, "")["message"] == "action not found"


def test_http_status_body_other_status() -> None:
    body = http_status_body(418, "teapot")
    assert body["retcode"] == 1418 and body["http_status"] == 418
    assert classify("send_group_msg", body, via="http") == "failed"
    assert classify("get_status", body, via="http") == "retryable"


# -- tables -------------------------------------------------------------------------------

SPEC_ACTIONS = {
    # onebot11.md section 3.2
    "send_private_msg", "send_group_msg", "send_msg", "delete_msg", "get_msg", "get_forward_msg",
    "send_like",
    "set_group_kick", "set_group_ban", "set_group_anonymous_ban", "set_group_whole_ban",
    "set_group_admin", "set_group_anonymous", "set_group_card", "set_group_name",
    "set_group_leave", "set_group_special_title",
    "set_friend_add_request", "set_group_add_request",
    "get_login_info", "get_stranger_info", "get_friend_list", "get_group_info", "get_group_list",
    "get_group_member_info", "get_group_member_list", "get_group_honor_info",
    "get_cookies", "get_csrf_token", "get_credentials",
    "get_record", "get_image", "can_send_image", "can_send_record",
    "get_status", "get_version_info", "set_restart", "clean_cache",
}
EXTENSIONS = {
    "get_group_msg_history", "get_friend_msg_history", "send_group_forward_msg",
    "send_private_forward_msg", "send_forward_msg", "get_file",
}


def test_spec_action_count() -> None:
    assert len(SPEC_ACTIONS) == 38


@pytest.mark.parametrize("name", sorted(SPEC_ACTIONS | EXTENSIONS))
def test_every_action_is_a_method(name: str) -> None:
    assert name in ACTIONS
    method = getattr(ApiMixin, name)
    assert callable(method) and method.__doc__ and method.__doc__.strip()


def test_actions_table_matches_methods() -> None:
    for name, params in ACTIONS.items():
        signature = inspect.signature(getattr(ApiMixin, name))
        names = [p for p in signature.parameters if p != "self"]
        assert names[-1] == "kwargs", name
        assert tuple(names[:-1]) == params, name


def test_real_parameter_names() -> None:
    assert ACTIONS["get_record"] == ("file", "out_format")
    assert ACTIONS["get_image"] == ("file",)
    assert ACTIONS["get_file"] == ("file", "file_id")
    assert ACTIONS["get_forward_msg"][0] == "id"
    assert ACTIONS["get_group_msg_history"] == ("group_id", "message_seq", "count")
    assert ACTIONS["get_friend_msg_history"] == ("user_id", "message_seq", "count")
    assert ACTIONS["set_group_add_request"][:2] == ("flag", "sub_type")
    assert ACTIONS["get_group_honor_info"] == ("group_id", "type")
    assert ACTIONS["send_group_forward_msg"] == ("group_id", "messages")
    assert ACTIONS["send_private_forward_msg"] == ("user_id", "messages")


def test_read_only_table() -> None:
    assert not READ_ONLY & SEND_ACTIONS
    for name in ACTIONS:
        if name.startswith(("get_", "can_")):
            assert name in READ_ONLY, name
    for name in ("get_group_msg_history", "get_friend_msg_history", "get_image", "get_record",
                 "get_file", "get_forward_msg", "get_version_info", "get_status", "get_msg"):
        assert name in READ_ONLY
    # effects, or events consumed
    for name in ("get_updates", "download_file", "delete_msg", "set_restart", "clean_cache",
                 "mark_msg_as_read", "set_group_ban", "upload_group_file"):
        assert name not in READ_ONLY
    assert isinstance(READ_ONLY, frozenset) and isinstance(SEND_ACTIONS, frozenset)


def test_send_table() -> None:
    assert SEND_ACTIONS == {
        "send_msg", "send_private_msg", "send_group_msg", "send_group_forward_msg",
        "send_private_forward_msg", "send_forward_msg",
    }
    for name in READ_ONLY | SEND_ACTIONS:
        assert not name.endswith(("_async", "_rate_limited")), name


def test_sends_are_annotated_receipt() -> None:
    for name in ACTIONS:
        annotation = getattr(ApiMixin, name).__annotations__["return"]
        assert annotation == ("Receipt" if name in SEND_ACTIONS else "Any"), name
    assert SEND_ACTIONS <= set(ACTIONS)


def test_message_parameters_are_message_like() -> None:
    for name in ("send_msg", "send_group_msg", "send_private_msg"):
        assert getattr(ApiMixin, name).__annotations__["message"] == "MessageLike"
    for name in ("send_group_forward_msg", "send_private_forward_msg", "send_forward_msg"):
        assert getattr(ApiMixin, name).__annotations__["messages"] == "MessageLike"


# -- ApiMixin -----------------------------------------------------------------------------


class Recorder(ApiMixin):
    def __init__(self) -> None:
        self.calls: List[Tuple[str, Dict[str, Any]]] = []

    def call_action(self, action: str, /, **params: Any) -> Any:
        self.calls.append((action, params))
        return {"action": action}


def _required(name: str) -> List[str]:
    signature = inspect.signature(getattr(ApiMixin, name))
    return [
        p.name for p in signature.parameters.values()
        if p.name != "self" and p.default is inspect.Parameter.empty
        and p.kind is not inspect.Parameter.VAR_KEYWORD
    ]


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_each_method_calls_its_action(name: str) -> None:
    bot = Recorder()
    required = _required(name)
    args = {p: f"<{p}>" for p in required}
    result = getattr(bot, name)(**args)
    assert bot.calls == [(name, args)]  # optional parameters left at None are not sent
    assert result == {"action": name}


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_each_method_sends_every_named_parameter(name: str) -> None:
    bot = Recorder()
    args = {p: f"<{p}>" for p in ACTIONS[name]}
    getattr(bot, name)(**args)
    assert bot.calls == [(name, args)]


def test_optional_none_omitted_false_kept() -> None:
    bot = Recorder()
    bot.send_group_msg(1, "hi")
    bot.send_group_msg(1, "hi", auto_escape=False)
    bot.set_group_ban(1, 2, duration=0)
    bot.get_group_msg_history(5, count=10)
    assert bot.calls == [
        ("send_group_msg", {"group_id": 1, "message": "hi"}),
        ("send_group_msg", {"group_id": 1, "message": "hi", "auto_escape": False}),
        ("set_group_ban", {"group_id": 1, "user_id": 2, "duration": 0}),
        ("get_group_msg_history", {"group_id": 5, "count": 10}),
    ]


def test_kwargs_pass_through() -> None:
    bot = Recorder()
    bot.send_private_msg(2, "hi", group_id=3, self_id=10, timeout=30000)
    bot.get_login_info(self_id=10, api_timeout=2.0)
    bot.get_image("abc.image", file_id="fid")
    assert bot.calls == [
        ("send_private_msg",
         {"user_id": 2, "message": "hi", "group_id": 3, "self_id": 10, "timeout": 30000}),
        ("get_login_info", {"self_id": 10, "api_timeout": 2.0}),
        ("get_image", {"file": "abc.image", "file_id": "fid"}),
    ]


def test_positional_use() -> None:
    bot = Recorder()
    bot.set_group_ban(1, 2, 60)
    bot.set_group_special_title(1, 2, "boss", -1)
    bot.set_group_add_request("flag-1", "invite", False, "no")
    bot.get_record("a.amr", "mp3")
    bot.send_msg("hi", "group", None, 5)
    bot.get_friend_msg_history(7, 100, 20)
    assert bot.calls == [
        ("set_group_ban", {"group_id": 1, "user_id": 2, "duration": 60}),
        ("set_group_special_title",
         {"group_id": 1, "user_id": 2, "special_title": "boss", "duration": -1}),
        ("set_group_add_request",
         {"flag": "flag-1", "sub_type": "invite", "approve": False, "reason": "no"}),
        ("get_record", {"file": "a.amr", "out_format": "mp3"}),
        ("send_msg", {"message_type": "group", "group_id": 5, "message": "hi"}),
        ("get_friend_msg_history", {"user_id": 7, "message_seq": 100, "count": 20}),
    ]


def test_message_objects_pass_untouched() -> None:
    bot = Recorder()
    segments = [{"type": "text", "data": {"text": "hi"}}]
    bot.send_group_forward_msg(1, segments)
    assert bot.calls[0][1]["messages"] is segments


def test_mixin_needs_call_action() -> None:
    with pytest.raises(NotImplementedError, match="ApiMixin needs a call_action"):
        ApiMixin().get_status()


# -- Receipt ------------------------------------------------------------------------------


def test_receipt_is_a_dict() -> None:
    receipt = Receipt({"message_id": 42, "forward_id": "f"}, attempts=2, verified=True)
    assert isinstance(receipt, dict)
    assert receipt["message_id"] == 42 and receipt.get("forward_id") == "f"
    assert receipt == {"message_id": 42, "forward_id": "f"}
    assert receipt.message_id == 42 and receipt.attempts == 2 and receipt.verified is True


def test_receipt_defaults() -> None:
    receipt = Receipt({"message_id": 1})
    assert receipt.attempts == 1 and receipt.verified is False
    empty = Receipt(None)
    assert empty == {} and empty.message_id is None
    assert Receipt() == {}


@pytest.mark.parametrize(
    "value, expected",
    [(7, 7), (-2147483648, -2147483648), ("123", 123), ("-5", -5), (" 9 ", 9),
     ("abc", None), ("", None), (None, None), (True, None), (1.5, None)],
)
def test_receipt_message_id_coercion(value: Any, expected: Optional[int]) -> None:
    assert Receipt({"message_id": value}).message_id == expected


def test_receipt_does_not_copy_by_reference() -> None:
    data = {"message_id": 1}
    receipt = Receipt(data)
    data["message_id"] = 2
    assert receipt.message_id == 1


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_receipt_pickle_round_trip(protocol: int) -> None:
    receipt = Receipt({"message_id": "12", "res_id": "r"}, attempts=3, verified=True)
    clone = pickle.loads(pickle.dumps(receipt, protocol=protocol))
    assert type(clone) is Receipt
    assert clone == receipt and clone.message_id == 12
    assert clone.attempts == 3 and clone.verified is True


def test_receipt_copy() -> None:
    receipt = Receipt({"message_id": 5}, attempts=2)
    for clone in (copy.copy(receipt), copy.deepcopy(receipt)):
        assert type(clone) is Receipt and clone == receipt and clone.attempts == 2


def test_receipt_repr() -> None:
    text = repr(Receipt({"message_id": 5}, attempts=2, verified=True))
    assert text == "Receipt({'message_id': 5}, attempts=2, verified=True)"


# -- the module ---------------------------------------------------------------------------


def test_all_is_complete() -> None:
    for name in actions.__all__:
        assert hasattr(actions, name), name
    public = {n for n in vars(actions) if not n.startswith("_")}
    assert {"READ_ONLY", "SEND_ACTIONS", "ACTIONS", "RULES", "Category", "classify",
            "decode_response", "http_status_body", "Receipt", "ApiMixin"} <= set(actions.__all__)
    assert set(actions.__all__) <= public


def test_module_is_pure() -> None:
    tree = ast.parse(Path(actions.__file__).read_text(encoding="utf-8"))
    imported: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert imported <= {"__future__", "collections.abc", "inspect", "re", "dataclasses", "typing", "..exceptions",
                        "..message", "..outcome", "..receipt"}
    source = Path(actions.__file__).read_text(encoding="utf-8")
    assert "print(" not in source


def test_any_mapping_is_a_body() -> None:
    # any Mapping is accepted as a body, not only dict
    class Frozen(Mapping[str, Any]):
        def __init__(self, data: Dict[str, Any]) -> None:
            self._data = data

        def __getitem__(self, key: str) -> Any:
            return self._data[key]

        def __iter__(self) -> Any:
            return iter(self._data)

        def __len__(self) -> int:
            return len(self._data)

    assert decode_response("get_status", Frozen({"retcode": 0, "data": 3}), via="ws") == 3
