"""Outbound media over real sockets (faults MEDIA-03..07): a Bot against a FakeOneBot
that behaves like an implementation in another container, downloads URLs itself,
fails voice conversion, fails rich-media uploads and refuses large requests."""

from __future__ import annotations

import base64
import http.server
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from qqreliable import (
    ActionFailed,
    Bot,
    BotStopped,
    MediaRejected,
    MediaTooLarge,
    MediaUnavailable,
    MessageSegment,
    OutboundMedia,
    ResponseLost,
    SendPolicy,
    SendUnconfirmed,
)
from qqreliable.reliability import Backoff
from qqreliable.reliability.media import MediaConfig
from qqreliable.testing import FakeOneBot
from qqreliable.testing.media import sample_png

from .helpers import eventually

pytestmark = pytest.mark.timeout(40)

GROUP = 1001
FAST_POLICY = SendPolicy(
    settle_window=0.3, media_settle_window=0.3, poll_interval=0.05, clock_skew=5, upload_rate=1e9
)
FAST_MEDIA = dict(timeout=5.0, read_timeout=2.0, backoff=Backoff(initial=0.01, maximum=0.05, jitter=0.1))


def send_calls(onebot: FakeOneBot, action: str = "send_group_msg") -> int:
    return sum(1 for c in onebot.calls if c["action"] == action)


def inline(data: bytes) -> str:
    return "base64://" + base64.b64encode(data).decode("ascii")


@pytest.fixture(params=["ws", "http"])
def setup(
    request: Any, onebot_factory: Any, make_bot: Any, tmp_path: Path
) -> Iterator[Callable[..., Tuple[FakeOneBot, Bot]]]:
    """``setup(configure=None, reports=True, **bot_options)`` -> (server, ready bot) over the
    param's transport; ``configure(server)`` runs before the bot connects."""

    def make(
        configure: Optional[Callable[[FakeOneBot], None]] = None, reports: bool = True, **options: Any
    ) -> Tuple[FakeOneBot, Bot]:
        server = onebot_factory(report_self_messages=reports)
        if configure is not None:
            configure(server)
        options.setdefault("send_policy", FAST_POLICY)
        options.setdefault("pacing", None)
        options.setdefault("media_cache", MediaConfig(cache_dir=str(tmp_path / "cache"), **FAST_MEDIA))
        url = server.ws_url if request.param == "ws" else server.url
        bot = make_bot(url, **options)
        if request.param == "ws":
            bot.start()
            bot.wait_connected(5)
        return server, bot

    make.transport = request.param  # type: ignore[attr-defined]
    yield make


@pytest.fixture
def png(tmp_path: Path) -> Tuple[Path, bytes]:
    data = sample_png(3000, seed=11)
    path = tmp_path / "pic.png"
    path.write_bytes(data)
    return path, data


# ---------------------------------------------------------------- MEDIA-04: files the implementation cannot see


@pytest.mark.parametrize("style", ["napcat", "gocq"])
def test_media04_local_file_reaches_an_isolated_implementation_as_base64(
    setup: Any, png: Tuple[Path, bytes], style: str
) -> None:
    onebot, bot = setup(lambda s: s.sent_media.isolate(style))
    path, data = png
    receipt = bot.send_group_msg(GROUP, MessageSegment.text("look ") + MessageSegment.image(path))
    assert receipt.message_id == onebot.sent_messages[0]["message_id"]
    assert onebot.sent_media.forms() == ["base64"]
    assert onebot.sent_messages[0]["message"][1]["data"]["file"] == inline(data)
    assert bot.stats()["outbound_media"]["inlined_files"] == 1


def test_media04_without_preparation_napcat_refuses_and_says_why(setup: Any, png: Tuple[Path, bytes]) -> None:
    onebot, bot = setup(lambda s: s.sent_media.isolate("napcat"), outbound_media=None)
    path, _ = png
    with pytest.raises(MediaRejected) as info:
        bot.send_group_msg(GROUP, MessageSegment.image(path))
    assert "识别URL失败" in info.value.message and "could not read" in str(info.value)
    assert onebot.sent_media.forms() == ["file"]
    assert onebot.sent_messages == [] and send_calls(onebot) == 1  # NOT_SENT: never retried


