"""Test helpers: :class:`FakeOneBot`, a real OneBot v11 server on localhost with faults on
demand, and :class:`FaultProxy`, a TCP proxy that breaks connections below OneBot.

The pytest fixtures ``onebot`` and ``onebot_factory`` live in
:mod:`qqreliable.testing.pytest_plugin` (registered as a pytest plugin when
qqreliable is installed). See ``docs/testing.md``.
"""

from .proxy import FaultProxy
from .onebot import DEFAULT_FAIL_MESSAGE, FakeActionError, FakeOneBot, parse_cq, render_cq
from .official import FakeOfficial

__all__ = ["FakeOneBot", "FakeOfficial", "FaultProxy", "FakeActionError", "DEFAULT_FAIL_MESSAGE", "parse_cq", "render_cq"]
