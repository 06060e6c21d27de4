"""Test helpers: :class:`FakeOneBot`, a real OneBot v11 server on localhost with faults on
demand, :class:`FakeMirai`, the same for mirai-api-http v2, and :class:`FaultProxy`, a
TCP proxy that breaks connections below the protocol.

The pytest fixtures ``onebot`` and ``onebot_factory`` live in
:mod:`qqreliable.testing.pytest_plugin` (registered as a pytest plugin when
qqreliable is installed). See ``docs/testing.md``.
"""

from .proxy import FaultProxy
from .mirai import FakeMirai, MahError
from .onebot import DEFAULT_FAIL_MESSAGE, FakeActionError, FakeOneBot, parse_cq, render_cq
from .official import FakeOfficial

__all__ = [
    "FakeOneBot",
    "FakeMirai",
    "FakeOfficial",
    "MahError",
    "FaultProxy",
    "FakeActionError",
    "DEFAULT_FAIL_MESSAGE",
    "parse_cq",
    "render_cq",
]