def test_media04_without_preparation_gocq_drops_the_image_or_answers_empty(
    setup: Any, png: Tuple[Path, bytes]
) -> None:
    onebot, bot = setup(lambda s: s.sent_media.isolate("gocq"), outbound_media=None)
    path, _ = png
    # text + image: gocq silently sends the text alone (why inlining is the default)
    bot.send_group_msg(GROUP, MessageSegment.text("caption") + MessageSegment.image(path))
    assert [s["type"] for s in onebot.sent_messages[0]["message"]] == ["text"]
    with pytest.raises(MediaRejected) as info:
        bot.send_group_msg(GROUP, MessageSegment.image(path))
    assert info.value.retcode == 100 and "消息为空" in info.value.wording
    assert "go-cqhttp dropped" in str(info.value)
    assert len(onebot.sent_messages) == 1 and send_calls(onebot) == 2


def test_media04_shared_files_sends_the_path(setup: Any, png: Tuple[Path, bytes]) -> None:
    onebot, bot = setup(outbound_media=OutboundMedia(shared_files=True))
    path, _ = png
    bot.send_group_msg(GROUP, MessageSegment.image(path))
    assert onebot.sent_media.forms() == ["file"]
    assert onebot.sent_messages[0]["message"][0]["data"]["file"] == path.resolve().as_uri()


def test_media04_missing_file_is_not_sent_at_all(setup: Any, tmp_path: Path) -> None:
    onebot, bot = setup()
    with pytest.raises(MediaUnavailable) as info:
        bot.send_group_msg(GROUP, [{"type": "image", "data": {"file": (tmp_path / "nope.png").as_uri()}}])
    assert not isinstance(info.value, MediaRejected)
    assert send_calls(onebot) == 0


# --------------------------------------------------------------------------- MEDIA-03: URLs


def test_media03_url_is_downloaded_validated_and_sent_inline(setup: Any) -> None:
    onebot, bot = setup()
    data = sample_png(5000, seed=5)
    hosted = onebot.media.add(data)
    bot.send_group_msg(GROUP, MessageSegment.image(hosted["data"]["url"]))
    assert onebot.sent_media.forms() == ["base64"]
    assert onebot.sent_messages[0]["message"][0]["data"] == {"file": inline(data)}
    assert onebot.media.url_requests(hosted["data"]["file"]) == 1
    assert bot.stats()["outbound_media"]["fetched"] == 1


@pytest.mark.parametrize(
    "mode,options,cause",
    [
        ("html", {}, "url:html"),
        ("404", {}, "url:http_404"),
        ("expired", {"status": 200}, "url:expired"),
        ("truncated", {"cut_at": 15}, "url:too_short"),
    ],
)
def test_media03_bad_url_is_refused_before_anything_is_sent(
    setup: Any, mode: str, options: Dict[str, Any], cause: str
) -> None:
    onebot, bot = setup()
    hosted = onebot.media.add(mode=mode, **options)
    with pytest.raises(MediaUnavailable) as info:
        bot.send_group_msg(GROUP, MessageSegment.image(hosted["data"]["url"]))
    assert not isinstance(info.value, (MediaRejected, MediaTooLarge))
    assert cause in [f"{e.path}:{e.cause}" for e in info.value.errors]  # type: ignore[attr-defined]
    assert "nothing was sent" in str(info.value)
    assert send_calls(onebot) == 0 and onebot.sent_messages == []
    # our download failing is retryable: once the host is healthy the same call works
    onebot.media.set_url_mode(hosted["data"]["file"], "ok")
    bot.send_group_msg(GROUP, MessageSegment.image(hosted["data"]["url"]))
    assert onebot.sent_media.forms() == ["base64"] and len(onebot.sent_messages) == 1


