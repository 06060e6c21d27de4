"""Secrets stay secret in listen modes: tokens and webhook secrets never logged."""

from __future__ import annotations

import logging
from typing import Any, List

from qqreliable import Bot
from qqreliable.testing import FakeOneBot

from .helpers import FAST, eventually

TOKEN = "r3v3rse-T0KEN-never-logged"
SECRET = "w3bh00k-S3CRET-never-logged"


def _everything_logged(caplog: Any) -> str:
    parts: List[str] = []
    for record in caplog.records:
        parts.append(record.getMessage())
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


def test_reverse_ws_tokens_never_logged(onebot: FakeOneBot, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    bot = Bot(listen="ws://127.0.0.1:0/ws", access_token=TOKEN, reconnect=FAST, shutdown_grace=2.0)
    with bot:
        wrong = onebot.connect_reverse(bot.listen_url, access_token=TOKEN + "-but-wrong")
        wrong.wait_refusals(1)
        wrong.stop()
        onebot.connect_reverse(bot.listen_url, access_token=TOKEN).wait_connects(1)
        bot.wait_connected(5)
        bot.call_action("get_status")
        assert TOKEN not in str(bot.stats()) and TOKEN not in repr(bot)
    logged = _everything_logged(caplog)
    assert "refused a reverse WebSocket" in logged  # the refusal is logged, the token is not
    assert TOKEN not in logged


def test_webhook_secret_never_logged(onebot: FakeOneBot, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    bot = Bot(listen="http://127.0.0.1:0/", secret=SECRET, shutdown_grace=2.0)
    got: List[Any] = []
    bot.on_message()(got.append)
    with bot:
        forged = onebot.post_events(bot.listen_url, secret=SECRET + "-forged", retries=0)
        onebot.emit_private_message(1, "x")
        forged.wait_idle()
        assert forged.statuses == [403]
        forged.stop()
        good = onebot.post_events(bot.listen_url, secret=SECRET)
        onebot.emit_private_message(1, "y")
        good.wait_idle()
        eventually(lambda: len(got) == 1, what="the signed event")
        assert SECRET not in str(bot.stats())
    assert SECRET not in _everything_logged(caplog)
