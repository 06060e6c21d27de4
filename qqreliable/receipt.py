"""The result of a send, common to every protocol: :class:`Receipt`.

``from qqreliable import Receipt`` and ``from qqreliable.onebot.actions import Receipt``
name this class. Pure; no imports from the package.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Hashable, Mapping, Optional, Union

__all__ = ["Receipt"]

MessageId = Union[int, str]


class _Unset:
    def __reduce__(self) -> str:
        return "_UNSET"  # pickled by reference: the one sentinel survives a round trip


_UNSET: Any = _Unset()


def _as_message_id(value: Any, keep_text: bool = False) -> Optional[MessageId]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return int(value)
        if keep_text and value:
            return value  # the official API's ids are strings ("ROBOT1.0_...")
    return None


class Receipt(Dict[str, Any]):
    """What a send returns, whatever the protocol: the answer's data as a dict, plus how it went.

    ``receipt["message_id"]`` works as with a plain response; :attr:`message_id` is the
    platform's id: an ``int`` on OneBot and mirai-api-http (numeric strings coerced), a
    string on the official API, ``None`` when absent. A protocol whose answer names the
    id otherwise (mirai ``messageId``, official ``id``) passes it as ``message_id``.

    Args:
        data: the response data (``None`` -> empty).
        attempts: how many times the send went on the wire.
        verified: whether delivery was confirmed by verification (the bot's own
            message seen on the event stream, chat history, a lookup by id) rather
            than by the answer itself.
    """

    def __init__(
        self,
        data: Optional[Mapping[str, Any]] = None,
        *,
        attempts: int = 1,
        verified: bool = False,
        message_id: Optional[Hashable] = _UNSET,
    ) -> None:
        super().__init__(data or {})
        self.attempts = attempts
        self.verified = verified
        self._message_id = message_id

    @property
    def message_id(self) -> Optional[MessageId]:
        """The sent message's id as the platform gives it, or ``None``."""
        if self._message_id is not _UNSET:
            return _as_message_id(self._message_id, keep_text=True)
        return _as_message_id(self.get("message_id"))

    def __repr__(self) -> str:
        return (
            f"Receipt({dict.__repr__(self)}, attempts={self.attempts!r}, "
            f"verified={self.verified!r})"
        )

    def __reduce__(self) -> Any:
        return (
            _rebuild_receipt,
            (dict(self), self.attempts, self.verified, self._message_id),
        )


def _rebuild_receipt(data: Mapping[str, Any], attempts: int, verified: bool, message_id: Any = _UNSET) -> Receipt:
    return Receipt(data, attempts=attempts, verified=verified, message_id=message_id)