def test_media03_received_image_with_expired_url_is_resent_via_get_image(setup: Any) -> None:
    onebot, bot = setup()
    data = sample_png(4000, seed=9)
    received = onebot.media.add(data, mode="expired")  # a QQ CDN URL whose rkey expired
    onebot.media.set_api_mode("base64")
    bot.send_group_msg(GROUP, [received])  # re-sending the segment as received
    assert onebot.sent_media.forms() == ["base64"]
    sent = onebot.sent_messages[0]["message"][0]["data"]
    assert sent["file"] == inline(data) and "url" not in sent  # NapCat would try the stale url first
    assert send_calls(onebot, "get_image") >= 1


def test_media03_image_fetched_earlier_is_taken_from_the_cache(setup: Any) -> None:
    onebot, bot = setup()
    data = sample_png(4000, seed=13)
    received = onebot.media.add(data)
    bot.fetch_image(received)
    requests = onebot.media.url_requests(received["data"]["file"])
    bot.send_group_msg(GROUP, [{"type": "image", "data": {"file": received["data"]["file"]}}])
    assert onebot.sent_messages[0]["message"][0]["data"]["file"] == inline(data)
    # The send downloaded nothing: the only URL request is the one fetch_image's race may
    # have made (when get_image won, the URL leg's request can reach the fake late).
    assert onebot.media.url_requests(received["data"]["file"]) <= max(requests, 1)
    assert bot.stats()["outbound_media"]["from_cache"] == 1


@pytest.mark.parametrize("style,retcode,text", [("napcat", None, "未知文件类型"), ("gocq", 100, "empty message")])
def test_media03_without_preparation_the_implementations_download_fails(
    setup: Any, style: str, retcode: Optional[int], text: str
) -> None:
    onebot, bot = setup(lambda s: s.sent_media.fetch_urls(style=style), outbound_media=None)
    hosted = onebot.media.add(mode="html")
    with pytest.raises(MediaRejected) as info:
        bot.send_group_msg(GROUP, MessageSegment.image(hosted["data"]["url"]))
    assert text in info.value.message
    if retcode is not None:
        assert info.value.retcode == retcode
    assert onebot.sent_media.forms() == ["url"] and onebot.sent_messages == []
    assert send_calls(onebot) == 1


