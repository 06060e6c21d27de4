"""Secrets stay secret: the access token never reaches a log line or an error message."""

from __future__ import annotations

import logging
from typing import Any, List

import pytest

from qqreliable import AuthenticationError, Bot

TOKEN = "s3cr3t-T0KEN-never-logged"


def _everything_logged(caplog: Any) -> str:
    parts: List[str] = []
    for record in caplog.records:
        parts.append(record.getMessage())
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


@pytest.mark.parametrize("style", ["http", "frame"])
def test_wrong_token_over_ws(onebot_factory: Any, make_bot: Any, caplog: Any, style: str) -> None:
    caplog.set_level(logging.DEBUG)
    server = onebot_factory(access_token="the-right-one", auth_style=style)
    bot = make_bot(server.ws_url, access_token=TOKEN)
    with pytest.raises(AuthenticationError) as info:
        bot.run()
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)
    assert TOKEN not in _everything_logged(caplog)


def test_right_token_over_ws_with_debug_logging(onebot_factory: Any, make_bot: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    server = onebot_factory(access_token=TOKEN)
    with make_bot(server.ws_url, access_token=TOKEN) as bot:
        bot.wait_connected(5)
        bot.get_status()
        server.drop_connections()
        bot.wait_connected(5)
        server.stall("get_version_info")
        with pytest.raises(Exception) as info:
            bot.get_version_info(api_timeout=0.2)
        assert TOKEN not in str(info.value)
        assert TOKEN not in repr(bot)
    assert TOKEN not in _everything_logged(caplog)


@pytest.mark.parametrize("server_token", [TOKEN, "the-right-one"])
def test_http_with_debug_logging(onebot_factory: Any, caplog: Any, server_token: str) -> None:
    caplog.set_level(logging.DEBUG)
    server = onebot_factory(access_token=server_token)
    bot = Bot(server.url, access_token=TOKEN, api_timeout=5)
    try:
        try:
            bot.get_status()
        except AuthenticationError as exc:
            assert TOKEN not in str(exc)
        assert TOKEN not in str(bot.stats())
    finally:
        bot.stop()
    assert TOKEN not in _everything_logged(caplog)
