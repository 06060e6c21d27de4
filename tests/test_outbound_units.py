"""Pure tests of outbound media preparation (qqreliable.reliability.outbound) and of the
classification of the implementation's media failures. No sockets: the preparer's
fetcher is never reached here (URLs are covered in tests/test_outbound.py)."""

from __future__ import annotations

import base64
import copy
import hashlib
import pickle
from pathlib import Path
from typing import Any, Dict, List

import pytest

from qqreliable import ActionFailed, MediaRejected, MediaTooLarge, MediaUnavailable, Message, MessageSegment
from qqreliable.onebot.actions import SEND_OUTCOMES, Outcome, decode_response, find_rule, send_outcome
from qqreliable.onebot.media import OneBotMedia
from qqreliable.reliability.media import MediaConfig, MediaFetcher
from qqreliable.reliability.outbound import MediaPreparer, OutboundMedia, classify_file
from qqreliable.testing.media import sample_png
from qqreliable.testing.outbound import RICH_MEDIA_FAILED_MESSAGE, VOICE_CONVERSION_MESSAGE


def _no_call(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("no action may be called while preparing local media")


def _no_submit(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("no download may start while preparing local media")


def preparer(media: Any = None, **options: Any) -> MediaPreparer:
    return MediaPreparer(OutboundMedia(**options), api=OneBotMedia(_no_call), submit=_no_submit, media=media)


@pytest.fixture
def png_file(tmp_path: Path) -> Path:
    path = tmp_path / "pic.png"
    path.write_bytes(sample_png(3000, seed=7))
    return path


def b64(data: bytes) -> str:
    return "base64://" + base64.b64encode(data).decode("ascii")


def image(file: Any, **extra: Any) -> Dict[str, Any]:
    return {"type": "image", "data": {"file": file, **extra}}


# --------------------------------------------------------------------------- forms


def test_classify_file_tells_every_form_apart(png_file: Path) -> None:
    assert classify_file("base64://QUJD") == "base64"
    assert classify_file("data:image/png;base64,QUJD") == "data"
    assert classify_file("https://multimedia.nt.qq.com.cn/download?rkey=x") == "url"
    assert classify_file("HTTP://example.org/a.png") == "url"
    assert classify_file(png_file.as_uri()) == "file"
    assert classify_file(str(png_file)) == "path"
    assert classify_file("/nowhere/at/all.png") == "path"  # absolute: meant as a path
    assert classify_file("6B4DE2F5.image") == "id"
    assert classify_file(b"\x89PNG") == "bytes"
    assert classify_file(None) == "id"


# --------------------------------------------------------------------------- local files (MEDIA-04)


def test_local_path_and_file_uri_are_inlined_and_url_dropped(png_file: Path) -> None:
    raw = png_file.read_bytes()
    prep = preparer()
    for value in (str(png_file), png_file.as_uri()):
        message = [{"type": "text", "data": {"text": "look "}}, image(value, url="http://stale.example/x")]
        params = {"group_id": 1, "message": message}
        before = copy.deepcopy(params)
        out = prep.prepare("send_group_msg", params)
        assert params == before  # the caller's segments are never modified
        assert out is not params
        assert out["message"][0] is message[0]
        assert out["message"][1] == {"type": "image", "data": {"file": b64(raw)}}
    assert prep.stats()["inlined_files"] == 2 and prep.stats()["bytes_inlined"] == 2 * len(raw)


def test_file_segment_gets_its_name(tmp_path: Path) -> None:
    doc = tmp_path / "report.pdf"
    doc.write_bytes(b"%PDF-1.4 hello")
    out = preparer().prepare(
        "send_private_msg", {"user_id": 2, "message": [{"type": "file", "data": {"file": str(doc)}}]}
    )
    assert out["message"][0]["data"] == {"file": b64(b"%PDF-1.4 hello"), "name": "report.pdf"}


def test_message_segment_path_and_cq_string_are_inlined(png_file: Path) -> None:
    raw = png_file.read_bytes()
    prep = preparer()
    wire = Message([MessageSegment.text("hi"), MessageSegment.image(png_file)]).to_list()
    out = prep.prepare("send_group_msg", {"group_id": 1, "message": wire})
    assert out["message"][1]["data"]["file"] == b64(raw)
    cq = f"hi [CQ:image,file={png_file.as_uri()}]"
    out = prep.prepare("send_group_msg", {"group_id": 1, "message": cq})
    assert out["message"] == [{"type": "text", "data": {"text": "hi "}}, {"type": "image", "data": {"file": b64(raw)}}]


def test_messages_without_media_are_returned_untouched() -> None:
    prep = preparer()
    for params in (
        {"group_id": 1, "message": "plain [CQ:face,id=1]"},
        {"group_id": 1, "message": [{"type": "text", "data": {"text": "x"}}]},
        {"group_id": 1, "message": "[CQ:image,file=file:///x.png]", "auto_escape": True},  # literal text
        {"user_id": 1},
    ):
        assert prep.prepare("send_msg", params) is params


def test_shared_files_passes_paths_as_absolute_file_uris(png_file: Path, monkeypatch: Any) -> None:
    prep = preparer(shared_files=True)
    uri = png_file.as_uri()
    params = {"group_id": 1, "message": [image(uri)]}
    assert prep.prepare("send_group_msg", params) is params
    monkeypatch.chdir(png_file.parent)
    out = prep.prepare("send_group_msg", {"group_id": 1, "message": [image("pic.png")]})
    assert out["message"][0]["data"]["file"] == png_file.resolve().as_uri()


def test_missing_local_file_is_refused_before_sending(tmp_path: Path) -> None:
    missing = tmp_path / "gone.png"
    for value in (str(missing), missing.as_uri()):
        with pytest.raises(MediaUnavailable) as info:
            preparer().prepare("send_group_msg", {"group_id": 1, "message": [image(value)]})
        assert not isinstance(info.value, MediaTooLarge)
        assert "shared_files=True" in str(info.value) and "nothing was sent" in str(info.value)


def test_empty_local_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(MediaUnavailable, match="empty"):
        preparer().prepare("send_group_msg", {"group_id": 1, "message": [image(str(empty))]})


# --------------------------------------------------------------------------- inline forms


def test_base64_passes_through_and_data_uri_and_bytes_become_base64() -> None:
    prep = preparer()
    params = {"group_id": 1, "message": [image(b64(b"abc"))]}
    assert prep.prepare("send_group_msg", params) is params
    out = prep.prepare("send_group_msg", {"group_id": 1, "message": [image("data:image/png;base64,QUJD")]})
    assert out["message"][0]["data"]["file"] == "base64://QUJD"
    out = prep.prepare("send_group_msg", {"group_id": 1, "message": [image(b"abc")]})
    assert out["message"][0]["data"]["file"] == b64(b"abc")


def test_file_id_without_url_is_left_to_the_implementation() -> None:
    params = {"group_id": 1, "message": [image("6B4DE2F5.image")]}
    assert preparer().prepare("send_group_msg", params) is params


def test_file_id_cached_by_fetch_image_is_reused(tmp_path: Path) -> None:
    fetcher = MediaFetcher(OneBotMedia(_no_call), _no_submit, MediaConfig(cache_dir=str(tmp_path / "cache")))
    raw = sample_png(2500, seed=3)
    cache = fetcher.cache
    assert cache is not None
    fh, temp = cache.new_temp()
    with fh:
        fh.write(raw)
    cache.put("image:6B4DE2F5.image", temp, hashlib.sha256(raw).hexdigest(), len(raw), "image/png")
    prep = preparer(media=fetcher)
    out = prep.prepare("send_group_msg", {"group_id": 1, "message": [image("6B4DE2F5.image")]})
    assert out["message"][0]["data"]["file"] == b64(raw)
    assert prep.stats()["from_cache"] == 1
    off = preparer(media=fetcher, reuse_cache=False)
    params = {"group_id": 1, "message": [image("6B4DE2F5.image")]}
    assert off.prepare("send_group_msg", params) is params


def test_forward_nodes_are_prepared(png_file: Path) -> None:
    raw = png_file.read_bytes()
    nodes = [
        {"type": "node", "data": {"name": "a", "uin": "1", "content": [image(str(png_file))]}},
        {"type": "node", "data": {"name": "b", "uin": "2", "content": f"x[CQ:image,file={png_file.as_uri()}]"}},
        {"type": "node", "data": {"id": "123"}},
    ]
    out = preparer().prepare("send_group_forward_msg", {"group_id": 1, "messages": nodes})
    assert out["messages"][0]["data"]["content"][0]["data"]["file"] == b64(raw)
    assert out["messages"][1]["data"]["content"][1]["data"]["file"] == b64(raw)
    assert out["messages"][2] is nodes[2]
    assert nodes[0]["data"]["content"][0]["data"]["file"] == str(png_file)


def test_urls_are_left_alone_when_fetching_is_off() -> None:
    params = {"group_id": 1, "message": [image("https://example.org/a.png")]}
    assert preparer(fetch_urls=False).prepare("send_group_msg", params) is params


# --------------------------------------------------------------------------- size (MEDIA-05)


def test_request_over_the_limit_is_refused_with_sizes(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(sample_png(6000))
    prep = preparer(max_request_bytes=4096)
    with pytest.raises(MediaTooLarge) as info:
        prep.prepare("send_group_msg", {"group_id": 1, "message": [image(str(big))]})
    assert info.value.limit == 4096 and info.value.size == 8000  # 6000 bytes as base64
    assert isinstance(info.value, MediaUnavailable)
    assert "nothing was sent" in str(info.value)
    with pytest.raises(MediaTooLarge):
        prep.prepare("send_group_msg", {"group_id": 1, "message": [image(b64(b"x" * 4000))]})
    # two media that fit one by one but not together
    small = tmp_path / "small.png"
    small.write_bytes(sample_png(2000))
    with pytest.raises(MediaTooLarge):
        prep.prepare("send_group_msg", {"group_id": 1, "message": [image(str(small)), image(str(small))]})
    assert prep.stats()["refused_too_large"] == 3
    assert preparer(max_request_bytes=8192).prepare("send_group_msg", {"group_id": 1, "message": [image(str(big))]})


def test_options_are_validated() -> None:
    with pytest.raises(ValueError):
        OutboundMedia(max_request_bytes=10)
    with pytest.raises(ValueError):
        OutboundMedia(fetch_timeout=0)
    assert OutboundMedia().max_request_bytes == 8 * 1024 * 1024
    assert OutboundMedia(max_request_bytes=4000).max_file_bytes == 3000


# --------------------------------------------------------------------------- classification (MEDIA-03/04/06/07)


def nc(retcode: int, message: str) -> Dict[str, Any]:
    return {"status": "failed", "retcode": retcode, "data": None, "message": message, "wording": message}


def gocq(msg: str, wording: str) -> Dict[str, Any]:
    return {"status": "failed", "retcode": 100, "data": None, "msg": msg, "wording": wording, "message": wording}


MEDIA_FAILURES: List[Any] = [
    ("send_group_msg", nc(1200, "文件下载失败 未知文件类型"), "ws", "could not read or download"),
    ("send_group_msg", nc(200, "文件下载失败识别URL失败, uri= /data/1128565.pdf"), "http",
     "could not read or download"),
    ("send_private_msg", nc(1200, "Error: 文件下载失败https://multimedia.nt.qq.com.cn/download?rkey=x下载失败,"
                                  "Error: 下载文件失败: Bad Request"), "ws", "could not read or download"),
    ("send_group_msg", gocq("EMPTY_MSG_ERROR", "消息为空"), "ws", "go-cqhttp dropped"),
    ("send_private_msg", gocq("SEND_MSG_API_ERROR", "empty message"), "http", "go-cqhttp dropped"),
    ("send_group_msg", nc(1200, "图片上传失败: image type error: text/html; charset=utf-8"), "ws", "could not read"),
    ("send_group_msg", nc(1200, VOICE_CONVERSION_MESSAGE), "ws", "could not convert the voice"),
    ("send_msg", nc(200, VOICE_CONVERSION_MESSAGE), "http", "could not convert the voice"),
]


@pytest.mark.parametrize("action,body,via,hint", MEDIA_FAILURES)
def test_media_failures_are_not_sent_and_explained(action: str, body: Dict[str, Any], via: str, hint: str) -> None:
    with pytest.raises(MediaRejected) as info:
        decode_response(action, body, via=via)
    error = info.value
    assert isinstance(error, ActionFailed) and isinstance(error, MediaUnavailable)
    assert error.category == "bad_request" and send_outcome(error) == Outcome.NOT_SENT
    assert error.retcode == body["retcode"] and error.message == body["message"]  # raw text kept
    assert hint in str(error) and hint in error.hint
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is MediaRejected and str(clone) == str(error)


def test_rich_media_transfer_failed_is_unknown_and_download_failures_of_reads_stay_retryable() -> None:
    for via, retcode in (("ws", 1200), ("http", 200)):
        with pytest.raises(ActionFailed) as info:
            decode_response("send_group_msg", nc(retcode, RICH_MEDIA_FAILED_MESSAGE), via=via)
        assert not isinstance(info.value, MediaRejected)
        assert info.value.category == "ambiguous" and send_outcome(info.value) == Outcome.UNKNOWN
    # get_image failing to download is a read: retried by the fetcher, not a MediaRejected
    with pytest.raises(ActionFailed) as info:
        decode_response("get_image", nc(1200, "文件下载失败 未知文件类型"), via="ws")
    assert not isinstance(info.value, MediaRejected) and info.value.category == "retryable"
    assert SEND_OUTCOMES["bad_request"] == Outcome.NOT_SENT


def test_other_failures_are_plain_action_failed() -> None:
    with pytest.raises(ActionFailed) as info:
        decode_response("send_group_forward_msg", gocq("EMPTY_NODES", "未找到任何可发送的合并转发信息"), via="ws")
    assert type(info.value) is ActionFailed and info.value.category == "bad_request"
    rule = find_rule("send_group_msg", nc(1200, VOICE_CONVERSION_MESSAGE), via="ws")
    assert rule is not None and rule.media_hint


def test_only_a_dead_connection_stops_a_large_send_from_being_resent() -> None:
    from qqreliable import ApiTimeout, ResponseLost
    from qqreliable.reliability.verify import _connection_died

    assert _connection_died(ResponseLost("connection lost (close 1009)"))
    assert not _connection_died(ApiTimeout("no answer"))  # slow, not refused: verified resend allowed
    gateway = ResponseLost("HTTP 502")
    gateway.status = 502  # type: ignore[attr-defined]
    assert not _connection_died(gateway)
    assert not _connection_died(ActionFailed("send_group_msg", 1200, RICH_MEDIA_FAILED_MESSAGE))
