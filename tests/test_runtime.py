"""The runtime every protocol shares: connection state, stop(), run(), logging, selectors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, Callable, List

import pytest

from qqreliable import AuthenticationError, Bot, BotStopped, NotStarted
from qqreliable.testing import FakeOneBot

from .helpers import FAST, eventually, qq_threads


def test_connection_state_does_not_wait_for_a_free_handler(onebot: FakeOneBot, make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(onebot.ws_url, workers=1)
    release = threading.Event()
    busy = threading.Event()
    reconnected: List[Any] = []

    @bot.on_message("group")
    def block(event: Any) -> None:
        busy.set()
        release.wait(10)

    @bot.on_connect
    def connected(self_id: Any) -> None:
        reconnected.append(self_id)

    try:
        bot.start()
        bot.wait_connected(5)
        onebot.emit_group_message(1, 2, "hold the only worker")
        assert busy.wait(5)
        before = onebot.total_connections
        onebot.drop_connections()
        eventually(lambda: onebot.total_connections > before, what="the reconnect")
        # The only handler thread is busy: connection state must not depend on it.
        assert bot.wait_connected(2) == onebot.self_id
        assert bot.connected
    finally:
        release.set()
    # on_connect still runs, once the pool is free again.
    deadline = time.monotonic() + 5
    while len(reconnected) < 2 and time.monotonic() < deadline:
        threading.Event().wait(0.01)
    assert len(reconnected) == 2


def test_stop_honours_shutdown_grace_as_the_total(onebot: FakeOneBot) -> None:
    bot = Bot(onebot.ws_url, reconnect=FAST, workers=2, shutdown_grace=1.0)
    started = threading.Barrier(3)

    @bot.on_message("group")
    def stuck(event: Any) -> None:
        started.wait(5)
        threading.Event().wait(4.0)  # longer than the grace: a straggler

    bot.start()
    bot.wait_connected(5)
    onebot.emit_group_message(1, 2, "a")
    onebot.emit_group_message(1, 2, "b")
    started.wait(5)
    # Both media pools busy too (a download that does not notice the stop).
    release = threading.Event()
    bot._io_pool.submit(release.wait, 4.0)
    bot._api_pool.submit(release.wait, 4.0)
    t0 = time.monotonic()
    bot.stop()
    took = time.monotonic() - t0
    # Two stuck handlers, two pools, several threads: one grace in all, not one each.
    release.set()
    assert took < 1.9, took
    deadline = time.monotonic() + 6
    while qq_threads() and time.monotonic() < deadline:
        threading.Event().wait(0.05)
    assert qq_threads() == []


def test_run_returns_only_when_every_thread_is_gone_after_stop_from_a_handler(onebot: FakeOneBot) -> None:
    bot = Bot(onebot.ws_url, reconnect=FAST, shutdown_grace=5.0)

    @bot.on_message("group")
    def stop_then_linger(event: Any) -> None:
        bot.stop()
        threading.Event().wait(0.3)  # still running after stop() returned here

    @bot.on_connect
    def go(self_id: Any) -> None:
        onebot.emit_group_message(1, 2, "stop")

    runner = threading.Thread(target=lambda: bot.run(log_handler=None))
    runner.start()
    runner.join(10)
    assert not runner.is_alive()
    assert qq_threads() == []


def test_a_second_stop_from_another_thread_waits_for_the_first(onebot: FakeOneBot) -> None:
    bot = Bot(onebot.ws_url, reconnect=FAST, shutdown_grace=3.0)
    inside = threading.Event()

    @bot.on_message("group")
    def slow(event: Any) -> None:
        inside.set()
        threading.Event().wait(0.5)

    bot.start()
    bot.wait_connected(5)
    onebot.emit_group_message(1, 2, "x")
    assert inside.wait(5)
    first = threading.Thread(target=bot.stop)
    first.start()
    bot.stop()  # returns when the shutdown is done, not at once
    assert qq_threads() == []
    first.join(5)


def test_not_started_is_one_error_for_calls_and_waits(onebot: FakeOneBot) -> None:
    bot = Bot(onebot.ws_url)
    with pytest.raises(NotStarted, match="start"):
        bot.get_login_info()
    with pytest.raises(NotStarted, match="start"):
        bot.wait_connected(1)
    bot.stop()
    with pytest.raises(BotStopped):
        bot.wait_connected(1)


@pytest.mark.parametrize(
    "register",
    [
        lambda bot: bot.on_message("groups"),
        lambda bot: bot.on_notice("group_increse"),
        lambda bot: bot.on_request("friends"),
        lambda bot: bot.on_meta_event("heartbeats"),
    ],
)
def test_unknown_selectors_raise_listing_the_valid_ones(register: Callable[[Bot], Any]) -> None:
    bot = Bot("http://127.0.0.1:9")
    with pytest.raises(ValueError, match="valid kinds are") as info:
        register(bot)
    assert "bot.on(" in str(info.value)


def test_known_selectors_and_extensions_still_register() -> None:
    bot = Bot("http://127.0.0.1:9")
    bot.on_message("group")(lambda e: None)
    bot.on_message("private.friend")(lambda e: None)
    bot.on_notice("group_increase")(lambda e: None)
    bot.on_notice("notify.poke")(lambda e: None)
    bot.on("notice.some_extension")(lambda e: None)  # extensions: through on()
    with pytest.raises(TypeError):
        bot.on_message(5)  # type: ignore[call-overload]


def test_http_only_bot_with_a_wrong_token_raises_from_run(onebot_factory: Callable[..., FakeOneBot]) -> None:
    server = onebot_factory(access_token="right")
    bot = Bot(server.url, access_token="wrong", reconnect=FAST)
    errors: List[BaseException] = []

    def run() -> None:
        try:
            bot.run(log_handler=None)
        except BaseException as exc:
            errors.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    runner.join(10)
    assert not runner.is_alive(), "run() blocked on a wrong token"
    assert errors and isinstance(errors[0], AuthenticationError)
    assert qq_threads() == []


def test_http_only_bot_says_it_has_no_event_source(onebot: FakeOneBot, caplog: pytest.LogCaptureFixture) -> None:
    bot = Bot(onebot.url)
    with caplog.at_level("WARNING", logger="qqreliable"):
        with bot:
            pass
    warnings = [r for r in caplog.records if "no event source" in r.getMessage()]
    assert len(warnings) == 1


_SCRIPT = """
import sys, threading
from qqreliable import Bot
from qqreliable.testing import FakeOneBot

server = FakeOneBot().start()
bot = Bot(server.ws_url)

@bot.on_message("group")
def broken(event):
    raise RuntimeError("boom in a handler")

@bot.on_connect
def go(self_id):
    server.emit_group_message(1, 2, "hi")

@bot.on_error
def done(exc, event):
    threading.Timer(0.2, bot.stop).start()

bot.run({run_args})
server.stop()
"""


def _run_script(run_args: str) -> str:
    code = textwrap.dedent(_SCRIPT.format(run_args=run_args))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_run_shows_the_log_on_stderr_when_the_application_configured_none() -> None:
    err = _run_script("")
    assert "boom in a handler" in err and "Traceback" in err
    assert "connected as" in err


def test_run_log_handler_none_leaves_logging_alone() -> None:
    assert "boom in a handler" not in _run_script("log_handler=None")


def test_run_log_level_is_honoured() -> None:
    err = _run_script("log_level='ERROR'")
    assert "boom in a handler" in err and "connected as" not in err
