"""Signed media URLs never leak: ``rkey`` and other signature query parameters are
blanked in the media fetcher's errors and log lines. Also: what a failed direct
download's error says when the deadline cut it short."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any, Callable, List

import pytest

from qqreliable import Bot, MediaUnavailable
from qqreliable.reliability import Backoff
from qqreliable.reliability.media import MediaAttemptError, MediaConfig, redact
from qqreliable.testing import FakeOneBot
from qqreliable.transport.download import DownloadError

pytestmark = pytest.mark.timeout(30)

FAST_RETRY = Backoff(initial=0.01, maximum=0.05, jitter=0.1)
SECRET = "CAQSKAB6"  # the rkey FakeOneBot's media host signs its URLs with


@pytest.mark.parametrize(
    "text, expected",
    [
        ("https://multimedia.nt.qq.com.cn/download?appid=1407&fileid=Cg&rkey=CAQS9x",
         "https://multimedia.nt.qq.com.cn/download?appid=1407&fileid=Cg&rkey=REDACTED"),
        ("[CQ:image,url=https://h/d?appid=1&amp;rkey=CAQ,file=x]", "[CQ:image,url=https://h/d?appid=1&amp;rkey=REDACTED,file=x]"),
        ("Max retries exceeded with url: /download?rkey=abc&fileid=2 (Caused by X)",
         "Max retries exceeded with url: /download?rkey=REDACTED&fileid=2 (Caused by X)"),
        ("https://s3/b/o?X-Amz-Credential=AK%2F1&X-Amz-Signature=f00d&x=1",
         "https://s3/b/o?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&x=1"),
        ("https://h/p?sign=s1&token=t2&monkey=ok&keys=ok", "https://h/p?sign=REDACTED&token=REDACTED&monkey=ok&keys=ok"),
        ("no url here, rkey mentioned in prose", "no url here, rkey mentioned in prose"),
        ("", ""),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_attempt_errors_carry_no_signature() -> None:
    error = MediaAttemptError("url", "connect", "cannot connect: url: /download?appid=1&rkey=SeCrEt")
    assert "SeCrEt" not in str(error) and "SeCrEt" not in error.detail and "rkey=REDACTED" in str(error)


@pytest.fixture
def media_bot(onebot: FakeOneBot, make_bot: Callable[..., Bot], tmp_path: Any) -> Callable[..., Bot]:
    def make(**overrides: Any) -> Bot:
        options = dict(cache_dir=str(tmp_path / "cache"), timeout=3.0, read_timeout=2.0, connect_timeout=1.0,
                       backoff=FAST_RETRY, url_attempts=2)
        options.update(overrides)
        return make_bot(onebot.url, media_cache=MediaConfig(**options))

    return make


def _all_text(exc: BaseException) -> List[str]:
    texts = [str(exc)]
    for error in getattr(exc, "errors", []):
        texts.append(str(error))
        texts.extend(str(e) for e in getattr(error, "earlier", []))
    return texts


def test_an_expired_signed_url_fails_without_leaking_its_rkey(
    onebot: FakeOneBot, media_bot: Callable[..., Bot], caplog: pytest.LogCaptureFixture
) -> None:
    bot = media_bot()
    seg = onebot.media.add(mode="expired")
    url = seg["data"]["url"]
    assert f"rkey={SECRET}" in url  # what must not leak
    caplog.set_level(logging.DEBUG, logger="qqreliable.reliability")
    with pytest.raises(MediaUnavailable) as info:
        bot.fetch_image(url)  # only the URL: nothing else to fall back on
    texts = _all_text(info.value)
    assert any("expired" in t for t in texts)
    assert not [t for t in texts if SECRET in t]
    assert "rkey=REDACTED" in str(info.value)
    assert SECRET not in caplog.text


def test_a_connect_failure_to_a_signed_url_does_not_leak_it(
    media_bot: Callable[..., Bot], caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bot = media_bot()
    caplog.set_level(logging.DEBUG, logger="qqreliable.reliability")
    with pytest.raises(MediaUnavailable) as info:
        bot.fetch_image(f"http://127.0.0.1:{port}/download?appid=1407&fileid=Cg&rkey={SECRET}&spec=0")
    texts = _all_text(info.value)
    assert any("connect" in t for t in texts)
    assert not [t for t in texts if SECRET in t]
    assert SECRET not in caplog.text


# -- a read timeout cut short by the deadline is the deadline -----------------------------


class _SilentHost:
    """A direct-download transport whose server never sends a byte: each GET waits
    its whole read timeout (on an Event, interruptible), then fails as a timeout."""

    def __init__(self) -> None:
        self.read_timeouts: List[float] = []
        self.closed = threading.Event()

    def get(self, url: str, *, read_timeout: float, **_: Any) -> Any:
        self.read_timeouts.append(read_timeout)
        self.closed.wait(read_timeout)
        raise DownloadError(f"no data for {read_timeout:g}s from the host", "timeout")

    def close(self) -> None:
        self.closed.set()


def test_a_read_timeout_cut_to_the_time_left_counts_as_the_deadline(tmp_path: Any) -> None:
    from qqreliable.onebot.media import OneBotMedia
    from qqreliable.reliability.media import MediaFetcher
    from qqreliable.runtime.supervisor import IoPool

    def no_api(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a URL-only fetch never asks the API")

    pool = IoPool("test-media", max_workers=2)
    host = _SilentHost()
    fetcher = MediaFetcher(
        OneBotMedia(no_api), pool.submit,
        MediaConfig(cache=False, read_timeout=30.0, url_attempts=3, backoff=FAST_RETRY),
        http=host,  # type: ignore[arg-type]
    )
    try:
        with pytest.raises(MediaUnavailable) as info:
            fetcher.fetch("image", "http://127.0.0.1:9/x.png?rkey=abc", timeout=0.5)
    finally:
        fetcher.close()
        assert pool.shutdown(2.0) == []  # no thread left behind
    assert host.read_timeouts and host.read_timeouts[0] <= 0.5  # cut to the time left
    assert [f"{e.path}:{e.cause}" for e in info.value.errors] == ["url:deadline"]  # type: ignore[attr-defined]
