"""codes.classify: the one table of what every answer means."""

from __future__ import annotations

import pickle

import pytest

from qqreliable import ActionFailed
from qqreliable.official.codes import (
    Kind, MarkdownRefused, MediaUploadFailed, OfficialApiError, ProactiveRefused, ReplyBudgetSpent,
    ReplyWindowClosed, classify, error_for,
)


@pytest.mark.parametrize(
    "status, body, kind",
    [
        (200, {"id": "ROBOT1.0_x", "timestamp": 1}, Kind.OK),
        (204, None, Kind.OK),
        (202, {"code": 304024, "message": "push message is waiting for audit"}, Kind.AUDIT),
        (500, {"code": 40054005, "message": "消息被去重，请检查请求msgseq"}, Kind.DUPLICATE),
        (400, {"code": 40054005, "message": "消息被去重"}, Kind.DUPLICATE),
        (401, {"code": 11244, "message": "token not exist or expire"}, Kind.TOKEN),
        (401, None, Kind.TOKEN),
        (401, {"code": 11245, "message": "固定Token已禁用"}, Kind.AUTH),
        (200, {"code": 100016, "message": "invalid appid or secret"}, Kind.AUTH),
        (200, {"code": 100001, "message": "Too many requests"}, Kind.RATE_LIMITED),
        (429, {}, Kind.RETRY),
        (502, None, Kind.RETRY),
        (503, {"message": "busy"}, Kind.RETRY),
        (500, {"message": "internal"}, Kind.UNKNOWN),
        (504, None, Kind.UNKNOWN),
        (500, {"code": 22009, "message": "msg limit exceed"}, Kind.BUDGET),
        (400, {"code": 40034024, "message": "请求参数msg_id无效或越权"}, Kind.WINDOW),
        (400, {"code": 123, "message": "回复消息msg_id已过期"}, Kind.WINDOW),
        (400, {"code": 40034102, "message": "主动消息失败, 无权限"}, Kind.PROACTIVE_REFUSED),
        (400, {"code": 40034105, "message": "主动消息失败, 无权限"}, Kind.PROACTIVE_REFUSED),
        (400, {"code": 40034012, "message": "不允许发送原生 markdown"}, Kind.MARKDOWN_REFUSED),
        (400, {"code": 304041, "message": "reply message not allow markdown"}, Kind.MARKDOWN_REFUSED),
        (400, {"code": 1, "message": "流式消息md分片需要\n结束"}, Kind.STREAM_NEWLINE),
        (400, {"code": 304082, "message": "upload media info fail"}, Kind.MEDIA_RETRY),
        (400, {"code": 304083, "message": "convert media info fail"}, Kind.MEDIA_RETRY),
        (400, {"code": 304020, "message": "file too large"}, Kind.MEDIA_FATAL),
        (400, {"code": 304021, "message": "download failed"}, Kind.MEDIA_FATAL),
        (400, {"code": 40054007, "message": "消息长度超限"}, Kind.TOO_LONG),
        (400, {"code": 50006, "message": "empty message"}, Kind.FAILED),
        (404, "not json", Kind.FAILED),
        (400, {"code": 0, "err_code": 22009, "message": "x"}, Kind.BUDGET),
    ],
)
def test_classify(status, body, kind) -> None:
    assert classify(status, body).kind is kind


def test_answer_keeps_every_field() -> None:
    answer = classify(
        500, {"code": 22009, "err_code": 40012002, "message": "limit", "trace_id": "body-trace"},
        {"X-Tps-trace-ID": "hdr-trace", "Retry-After": "3"},
    )
    assert (answer.status, answer.code, answer.err_code, answer.message) == (500, 22009, 40012002, "limit")
    assert answer.trace_id == "hdr-trace" and answer.retry_after == 3.0


def test_retry_after_only_delta_seconds() -> None:
    assert classify(429, {}, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}).retry_after is None
    assert classify(429, {}, {"Retry-After": "2.5"}).retry_after == 2.5


def test_message_id_read_flat_or_nested() -> None:
    assert classify(200, {"id": "a"}).message_id == "a"
    assert classify(200, {"data": {"id": "b"}}).message_id == "b"
    assert classify(200, None).message_id is None


@pytest.mark.parametrize(
    "body, cls",
    [
        ({"code": 40034024}, ReplyWindowClosed),
        ({"code": 22009}, ReplyBudgetSpent),
        ({"code": 40034102}, ProactiveRefused),
        ({"code": 304041}, MarkdownRefused),
        ({"code": 304020}, MediaUploadFailed),
        ({"code": 50006}, OfficialApiError),
    ],
)
def test_typed_errors(body, cls) -> None:
    error = error_for(classify(400, dict(body, message="m"), {"X-Tps-trace-ID": "t1"}), "POST /v2/users/u/messages")
    assert type(error) is cls
    assert isinstance(error, ActionFailed)
    assert error.retcode == body["code"] and error.http_status == 400 and error.trace_id == "t1"
    assert "t1" in str(error)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is cls and again.code == error.code and again.kind is error.kind
