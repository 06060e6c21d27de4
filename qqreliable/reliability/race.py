"""Run several ways to get the same thing at once; the first good answer wins.

Each contender runs on an I/O pool thread inside a
:func:`~qqreliable.transport.download.cancel_scope`, so when one wins (or the
deadline passes) the others are cancelled: their sockets are shut down at
once and their late answers are handed to ``discard`` (a temp file deleted),
never returned. A contender reports failure by raising; the race is lost when
every contender failed or the deadline passed, and :class:`RaceLost` then
carries every error in the order they happened.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, Generic, List, Optional, Sequence, Tuple, TypeVar

from ..transport.download import CancelToken, cancel_scope

__all__ = ["race", "RaceLost", "Contender"]

T = TypeVar("T")

Submit = Callable[..., "Future[Any]"]
Contender = Tuple[str, Callable[[CancelToken], Any], Submit]


class RaceLost(Exception):
    """No contender succeeded; ``errors`` lists each failure, ``timed_out`` the
    contenders still running at the deadline."""

    def __init__(self, errors: List[BaseException], timed_out: List[str]) -> None:
        super().__init__(f"every contender failed ({len(errors)} errors, timed out: {timed_out or 'none'})")
        self.errors = errors
        self.timed_out = timed_out


class _Board(Generic[T]):
    def __init__(self, names: Sequence[str]) -> None:
        self.cond = threading.Condition()
        self.pending = set(names)
        self.winner: Optional[Tuple[str, T]] = None
        self.errors: List[BaseException] = []
        self.over = False


def race(
    contenders: Sequence[Contender],
    deadline: float,
    *,
    discard: Optional[Callable[[Any], None]] = None,
    clock: Callable[[], float] = time.monotonic,
    tokens: Optional[List[CancelToken]] = None,
) -> Tuple[str, Any, List[BaseException]]:
    """Run ``contenders`` in parallel; return ``(name, result, errors so far)`` of the first success.

    Args:
        contenders: ``(name, fn, submit)``: ``fn(token)`` returns a result or
            raises; ``submit(fn, *args) -> Future`` is the I/O pool it runs on
            (never the handler pool).
        deadline: a ``clock()`` value; at it the race is lost and everyone cancelled.
        discard: called with any result that arrives after the race is decided.
        tokens: a list the race appends its cancel tokens to (so an owner can
            cancel everything at shutdown).

    Raises:
        RaceLost: no contender succeeded in time.
    """
    board: _Board[Any] = _Board([name for name, _, _ in contenders])
    own_tokens: List[CancelToken] = []

    def run(name: str, fn: Callable[[CancelToken], Any], token: CancelToken) -> None:
        try:
            with cancel_scope(token):
                result = fn(token)
        except BaseException as exc:  # every failure is reported, none kills the pool thread
            with board.cond:
                board.pending.discard(name)
                if not board.over:
                    board.errors.append(exc)
                board.cond.notify_all()
            return
        with board.cond:
            board.pending.discard(name)
            late = board.over or board.winner is not None
            if not late:
                board.winner = (name, result)
            board.cond.notify_all()
        if late and discard is not None:
            discard(result)

    for name, fn, submit in contenders:
        token = CancelToken()
        own_tokens.append(token)
        if tokens is not None:
            tokens.append(token)
        try:
            submit(run, name, fn, token)
        except RuntimeError as exc:  # the pool is shut down
            with board.cond:
                board.pending.discard(name)
                board.errors.append(exc)
    try:
        with board.cond:
            while board.winner is None and board.pending:
                remaining = deadline - clock()
                if remaining <= 0:
                    break
                board.cond.wait(remaining)
            board.over = True
            winner = board.winner
            errors = list(board.errors)
            timed_out = sorted(board.pending)
    finally:
        for token in own_tokens:
            token.cancel()
        if tokens is not None:
            for token in own_tokens:
                try:
                    tokens.remove(token)
                except ValueError:
                    pass
    if winner is not None:
        return winner[0], winner[1], errors
    raise RaceLost(errors, timed_out)
