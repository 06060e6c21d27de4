"""The result of a send, common to every protocol: :class:`Receipt`.

``from qqreliable import Receipt`` and ``from qqreliable.onebot.actions import Receipt``
name this class. Pure; no imports from the package.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Mapping, Optional

__all__ = ["Receipt"]


def _as_message_id(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    return None


class Receipt(Dict[str, Any]):
    """What a send returns, whatever the protocol: the answer's data as a dict, plus how it went.

    ``receipt["message_id"]`` works as with a plain response; :attr:`message_id` is the
    same value as an ``int`` (numeric strings coerced; ``None`` when absent).

    Args:
        data: the response data (``None`` -> empty).
        attempts: how many times the send went on the wire.
        verified: whether delivery was confirmed by verification (the bot's own
            message seen on the event stream, chat history, a lookup by id) rather
            than by the answer itself.
    """

    def __init__(
        self, data: Optional[Mapping[str, Any]] = None, *, attempts: int = 1, verified: bool = False
    ) -> None:
        super().__init__(data or {})
        self.attempts = attempts
        self.verified = verified

    @property
    def message_id(self) -> Optional[int]:
        """The sent message's id (a signed int32, may be negative), or ``None``."""
        return _as_message_id(self.get("message_id"))

    def __repr__(self) -> str:
        return (
            f"Receipt({dict.__repr__(self)}, attempts={self.attempts!r}, "
            f"verified={self.verified!r})"
        )

    def __reduce__(self) -> Any:
        return (
            _rebuild_receipt,
            (dict(self), self.attempts, self.verified),
        )


def _rebuild_receipt(data: Mapping[str, Any], attempts: int, verified: bool) -> Receipt:
    return Receipt(data, attempts=attempts, verified=verified)
