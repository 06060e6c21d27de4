"""HTTP API mode against the real FakeOneBot: calls at once, errors typed."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from qqreliable import (
    ActionFailed,
    ApiTimeout,
    AuthenticationError,
    Bot,
    ConnectFailed,
    Receipt,
)
from qqreliable.testing import FakeOneBot

pytestmark = pytest.mark.timeout(30)


def test_calls_work_without_start(onebot: FakeOneBot) -> None:
    bot = Bot(onebot.url)
    info = bot.get_login_info()
    assert info["user_id"] == onebot.self_id
    receipt = bot.send_group_msg(group_id=5, message="hi [CQ:face,id=1]")
    assert isinstance(receipt, Receipt) and receipt.attempts == 1 and not receipt.verified
    assert receipt.message_id == onebot.sent_messages[0]["message_id"]
    assert bot.wait_connected(5) == onebot.self_id
    bot.stop()


def test_unknown_action_is_action_failed(onebot: FakeOneBot) -> None:
    bot = Bot(onebot.url)
    with pytest.raises(ActionFailed) as info:
        bot.call_action("no_such_action")
    assert info.value.retcode in (404, 1404)
    assert info.value.category == "unsupported"


def test_failed_retcode_is_action_failed(onebot: FakeOneBot) -> None:
    onebot.fail_next("get_group_info", retcode=100, message="GROUP_NOT_FOUND")
    with pytest.raises(ActionFailed) as info:
        Bot(onebot.url).get_group_info(group_id=1)
    assert info.value.retcode == 100 and info.value.action == "get_group_info"


@pytest.mark.parametrize("token", [None, "wrong"])
def test_bad_token(onebot_factory: Any, token: Any) -> None:
    server = onebot_factory(access_token="secret")
    with pytest.raises(AuthenticationError):
        Bot(server.url, access_token=token).get_login_info()
    assert Bot(server.url, access_token="secret").get_login_info()["user_id"] == server.self_id


def test_refused_is_connect_failed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectFailed):
        Bot(f"http://127.0.0.1:{port}", connect_timeout=1).get_login_info()


def test_stalled_action_times_out(onebot: FakeOneBot) -> None:
    onebot.stall("get_status")
    bot = Bot(onebot.url, api_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(ApiTimeout):
        bot.get_status()
    assert time.monotonic() - started < 2
    assert bot.get_login_info()["user_id"] == onebot.self_id  # the pool is still fine
    stats = bot.stats()["calls"]
    assert stats["get_status"]["errors"] == {"ApiTimeout": 1}
    assert stats["get_login_info"]["ok"] == 1


def test_http_only_bot_runs_and_stops(onebot: FakeOneBot) -> None:
    bot = Bot(onebot.url)
    with bot:
        assert bot.get_login_info()["user_id"] == onebot.self_id
