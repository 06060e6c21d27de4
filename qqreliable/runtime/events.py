"""What the runtime needs of an event: a name to pick its handlers by.

Every protocol's event class (``qqreliable.onebot.Event``, ``qqreliable.mirai``'s,
``qqreliable.official``'s) is a ``dict`` holding the raw JSON with a ``name``
property; the dispatcher routes on that name and knows nothing else about it.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["Event"]


class Event(Protocol):
    """An event the dispatcher can route: ``name`` is ``a.b.c``, most general part first."""

    @property
    def name(self) -> str: ...

    def get(self, key: Any, default: Any = None) -> Any: ...
