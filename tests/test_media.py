"""fetch_image & co. against FakeOneBot's media host: every URL and API mode, the race, the cache."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List

import pytest

from qqreliable import AccountOffline, Bot, BotStopped, MediaUnavailable
from qqreliable.reliability import Backoff
from qqreliable.reliability.media import Media, MediaConfig
from qqreliable.testing import FakeOneBot
from qqreliable.testing.media import DOWNLOAD_TIMEOUT_MESSAGE, sample_png
from qqreliable.testing.onebot import render_cq

from .helpers import eventually

FAST_RETRY = Backoff(initial=0.01, maximum=0.05, jitter=0.1)


@pytest.fixture
def media_bot(onebot: FakeOneBot, make_bot: Callable[..., Bot], tmp_path: Any) -> Callable[..., Bot]:
    """An HTTP bot (never started) with a private cache and fast retries."""

    def make(**overrides: Any) -> Bot:
        options: Dict[str, Any] = dict(cache_dir=str(tmp_path / "cache"), timeout=5.0, read_timeout=3.0,
                                       backoff=FAST_RETRY)
        options.update(overrides)
        return make_bot(onebot.url, media_cache=MediaConfig(**options))

    return make


def causes(exc: MediaUnavailable) -> List[str]:
    return [f"{e.path}:{e.cause}" for e in exc.errors]  # type: ignore[attr-defined]


def timed(fn: Callable[[], Any]) -> Any:
    started = time.monotonic()
    result = fn()
    return result, time.monotonic() - started


# --------------------------------------------------------------------------- the happy path and the cache


def test_healthy_image_is_fetched_validated_and_cached(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot()
    png = sample_png(4096, seed=1)
    seg = onebot.media.add(png)
    media = bot.fetch_image(seg)
    assert isinstance(media, Media)
    assert media.data == png and media.size == len(png)
    assert media.content_type == "image/png"
    assert media.source in ("url", "api")
    assert media.path is not None and open(media.path, "rb").read() == png
    requests_before = onebot.media.url_requests(seg["data"]["file"])

    again = bot.fetch_image(seg)
    assert again.source == "cache" and again.data == png
    assert onebot.media.url_requests(seg["data"]["file"]) == requests_before
    stats = bot.stats()["media"]
    assert stats["cache_hits"] == 1 and stats["wins"]["cache"] == 1 and stats["ok"] == 2


def test_every_input_form_is_accepted(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    from qqreliable import Event, Message, MessageSegment

    bot = media_bot(cache=False)
    seg = onebot.media.add()
    png = bot.fetch_image(seg).data
    name, url = seg["data"]["file"], seg["data"]["url"]
    forms = [
        seg,
        seg["data"],
        MessageSegment("image", seg["data"]),
        Message([MessageSegment.text("look: "), MessageSegment("image", seg["data"])]),
        Event({"post_type": "message", "message_type": "group", "group_id": 1, "user_id": 2,
               "message": [{"type": "text", "data": {"text": "hi"}}, seg]}),
        {"post_type": "message", "message": render_cq([seg])},  # CQ string form
        name,  # only the file id: get_image
        url,  # only the URL
    ]
    for form in forms:
        assert bot.fetch_image(form).data == png, form
    with pytest.raises(ValueError):
        bot.fetch_image({"post_type": "message", "message": "no image here"})
    with pytest.raises(TypeError):
        bot.fetch_image(12345)


def test_cq_string_urls_are_unescaped(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot()
    seg = onebot.media.add()
    onebot.media.set_api_mode("never")
    cq = render_cq([seg])
    assert "&amp;" in cq  # the URL's '&' is escaped in CQ form
    # Both the parsed CQ string and a URL copied raw out of it must work.
    raw_url = cq.split("url=")[1].split(",")[0].rstrip("]")
    assert bot.fetch_image({"message": cq}).source == "url"
    assert bot.fetch_image(raw_url, timeout=3).source in ("url", "cache")
    targets = onebot.media.requests_log
    assert targets and all("&amp;" not in t and "&rkey=" in t for t in targets)


def test_cache_off_downloads_every_time(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot(cache=False)
    seg = onebot.media.add()
    onebot.media.set_api_mode("never")
    first, second = bot.fetch_image(seg), bot.fetch_image(seg)
    assert first.source == second.source == "url" and first.path is None
    assert first.data == second.data
    assert onebot.media.url_requests(seg["data"]["file"]) == 2


def test_an_unusable_cache_dir_does_not_stop_fetching(
    onebot: FakeOneBot, media_bot: Callable[..., Bot], tmp_path: Any, caplog: Any
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"a file where the cache directory should be")
    bot = media_bot(cache_dir=str(blocker / "cache"))
    seg = onebot.media.add()
    media = bot.fetch_image(seg)
    assert media.content_type == "image/png" and media.path is None
    assert "continuing without a disk cache" in caplog.text
    assert bot.fetch_image(seg).source != "cache"


def test_works_on_an_http_bot_without_start(onebot: FakeOneBot) -> None:
    seg = onebot.media.add()
    bot = Bot(onebot.url, media_cache=False)
    try:
        assert bot.fetch_image(seg).content_type == "image/png"
    finally:
        bot.stop()


# --------------------------------------------------------------------------- the race


def test_hanging_url_healthy_api_answers_from_the_api_well_under_the_url_timeout(
    onebot: FakeOneBot, media_bot: Callable[..., Bot]
) -> None:
    bot = media_bot(read_timeout=5.0, timeout=10.0)
    seg = onebot.media.add(mode="hang")
    media, elapsed = timed(lambda: bot.fetch_image(seg))
    assert media.source == "api"
    assert elapsed < 1.5, elapsed  # the URL's read timeout is 5 s


def test_api_delay_gives_the_url_a_head_start(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot(api_delay=0.5)
    assert bot.fetch_image(onebot.media.add()).source == "url"
    assert not [c for c in onebot.calls if c["action"] == "get_image"]  # decided before it was asked
    media, elapsed = timed(lambda: bot.fetch_image(onebot.media.add(mode="404")))
    assert media.source == "api" and elapsed >= 0.5


@pytest.mark.parametrize("api_mode", ["url", "path", "base64"])
def test_every_get_image_answer_form_is_used(
    onebot: FakeOneBot, media_bot: Callable[..., Bot], api_mode: str
) -> None:
    bot = media_bot()
    png = sample_png(3000, seed=7)
    seg = onebot.media.add(png, mode="404")
    onebot.media.set_api_mode(api_mode)
    media = bot.fetch_image(seg)
    assert media.source == "api" and media.data == png


def test_api_1200_after_8s_healthy_url_answers_in_the_urls_time(
    onebot: FakeOneBot, media_bot: Callable[..., Bot]
) -> None:
    # The real figure from the seed report; cheap because the loser is abandoned.
    bot = media_bot(timeout=20.0)
    seg = onebot.media.add(mode="ok", delay=0.2)
    onebot.media.set_api_mode("fail_1200", delay=8.0)
    media, elapsed = timed(lambda: bot.fetch_image(seg))
    assert media.source == "url"
    assert 0.2 <= elapsed < 1.2, elapsed


def test_fetch_time_tracks_the_faster_path(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    """Ratio check with scaled-down delays: the race costs little over the faster path."""
    bot = media_bot(cache=False)
    fast_url = onebot.media.add(mode="ok", delay=0.3)
    url_alone = onebot.media.add(mode="ok", delay=0.3)
    onebot.media.set_api_mode("never", name=url_alone["data"]["file"])
    _, alone = timed(lambda: bot.fetch_image(url_alone))
    onebot.media.set_api_mode("fail_1200", delay=1.5)
    media, raced = timed(lambda: bot.fetch_image(fast_url))
    assert media.source == "url"
    assert raced <= 1.2 * alone + 0.25, (raced, alone)


def test_both_dead_fails_fast_listing_each_cause(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot(api_attempts=2, timeout=5.0)
    seg = onebot.media.add(mode="404")
    onebot.media.set_api_mode("fail_1200")
    with pytest.raises(MediaUnavailable) as info:
        timed(lambda: bot.fetch_image(seg))
    found = causes(info.value)
    assert "url:http_404" in found and found.count("api:api_1200") == 2
    assert any(DOWNLOAD_TIMEOUT_MESSAGE.split()[0] in str(e) for e in info.value.errors)
    assert onebot.media.url_requests(seg["data"]["file"]) == 1  # a 404 is not retried
    failures = bot.stats()["media"]["failures"]
    assert failures["url:http_404"] == 1 and failures["api:api_1200"] == 2


def test_both_hanging_fails_at_the_deadline(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot(read_timeout=30.0)
    seg = onebot.media.add(mode="hang")
    onebot.media.set_api_mode("never")
    started = time.monotonic()
    with pytest.raises(MediaUnavailable) as info:
        bot.fetch_image(seg, timeout=1.0)
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 2.0, elapsed
    found = causes(info.value)
    assert "url:deadline" in found
    # The action's own timeout is the time left, so it may report just before the race
    # does, or just after: either way the API path failed on time, in either order.
    assert {"api:deadline", "api:api_timeout"} & set(found), found


def test_api_never_answers_url_healthy(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot()
    seg = onebot.media.add()
    onebot.media.set_api_mode("never")
    media, elapsed = timed(lambda: bot.fetch_image(seg))
    assert media.source == "url" and elapsed < 1.0


def test_a_late_loser_is_ignored_and_cleaned_up(
    onebot: FakeOneBot, media_bot: Callable[..., Bot], tmp_path: Any
) -> None:
    bot = media_bot(cache_dir=str(tmp_path / "c2"))
    seg = onebot.media.add(mode="ok", delay=0.3)
    onebot.media.set_api_mode("path")  # fast: the API wins, the URL answer comes late
    media = bot.fetch_image(seg)
    assert media.source == "api"
    tmp_dir = tmp_path / "c2" / "tmp"
    eventually(lambda: not any(p.name.endswith(".part") for p in tmp_dir.iterdir()), what="temp files removed")


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("mode", "options", "cause"),
    [
        ("html", {}, "url:html"),
        ("html", {"status": 502}, "url:http_502"),
        ("expired", {}, "url:expired"),
        ("expired", {"status": 200}, "url:expired"),
        ("404", {}, "url:http_404"),
        ("truncated", {"cut_at": 1500}, "url:truncated"),
        ("truncated", {"cut_at": 15}, "url:too_short"),
    ],
)
def test_bad_bodies_are_failed_attempts_never_images(
    onebot: FakeOneBot, media_bot: Callable[..., Bot], mode: str, options: Dict[str, Any], cause: str
) -> None:
    bot = media_bot(url_attempts=2)
    seg = onebot.media.add(mode=mode, **options)
    onebot.media.set_api_mode("elsewhere")  # an unreadable path: the API path cannot help
    with pytest.raises(MediaUnavailable) as info:
        bot.fetch_image(seg)
    assert cause in causes(info.value)
    assert "api:api_no_file" in causes(info.value)

    onebot.media.set_api_mode("base64")  # now the API path works: the image comes from it
    media = bot.fetch_image(seg)
    assert media.source == "api" and media.content_type == "image/png"


def test_expired_urls_are_not_retried(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot()
    seg = onebot.media.add(mode="expired")
    assert bot.fetch_image(seg).source == "api"
    assert onebot.media.url_requests(seg["data"]["file"]) == 1


def test_wrong_kind_is_refused(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot()
    seg = onebot.media.add(b"#!AMR\n" + b"\x00" * 200, content_type="image/png")
    onebot.media.set_api_mode("elsewhere")
    with pytest.raises(MediaUnavailable) as info:
        bot.fetch_image(seg)
    assert "url:not_image" in causes(info.value)


def test_size_cap(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot(max_file_bytes=1000)
    seg = onebot.media.add(sample_png(5000))
    onebot.media.set_api_mode("base64")
    with pytest.raises(MediaUnavailable) as info:
        bot.fetch_image(seg)
    assert set(causes(info.value)) == {"url:too_large", "api:too_large"}


# --------------------------------------------------------------------------- retries and resume


def test_cut_download_resumes_with_range(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot()
    png = sample_png(20_000, seed=3)
    seg = onebot.media.add(png, mode="cut", cut_at=7000)
    onebot.media.set_api_mode("never")
    media = bot.fetch_image(seg)
    assert media.source == "url" and media.data == png
    assert onebot.media.range_requests == [(seg["data"]["file"], "bytes=7000-")]
    stats = bot.stats()["media"]
    assert stats["resumes"] == 1 and stats["restarts"] == 0 and stats["failures"]["url:cut"] == 1


def test_cut_download_restarts_without_range_support(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot()
    png = sample_png(20_000, seed=4)
    seg = onebot.media.add(png, mode="cut", cut_at=7000, ranges=False)
    onebot.media.set_api_mode("never")
    media = bot.fetch_image(seg)
    assert media.data == png
    assert onebot.media.url_requests(seg["data"]["file"]) == 2
    stats = bot.stats()["media"]
    assert stats["restarts"] == 1 and stats["resumes"] == 0


def test_repeated_cuts_spend_the_budget(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot(url_attempts=3)
    seg = onebot.media.add(sample_png(20_000), mode="cut", cut_at=100, cut_times=10, ranges=False)
    onebot.media.set_api_mode("fail_1200")
    with pytest.raises(MediaUnavailable) as info:
        bot.fetch_image(seg)
    assert causes(info.value).count("url:cut") == 3


def test_slow_trickle_is_followed_to_the_end(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot(read_timeout=1.0)
    png = sample_png(3000, seed=5)
    seg = onebot.media.add(png, mode="trickle", rate=10_000)  # ~0.3 s, 500 bytes every 50 ms
    onebot.media.set_api_mode("never")
    media = bot.fetch_image(seg)
    assert media.source == "url" and media.data == png


def test_trickle_slower_than_the_deadline_fails_in_time(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot()
    seg = onebot.media.add(sample_png(20_000), mode="trickle", rate=2000)  # 10 s
    onebot.media.set_api_mode("never")
    started = time.monotonic()
    with pytest.raises(MediaUnavailable):
        bot.fetch_image(seg, timeout=0.8)
    assert time.monotonic() - started < 1.8


def test_retry_after_is_honoured(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot()
    seg = onebot.media.add(mode="busy", retry_after="0.4")
    onebot.media.set_api_mode("never")
    media, elapsed = timed(lambda: bot.fetch_image(seg))
    assert media.source == "url" and elapsed >= 0.4
    assert bot.stats()["media"]["failures"]["url:http_503"] == 1


def test_retry_after_is_capped(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot(retry_after_max=0.2)
    seg = onebot.media.add(mode="busy", retry_after="3600")
    onebot.media.set_api_mode("never")
    media, elapsed = timed(lambda: bot.fetch_image(seg))
    assert media.source == "url" and 0.2 <= elapsed < 1.5


def test_api_1200_is_retried_then_succeeds(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot()
    seg = onebot.media.add(mode="404")
    onebot.fail_next("get_image", 1200, DOWNLOAD_TIMEOUT_MESSAGE, times=1)
    onebot.media.set_api_mode("base64")
    media = bot.fetch_image(seg)
    assert media.source == "api"
    assert bot.stats()["media"]["failures"]["api:api_1200"] == 1


def test_file_not_found_is_not_retried(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot()
    seg = onebot.media.add(mode="404")
    onebot.media.set_api_mode("not_found")
    with pytest.raises(MediaUnavailable) as info:
        bot.fetch_image(seg)
    assert causes(info.value) .count("api:api_not_found") == 1
    assert len([c for c in onebot.calls if c["action"] == "get_image"]) == 1


# --------------------------------------------------------------------------- sharing and threads


def test_twenty_threads_fetching_one_new_image_share_one_download(
    onebot: FakeOneBot, media_bot: Callable[..., Bot]
) -> None:
    bot = media_bot()
    png = sample_png(8000, seed=9)
    seg = onebot.media.add(png, mode="ok", delay=0.3)
    onebot.media.set_api_mode("never")
    results: List[Media] = []
    errors: List[BaseException] = []
    start = threading.Barrier(20)

    def worker() -> None:
        start.wait()
        try:
            results.append(bot.fetch_image(seg))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, name=f"test-fetch-{i}") for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors and len(results) == 20
    assert all(m.data == png for m in results)
    assert onebot.media.url_requests(seg["data"]["file"]) == 1
    assert len([c for c in onebot.calls if c["action"] == "get_image"]) == 1
    stats = bot.stats()["media"]
    # Followers either joined the download in flight or found it in the cache.
    assert stats["shared"] + stats["cache_hits"] == 19 and stats["ok"] == 20


def test_a_follower_with_more_time_tries_again_after_the_leaders_deadline(
    onebot: FakeOneBot, media_bot: Callable[..., Bot]
) -> None:
    bot = media_bot(cache=False)
    seg = onebot.media.add(mode="ok", delay=0.8)
    onebot.media.set_api_mode("never")
    outcomes: Dict[str, Any] = {}
    leader = threading.Thread(target=lambda: _catch_into(outcomes, "leader", lambda: bot.fetch_image(seg, timeout=0.5)))
    leader.start()
    eventually(lambda: onebot.media.url_requests(seg["data"]["file"]) == 1, what="the leader's download")
    follower = threading.Thread(
        target=lambda: _catch_into(outcomes, "follower", lambda: bot.fetch_image(seg, timeout=5))
    )
    follower.start()
    leader.join(5)
    follower.join(5)
    assert isinstance(outcomes["leader"], MediaUnavailable)
    assert isinstance(outcomes["follower"], Media) and outcomes["follower"].source == "url"
    assert onebot.media.url_requests(seg["data"]["file"]) == 2


def _catch_into(out: Dict[str, Any], name: str, fn: Callable[[], Any]) -> None:
    try:
        out[name] = fn()
    except BaseException as exc:
        out[name] = exc


def test_fetch_from_a_handler_does_not_deadlock(
    onebot: FakeOneBot, make_bot: Callable[..., Bot], tmp_path: Any
) -> None:
    bot = make_bot(onebot.ws_url, workers=1, media_cache=str(tmp_path))
    got: List[Media] = []
    done = threading.Event()

    @bot.on_message("group")
    def handler(event: Any) -> None:
        got.append(bot.fetch_image(event, timeout=5))
        done.set()

    bot.start()
    bot.wait_connected(5)
    png = sample_png(2500, seed=11)
    seg = onebot.media.add(png)
    onebot.emit_group_message(100, 200, [{"type": "text", "data": {"text": "pic"}}, seg])
    assert done.wait(5)
    assert got[0].data == png


def test_stop_cancels_a_fetch_in_flight(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot(read_timeout=30.0, timeout=30.0)
    seg = onebot.media.add(mode="hang")
    onebot.media.set_api_mode("never")
    outcome: List[BaseException] = []
    thread = threading.Thread(target=lambda: _catch(outcome, lambda: bot.fetch_image(seg)), name="test-fetch")
    thread.start()
    onebot.wait_for_call("get_image", handled=False)  # get_image never answers
    eventually(lambda: onebot.media.url_requests(seg["data"]["file"]) == 1, what="the URL request")
    started = time.monotonic()
    bot.stop()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 3
    assert outcome and isinstance(outcome[0], MediaUnavailable)
    with pytest.raises(BotStopped):
        bot.fetch_image(seg)


def _catch(sink: List[BaseException], fn: Callable[[], Any]) -> None:
    try:
        fn()
    except BaseException as exc:
        sink.append(exc)


def test_io_pool_threads_are_named_and_bounded(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot(workers=2, cache=False)
    segs = [onebot.media.add() for _ in range(4)]
    onebot.media.set_api_mode("never")
    for seg in segs:
        bot.fetch_image(seg)
    names = [t.name for t in threading.enumerate() if t.name.startswith("qqreliable:media-io")]
    assert 1 <= len(names) <= 2


def test_stuck_api_calls_never_starve_direct_downloads(
    onebot: FakeOneBot, make_bot: Callable[..., Bot], tmp_path: Any
) -> None:
    # Over WebSocket an unanswered get_image holds its thread until the deadline;
    # it does so in the API pool, and the URL downloads go on in theirs.
    bot = make_bot(onebot.ws_url, media_cache=MediaConfig(cache=False, workers=1, api_workers=1, timeout=10))
    bot.start()
    bot.wait_connected(5)
    onebot.media.set_api_mode("never")
    for _ in range(3):
        media, elapsed = timed(lambda: bot.fetch_image(onebot.media.add()))
        assert media.source == "url" and elapsed < 1.0, elapsed
    assert len([c for c in onebot.calls if c["action"] == "get_image"]) == 1  # the others never started


# --------------------------------------------------------------------------- account status


def test_offline_account_fails_fast(onebot: FakeOneBot, make_bot: Callable[..., Bot], tmp_path: Any) -> None:
    bot = make_bot(onebot.ws_url, media_cache=str(tmp_path))
    bot.start()
    bot.wait_connected(5)
    onebot.emit_notice("bot_offline", user_id=onebot.self_id, tag="BotOfflineEvent", message="账号已下线")
    eventually(lambda: bot._media.offline is not None, what="offline noticed")
    seg = onebot.media.add(mode="404")
    started = time.monotonic()
    with pytest.raises(AccountOffline):
        bot.fetch_image(seg, timeout=10)
    assert time.monotonic() - started < 1.0
    assert not [c for c in onebot.calls if c["action"] == "get_image"]
    with pytest.raises(AccountOffline):
        bot.fetch_image("ABC.image", timeout=10)  # no URL at all
    ok = onebot.media.add()  # a working URL still works while offline
    assert bot.fetch_image(ok).source == "url"


def test_offline_reported_by_get_status(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot()
    onebot.set_action("get_status", lambda params: {"online": False, "good": False})
    seg = onebot.media.add(mode="404")
    onebot.media.set_api_mode("fail_1200")
    with pytest.raises(AccountOffline, match="offline"):
        bot.fetch_image(seg)
    assert bot.stats()["media"]["errors"] == {"AccountOffline": 1}


# --------------------------------------------------------------------------- other kinds


def test_fetch_record_video_and_file(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot()
    amr = b"#!AMR\n" + bytes(range(256)) * 4
    rec = onebot.media.add(amr, content_type="audio/amr", segment_type="record")
    assert bot.fetch_record(rec).content_type == "audio/amr"

    mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 500
    vid = onebot.media.add(mp4, content_type="video/mp4", segment_type="video", mode="404")
    onebot.media.set_api_mode("base64")
    media = bot.fetch_video(vid)
    assert media.content_type == "video/mp4" and media.source == "api"
    assert onebot.wait_for_call("get_file")["params"]["file"] == vid["data"]["file"]

    text = b"just a text file, any bytes are fine\n"
    doc = onebot.media.add(text, content_type="text/plain", segment_type="file")
    assert bot.fetch_file(doc).data == text

    rec2 = onebot.media.add(amr, content_type="audio/amr", segment_type="record", mode="404")
    assert bot.fetch_record(rec2).source == "api"
    assert onebot.wait_for_call("get_record")["params"]["out_format"] == "mp3"


def test_media_stats_shape(onebot: FakeOneBot, media_bot: Callable[..., Bot]) -> None:
    bot = media_bot()
    stats = bot.stats()["media"]
    for key in ("fetches", "ok", "failed", "wins", "shared", "cache_hits", "cache_misses", "failures",
                "errors", "resumes", "restarts", "bytes", "latency"):
        assert key in stats
    bot.fetch_image(onebot.media.add())
    lat = bot.stats()["media"]["latency"]
    assert any(v["p50"] is not None for v in lat.values())

