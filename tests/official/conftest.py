"""Fixtures and helpers for the OfficialBot tests."""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator, List

import pytest

from qqreliable import OfficialBot
from qqreliable.official.events import Event
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


def started(make: Callable[..., OfficialBot], official: FakeOfficial, **kw: Any) -> OfficialBot:
    """``make(official, **kw)`` started and connected."""
    bot = make(official, **kw)
    bot.start()
    bot.wait_connected(5)
    return bot


@pytest.fixture
def bot(official: FakeOfficial, make_official_bot: Callable[..., OfficialBot]) -> OfficialBot:
    """A connected OfficialBot on the ``official`` fake (stopped by ``make_official_bot``)."""
    return started(make_official_bot, official)


def inbound(official: FakeOfficial, bot: OfficialBot, scene: str = "c2c", **kw: Any) -> Event:
    """Emit a message and return the Event the bot built for it."""
    got: List[Event] = []
    ready = threading.Event()
    name = {"c2c": "message.c2c", "group": "message.group"}[scene]

    def grab(event: Event) -> None:
        got.append(event)
        ready.set()

    bot.on(name)(grab)
    if scene == "c2c":
        official.emit_c2c_message("U1", "hi", **kw)
    else:
        official.emit_group_at_message("G1", "M1", "hi", **kw)
    assert ready.wait(5)
    bot._dispatcher._handlers[name].remove(grab)
    return got[0]
