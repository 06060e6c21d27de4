"""Fixtures for the OfficialBot tests."""

from __future__ import annotations

from typing import Any, Callable, Iterator, List

import pytest

from qqreliable import OfficialBot
from qqreliable.testing import FakeOfficial

from ..helpers import qq_threads


@pytest.fixture
def make_official_bot() -> Iterator[Callable[..., OfficialBot]]:
    bots: List[OfficialBot] = []

    def make(official: FakeOfficial, **kwargs: Any) -> OfficialBot:
        kwargs.setdefault("reconnect_steps", (0.05, 0.1, 0.2))
        kwargs.setdefault("storm_delay", 0.2)
        kwargs.setdefault("retry_backoff", 0.05)
        kwargs.setdefault("api_timeout", 2.0)
        kwargs.setdefault("shutdown_grace", 2.0)
        bot = OfficialBot(app_id=official.app_id, secret=official.secret, api_base=official.url,
                          token_url=official.token_url, **kwargs)
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        bot.stop()
    leftover = qq_threads()
    assert not leftover, f"threads outlived stop(): {leftover}"