class _Redirects(http.server.BaseHTTPRequestHandler):
    """/r<n>/<target>: n more redirects before ``target`` (a full URL, quoted in the path)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        _, hops, target = self.path.split("/", 2)
        n = int(hops[1:])
        location = target if n == 0 else f"/r{n - 1}/{target}"
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def redirector() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirects)
    thread = threading.Thread(target=server.serve_forever, name="test:redirector", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_media03_at_most_three_redirects_are_followed(setup: Any, redirector: str) -> None:
    onebot, bot = setup()
    data = sample_png(3000, seed=21)
    target = onebot.media.add(data)["data"]["url"]
    bot.send_group_msg(GROUP, MessageSegment.image(f"{redirector}/r2/{target}"))  # 3 redirects in all
    assert onebot.sent_messages[0]["message"][0]["data"]["file"] == inline(data)
    with pytest.raises(MediaUnavailable) as info:
        bot.send_group_msg(GROUP, MessageSegment.image(f"{redirector}/r3/{target}"))  # 4
    assert "url:redirects" in [f"{e.path}:{e.cause}" for e in info.value.errors]  # type: ignore[attr-defined]
    assert send_calls(onebot) == 1


# --------------------------------------------------------------------------- MEDIA-05: size


def test_media05_too_large_is_refused_before_sending_and_the_link_survives(setup: Any, tmp_path: Path) -> None:
    onebot, bot = setup(outbound_media=OutboundMedia(max_request_bytes=64 * 1024))
    big = tmp_path / "big.png"
    big.write_bytes(sample_png(60 * 1024))
    connections = onebot.total_connections
    with pytest.raises(MediaTooLarge) as info:
        bot.send_group_msg(GROUP, MessageSegment.image(big))
    assert info.value.limit == 64 * 1024 and info.value.size is not None and info.value.size > 64 * 1024
    assert send_calls(onebot) == 0
    bot.send_group_msg(GROUP, "still fine")
    assert onebot.total_connections == connections and len(onebot.sent_messages) == 1
    assert bot.stats()["outbound_media"]["refused_too_large"] == 1


def test_media05_url_larger_than_the_limit_stops_downloading(setup: Any) -> None:
    onebot, bot = setup(outbound_media=OutboundMedia(max_request_bytes=16 * 1024))
    hosted = onebot.media.add(sample_png(100 * 1024))
    with pytest.raises(MediaTooLarge):
        bot.send_group_msg(GROUP, MessageSegment.image(hosted["data"]["url"]))
    assert send_calls(onebot) == 0


def test_media05_ws_close_1009_after_a_big_send_is_verified_and_never_resent(
    onebot_factory: Any, make_bot: Any, tmp_path: Path
) -> None:
    onebot = onebot_factory(report_self_messages=True)
    onebot.sent_media.limit_requests(256 * 1024)
    big = tmp_path / "big.png"
    big.write_bytes(sample_png(600 * 1024))  # over Pacing.large_media_bytes, under our 8 MiB
    # A settle window long enough for the reconnect that history needs, on a busy machine too.
    policy = SendPolicy(settle_window=1.0, media_settle_window=1.0, poll_interval=0.05, clock_skew=5, upload_rate=1e9)
    bot = make_bot(onebot.ws_url, send_policy=policy, pacing=None)
    with bot:
        bot.wait_connected(5)
        with pytest.raises(MediaTooLarge) as info:
            bot.send_group_msg(GROUP, MessageSegment.image(big))
        assert isinstance(info.value.__cause__, ResponseLost)
        assert "not sent again" in str(info.value)
        assert onebot.sent_messages == [] and send_calls(onebot) == 0  # the frame never parsed
        bot.wait_connected(5)
        assert onebot.total_connections == 2  # one 1009, one reconnect: no second attempt
        bot.send_group_msg(GROUP, "small is fine")
        assert len(onebot.sent_messages) == 1


def test_media05_http_reset_on_a_big_body_is_verified_and_never_resent(
    onebot: FakeOneBot, make_bot: Any, tmp_path: Path
) -> None:
    onebot.sent_media.limit_requests(256 * 1024, http="reset")
    big = tmp_path / "big.png"
    big.write_bytes(sample_png(600 * 1024))
    bot = make_bot(onebot.url, send_policy=FAST_POLICY, pacing=None)
    with pytest.raises((MediaTooLarge, SendUnconfirmed)) as info:
        bot.send_group_msg(GROUP, MessageSegment.image(big))
    assert isinstance(info.value, MediaTooLarge)  # history decided it: absent
    assert onebot.sent_media.refused == 1 and onebot.sent_messages == []


def test_media05_http_413_is_not_sent(onebot: FakeOneBot, make_bot: Any, tmp_path: Path) -> None:
    onebot.sent_media.limit_requests(256 * 1024, http="413")
    big = tmp_path / "big.png"
    big.write_bytes(sample_png(300 * 1024))
    bot = make_bot(onebot.url, send_policy=FAST_POLICY, pacing=None)
    with pytest.raises(ActionFailed) as info:
        bot.send_group_msg(GROUP, MessageSegment.image(big))
    assert info.value.retcode == 1413 and info.value.category == "bad_request"
    assert onebot.sent_media.refused == 1


# --------------------------------------------------------------------------- MEDIA-06: rich media transfer failed


def test_media06_failed_upload_not_delivered_gets_one_verified_retry(setup: Any, png: Tuple[Path, bytes]) -> None:
    onebot, bot = setup(lambda s: s.sent_media.fail_rich_media(times=1, delay=0.05))
    path, _ = png
    receipt = bot.send_group_msg(GROUP, MessageSegment.image(path))
    assert receipt.attempts == 2 and receipt.message_id == onebot.sent_messages[0]["message_id"]
    assert len(onebot.sent_messages) == 1 and send_calls(onebot) == 2


def test_media06_failed_upload_that_landed_is_not_sent_again(setup: Any, png: Tuple[Path, bytes]) -> None:
    onebot, bot = setup(lambda s: s.sent_media.fail_rich_media(times=1, deliver=True))
    path, _ = png
    receipt = bot.send_group_msg(GROUP, MessageSegment.image(path))
    assert receipt.verified and receipt.attempts == 1
    assert receipt.message_id == onebot.sent_messages[0]["message_id"]
    assert len(onebot.sent_messages) == 1 and send_calls(onebot) == 1


def test_media06_at_most_one_retry_even_with_more_attempts_allowed(setup: Any, png: Tuple[Path, bytes]) -> None:
    policy = SendPolicy(settle_window=0.2, media_settle_window=0.2, poll_interval=0.05, clock_skew=5,
                        upload_rate=1e9, max_attempts=5)
    onebot, bot = setup(lambda s: s.sent_media.fail_rich_media(times=4), send_policy=policy)
    path, _ = png
    with pytest.raises(ActionFailed) as info:
        bot.send_group_msg(GROUP, MessageSegment.image(path))
    assert "rich media transfer failed" in info.value.message
    assert send_calls(onebot) == 2 and onebot.sent_messages == []


# --------------------------------------------------------------------------- MEDIA-07: voice conversion


def test_media07_voice_conversion_failure_is_not_sent_and_never_retried(setup: Any, tmp_path: Path) -> None:
    onebot, bot = setup(lambda s: s.sent_media.fail_records())
    voice = tmp_path / "hello.amr"
    voice.write_bytes(b"#!AMR\n" + bytes(200))
    with pytest.raises(MediaRejected) as info:
        bot.send_private_msg(42, MessageSegment.record(voice))
    assert info.value.message == "语音转换失败, 请检查语音文件是否正常"
    assert info.value.category == "bad_request" and "convert the voice" in str(info.value)
    assert send_calls(onebot, "send_private_msg") == 1 and onebot.sent_messages == []
    assert onebot.sent_media.forms("record") == ["base64"]
    # other messages still go out
    bot.send_private_msg(42, "text is fine")
    assert len(onebot.sent_messages) == 1


# --------------------------------------------------------------------------- off switch


def test_outbound_media_none_sends_segments_as_given(setup: Any, png: Tuple[Path, bytes]) -> None:
    onebot, bot = setup(outbound_media=None)
    path, _ = png
    url = onebot.media.add()["data"]["url"]
    bot.send_group_msg(GROUP, MessageSegment.image(path) + MessageSegment.image(url))
    assert onebot.sent_media.forms() == ["file", "url"]
    assert bot.stats()["outbound_media"] == {}




def test_stop_ends_a_hanging_download_and_nothing_is_sent(onebot: FakeOneBot, make_bot: Any, tmp_path: Path) -> None:
    bot = make_bot(onebot.url, send_policy=FAST_POLICY, pacing=None,
                   media_cache=MediaConfig(cache_dir=str(tmp_path / "cache"), timeout=30.0, read_timeout=30.0))
    hosted = onebot.media.add(mode="hang")
    outcome: List[BaseException] = []
    done = threading.Event()

    def send() -> None:
        try:
            bot.send_group_msg(GROUP, MessageSegment.image(hosted["data"]["url"]))
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=send, name="test:sender")
    thread.start()
    eventually(lambda: onebot.media.url_requests(hosted["data"]["file"]) >= 1, what="the download to start")
    started = time.monotonic()
    bot.stop()
    assert done.wait(5), "the send did not end when the bot stopped"
    thread.join(5)
    assert time.monotonic() - started < 5
    assert outcome and isinstance(outcome[0], BotStopped), outcome
    assert send_calls(onebot) == 0
