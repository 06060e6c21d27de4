"""pytest fixtures for testing bots against :class:`~qqreliable.testing.FakeOneBot`.

Installed qqreliable registers this module as the pytest plugin
``qqreliable`` (entry point ``pytest11``), so the fixtures are available in
every test without an import. Without the installed package, add
``pytest_plugins = ["qqreliable.testing.pytest_plugin"]`` to the root
``conftest.py``.

Fixtures:
    onebot: a started :class:`FakeOneBot` on 127.0.0.1, port 0.
    onebot_factory: ``onebot_factory(**kwargs)`` starts a :class:`FakeOneBot`
        with those keyword arguments.
    official: a started :class:`~qqreliable.testing.FakeOfficial` (the official
        QQ Bot API) on 127.0.0.1, port 0.
    official_factory: ``official_factory(**kwargs)`` starts a :class:`FakeOfficial`.

Every server is stopped at teardown; if its threads do not stop in time the
test fails (as an error in teardown) naming them.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, List

import pytest

from .onebot import FakeOneBot
from .official import FakeOfficial

__all__ = ["onebot", "onebot_factory", "official", "official_factory"]


def _stop_all(servers: List[Any]) -> None:
    problems: List[str] = []
    for server in servers:
        try:
            server.stop()
        except RuntimeError as exc:
            problems.append(f"{server!r}: {exc}")
    if problems:
        pytest.fail("fake server did not stop cleanly: " + "; ".join(problems), pytrace=False)


@pytest.fixture
def onebot() -> Iterator[FakeOneBot]:
    """A started :class:`FakeOneBot` with default settings, stopped at teardown."""
    server = FakeOneBot().start()
    try:
        yield server
    finally:
        _stop_all([server])


@pytest.fixture
def onebot_factory() -> Iterator[Callable[..., FakeOneBot]]:
    """A factory: ``onebot_factory(**kwargs)`` returns a started :class:`FakeOneBot`.

    Every server it made is stopped at teardown.
    """
    servers: List[FakeOneBot] = []

    def factory(**kwargs: Any) -> FakeOneBot:
        server = FakeOneBot(**kwargs)
        servers.append(server)
        return server.start()

    try:
        yield factory
    finally:
        _stop_all(servers)


@pytest.fixture
def official() -> Iterator[FakeOfficial]:
    """A started :class:`FakeOfficial` with default settings, stopped at teardown."""
    server = FakeOfficial().start()
    try:
        yield server
    finally:
        _stop_all([server])


@pytest.fixture
def official_factory() -> Iterator[Callable[..., FakeOfficial]]:
    """A factory: ``official_factory(**kwargs)`` returns a started :class:`FakeOfficial`."""
    servers: List[FakeOfficial] = []

    def factory(**kwargs: Any) -> FakeOfficial:
        server = FakeOfficial(**kwargs)
        servers.append(server)
        return server.start()

    try:
        yield factory
    finally:
        _stop_all(servers)
