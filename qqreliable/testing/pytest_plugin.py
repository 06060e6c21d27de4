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
    mirai: a started :class:`~qqreliable.testing.FakeMirai` (mirai-api-http v2)
        on 127.0.0.1, port 0.
    mirai_factory: ``mirai_factory(**kwargs)`` starts a :class:`FakeMirai`
        with those keyword arguments.

Every server is stopped at teardown; if its threads do not stop in time the
test fails (as an error in teardown) naming them.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, List, Sequence, TypeVar

import pytest

from .mirai import FakeMirai
from .onebot import FakeOneBot
from .official import FakeOfficial

T = TypeVar("T")

__all__ = ["onebot", "onebot_factory", "mirai", "mirai_factory", "official", "official_factory"]


def _stop_all(servers: Sequence[Any]) -> None:
    problems: List[str] = []
    for server in servers:
        try:
            server.stop()
        except RuntimeError as exc:
            problems.append(f"{server!r}: {exc}")
    if problems:
        name = type(servers[0]).__name__
        pytest.fail(f"{name} did not stop cleanly: " + "; ".join(problems), pytrace=False)


def _one(cls: Callable[[], T]) -> Iterator[T]:
    """A started server of ``cls`` with default settings, stopped at teardown."""
    server = cls().start()  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        _stop_all([server])


def _factory(cls: Callable[..., T]) -> Iterator[Callable[..., T]]:
    """``factory(**kwargs)`` starts a server of ``cls``; every one made is stopped at teardown."""
    servers: List[T] = []

    def factory(**kwargs: Any) -> T:
        server = cls(**kwargs)
        servers.append(server)
        return server.start()  # type: ignore[attr-defined, no-any-return]

    try:
        yield factory
    finally:
        if servers:
            _stop_all(servers)


@pytest.fixture
def onebot() -> Iterator[FakeOneBot]:
    """A started :class:`FakeOneBot` with default settings, stopped at teardown."""
    yield from _one(FakeOneBot)


@pytest.fixture
def onebot_factory() -> Iterator[Callable[..., FakeOneBot]]:
    """A factory: ``onebot_factory(**kwargs)`` returns a started :class:`FakeOneBot`.

    Every server it made is stopped at teardown.
    """
    yield from _factory(FakeOneBot)


@pytest.fixture
def mirai() -> Iterator[FakeMirai]:
    """A started :class:`FakeMirai` with default settings (verify_key ``"1234567890"``,
    qq 10001, version 2.10.0), stopped at teardown."""
    yield from _one(FakeMirai)


@pytest.fixture
def mirai_factory() -> Iterator[Callable[..., FakeMirai]]:
    """A factory: ``mirai_factory(**kwargs)`` returns a started :class:`FakeMirai`;
    every server it made is stopped at teardown."""
    yield from _factory(FakeMirai)


@pytest.fixture
def official() -> Iterator[FakeOfficial]:
    """A started :class:`FakeOfficial` with default settings, stopped at teardown."""
    yield from _one(FakeOfficial)


@pytest.fixture
def official_factory() -> Iterator[Callable[..., FakeOfficial]]:
    """A factory: ``official_factory(**kwargs)`` returns a started :class:`FakeOfficial`."""
    yield from _factory(FakeOfficial)
