from __future__ import annotations

from typing import Callable, Iterator, List

import pytest

from qqreliable import Bot

from .helpers import FAST, qq_threads


@pytest.fixture
def make_bot() -> Iterator[Callable[..., Bot]]:
    """Bots with fast reconnects; every bot made is stopped at teardown."""
    bots: List[Bot] = []

    def make(url: str, **kwargs: object) -> Bot:
        kwargs.setdefault("reconnect", FAST)
        kwargs.setdefault("api_timeout", 5.0)
        kwargs.setdefault("shutdown_grace", 2.0)
        bot = Bot(url, **kwargs)  # type: ignore[arg-type]
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        bot.stop()
    leftover = qq_threads()
    assert not leftover, f"threads outlived stop(): {leftover}"
