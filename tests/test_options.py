"""Bot options are checked at construction, naming the option (issue 11, item 7)."""

from __future__ import annotations

import inspect
import pathlib
from typing import Any, Dict

import pytest
from urllib3.util.retry import Retry

from qqreliable import Backoff, Bot, Pacing, SendPolicy
from qqreliable.reliability.media import MediaConfig
from qqreliable.reliability.outbound import OutboundMedia
from qqreliable.runtime.options import ONEBOT_OPTIONS, check_options, count, seconds

URL = "ws://127.0.0.1:9"  # never connected: the bot is not started


def test_every_bot_option_has_a_check() -> None:
    params = [name for name in inspect.signature(Bot.__init__).parameters if name != "self"]
    assert sorted(set(params) - set(ONEBOT_OPTIONS)) == []


@pytest.mark.parametrize(
    "option, value, error, words",
    [
        ("api_timeout", "5", TypeError, "api_timeout must be a number of seconds, not str '5'"),
        ("api_timeout", 0, ValueError, "api_timeout must be more than 0, not 0"),
        ("api_timeout", float("nan"), ValueError, "api_timeout must be a finite number"),
        ("connect_timeout", None, TypeError, "connect_timeout must be a number of seconds, not NoneType None"),
        ("io_timeout", True, TypeError, "io_timeout must be a number of seconds, not bool True"),
        ("ping_interval", "15", TypeError, "ping_interval must be a number of seconds or None, not str '15'"),
        ("pong_timeout", -1.0, ValueError, "pong_timeout must be more than 0, not -1.0"),
        ("heartbeat_grace", [2], TypeError, "heartbeat_grace must be a number of heartbeat intervals"),
        ("shutdown_grace", -0.5, ValueError, "shutdown_grace must be 0 or more, not -0.5"),
        ("workers", 2.5, TypeError, "workers must be a whole number of threads, not float 2.5"),
        ("workers", 0, ValueError, "workers must be 1 or more, not 0"),
        ("queue_size", "10", TypeError, "queue_size must be a whole number of events, not str '10'"),
        ("max_message_size", 1.5e6, TypeError, "max_message_size must be a whole number of bytes or None"),
        ("dedupe_size", -1, ValueError, "dedupe_size must be 0 or more, not -1"),
        ("dedupe_ttl", "1h", TypeError, "dedupe_ttl must be a number of seconds, not str '1h'"),
        ("recover_chats", None, TypeError, "recover_chats must be a whole number of chats, not NoneType None"),
        ("recover_page", 0, ValueError, "recover_page must be 1 or more, not 0"),
        ("reconcile_after", "never", TypeError, "reconcile_after must be a number of seconds or None"),
        ("quick_timeout", 0, ValueError, "quick_timeout must be more than 0"),
        ("reconnect", 5, TypeError, "reconnect must be a Backoff (e.g. Backoff(initial=0.5, maximum=30)), not int 5"),
        ("reconnect", None, TypeError, "reconnect must be a Backoff"),
        ("send_policy", {"max_attempts": 3}, TypeError, "send_policy must be a SendPolicy or None, not dict"),
        ("pacing", False, TypeError, "pacing must be a Pacing or None, not bool False"),
        ("outbound_media", True, TypeError, "outbound_media must be an OutboundMedia or None, not bool True"),
        ("media_cache", 3, TypeError, "media_cache must be True, False, a directory path or a MediaConfig, not int 3"),
        ("media_cache", "", ValueError, "media_cache must not be an empty path"),
        ("verify_tls", "", ValueError, "verify_tls must not be an empty path"),
        ("verify_tls", 1, TypeError, "verify_tls must be True, False or the path of a CA bundle, not int 1"),
        ("http_retry", 3, TypeError, "http_retry must be a urllib3.util.Retry or None, not int 3"),
        ("access_token", 1234, TypeError, "access_token must be a string or None, not int 1234"),
        ("secret", b"s", TypeError, "secret must be a string or None, not bytes b's'"),
        ("events", 1, TypeError, "events must be a ws:// or wss:// URL string or None"),
    ],
)
def test_a_wrong_option_raises_naming_it(option: str, value: Any, error: type, words: str) -> None:
    with pytest.raises(error) as info:
        Bot(URL, **{option: value})
    assert words in str(info.value)


def test_a_url_that_is_not_a_string_is_named() -> None:
    with pytest.raises(TypeError, match=r"^url must be a URL string .* not int 3001$"):
        Bot(3001)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="listen must not be empty"):
        Bot(listen="")


def test_every_documented_value_is_accepted(tmp_path: pathlib.Path) -> None:
    good: Dict[str, Any] = dict(
        access_token="t", api_timeout=5, connect_timeout=2.5, reconnect=Backoff(initial=0.1),
        heartbeat_grace=3, ping_interval=None, pong_timeout=1, workers=1, queue_size=1,
        shutdown_grace=0, http_retry=None, verify_tls=str(tmp_path), io_timeout=0.5,
        max_message_size=None, media_cache=False, send_policy=None, pacing=None,
        dedupe_size=0, dedupe_ttl=1, recover_chats=0, recover_window=1, recover_page=1,
        recover_pages=1, quick_timeout=0.1, reconcile_after=None, outbound_media=None,
    )
    Bot(URL, **good)
    Bot(URL, media_cache=tmp_path, send_policy=SendPolicy(), pacing=Pacing(), outbound_media=OutboundMedia())
    Bot(URL, media_cache=MediaConfig(cache=False), verify_tls=False)
    Bot("http://127.0.0.1:9", http_retry=Retry(connect=1, read=False))


def test_checkers_are_reusable_by_other_bots() -> None:
    checkers = {"poll_interval": seconds(zero=True), "shards": count(minimum=1, none=True)}
    check_options({"self": object(), "poll_interval": 0, "shards": None, "unknown": "x"}, checkers)
    with pytest.raises(TypeError, match="shards must be a whole number or None, not str '2'"):
        check_options({"shards": "2"}, checkers)
