"""Signed media URLs never leak: ``rkey`` and other signature query parameters are
blanked in the media fetcher's errors and log lines."""

from __future__ import annotations

import logging
import socket
from typing import Any, Callable, List

import pytest

from qqreliable import Bot, MediaUnavailable
from qqreliable.reliability import Backoff
from qqreliable.reliability.media import MediaAttemptError, MediaConfig, redact
from qqreliable.testing import FakeOneBot

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
