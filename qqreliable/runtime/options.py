"""Checks of a bot's constructor options, shared by every protocol's bot.

A wrong option must fail where it is written, naming the option:
``Bot(url, api_timeout="5")`` raises ``TypeError: api_timeout must be a number
of seconds, not str '5'`` from the constructor, not a ``'<=' not supported``
from deep inside a thread later.

The building blocks (:func:`seconds`, :func:`count`, :func:`text`,
:func:`one_of`, :func:`flag`) each return a checker ``check(name, value)``
that raises :class:`TypeError` for a value of the wrong type and
:class:`ValueError` for one out of range, and returns nothing.
:data:`COMMON_OPTIONS` holds the options every bot shares (timeouts, workers,
reconnects, sends, media); a protocol's bot adds its own and calls
:func:`check_options` first thing in its constructor.

Pure: no I/O, no threads; safe from any thread.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Type

from ..reliability.backoff import Backoff
from ..reliability.media import MediaConfig
from ..reliability.outbound import OutboundMedia
from ..reliability.sendpolicy import Pacing, SendPolicy

__all__ = [
    "Checker",
    "COMMON_OPTIONS",
    "ONEBOT_OPTIONS",
    "check_options",
    "count",
    "flag",
    "one_of",
    "seconds",
    "text",
]

Checker = Callable[[str, Any], None]


def _shown(value: Any) -> str:
    """``str '5'``: the type and a short repr, for messages."""
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{type(value).__name__} {shown}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def seconds(*, none: bool = False, zero: bool = False, what: str = "a number of seconds") -> Checker:
    """A duration: an int or float, finite, positive (``zero``: or 0); ``none``: or None."""

    def check(name: str, value: Any) -> None:
        if value is None and none:
            return
        if not _is_number(value):
            also = " or None" if none else ""
            raise TypeError(f"{name} must be {what}{also}, not {_shown(value)}")
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"{name} must be a finite number, not {value!r}")
        if value < 0 or (value == 0 and not zero):
            bound = "0 or more" if zero else "more than 0"
            raise ValueError(f"{name} must be {bound}, not {value!r}")

    return check


def count(*, minimum: int = 0, none: bool = False, what: str = "a whole number") -> Checker:
    """An ``int`` (not a bool, not a float) of at least ``minimum``; ``none``: or None."""

    def check(name: str, value: Any) -> None:
        if value is None and none:
            return
        if not isinstance(value, int) or isinstance(value, bool):
            also = " or None" if none else ""
            raise TypeError(f"{name} must be {what}{also}, not {_shown(value)}")
        if value < minimum:
            raise ValueError(f"{name} must be {minimum} or more, not {value!r}")

    return check


def text(*, none: bool = True, empty: bool = True, what: str = "a string") -> Checker:
    """A ``str``; ``none``: or None; ``empty=False``: not ``""``."""

    def check(name: str, value: Any) -> None:
        if value is None and none:
            return
        if not isinstance(value, str):
            also = " or None" if none else ""
            raise TypeError(f"{name} must be {what}{also}, not {_shown(value)}")
        if not empty and not value:
            raise ValueError(f"{name} must not be empty")

    return check


def flag() -> Checker:
    """``True`` or ``False`` (not 0/1, not a string)."""

    def check(name: str, value: Any) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False, not {_shown(value)}")

    return check


def one_of(*kinds: Type[Any], none: bool = False, what: str) -> Checker:
    """An instance of one of ``kinds`` (``what`` says it in words); ``none``: or None."""

    def check(name: str, value: Any) -> None:
        if value is None and none:
            return
        if not isinstance(value, kinds):
            raise TypeError(f"{name} must be {what}, not {_shown(value)}")

    return check


def _verify_tls(name: str, value: Any) -> None:
    if isinstance(value, bool):
        return
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be True, False or the path of a CA bundle, not {_shown(value)}")
    if not os.fspath(value):
        raise ValueError(f"{name} must not be an empty path")


def _http_retry(name: str, value: Any) -> None:
    # A urllib3 Retry; checked by what it does, since only transport/ imports urllib3.
    if value is None:
        return
    if not callable(getattr(value, "increment", None)) or not hasattr(value, "total"):
        raise TypeError(f"{name} must be a urllib3.util.Retry or None, not {_shown(value)}")


def _media_cache(name: str, value: Any) -> None:
    if value is None or isinstance(value, (bool, MediaConfig)):
        return
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be True, False, a directory path or a MediaConfig, not {_shown(value)}")
    if not os.fspath(value):
        raise ValueError(f"{name} must not be an empty path (False turns the cache off)")


def _store(name: str, value: Any) -> None:
    # A URL (its scheme is checked when the store is opened) or an object with the Store methods.
    if value is None:
        return
    if isinstance(value, str):
        if "://" not in value:
            raise ValueError(f"{name} must be a URL such as redis://host:6379/0, not {value!r}")
        return
    if not all(callable(getattr(value, m, None)) for m in ("claim", "renew", "release", "put", "get", "reserve")):
        raise TypeError(f"{name} must be a redis:// URL, a Store or None, not {_shown(value)}")


def _handlers(name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be 'threads' or 'queue', not {_shown(value)}")
    if value not in ("threads", "queue"):
        raise ValueError(f"{name} must be 'threads' (this process) or 'queue' (RQ workers), not {value!r}")


COMMON_OPTIONS: Dict[str, Checker] = {
    "access_token": text(),
    "api_timeout": seconds(),
    "connect_timeout": seconds(),
    "reconnect": one_of(Backoff, what="a Backoff (e.g. Backoff(initial=0.5, maximum=30))"),
    "heartbeat_grace": seconds(what="a number of heartbeat intervals"),
    "ping_interval": seconds(none=True),
    "pong_timeout": seconds(),
    "workers": count(minimum=1, what="a whole number of threads"),
    "queue_size": count(minimum=1, what="a whole number of events"),
    "shutdown_grace": seconds(zero=True),
    "verify_tls": _verify_tls,
    "io_timeout": seconds(),
    "max_message_size": count(minimum=1, none=True, what="a whole number of bytes"),
    "media_cache": _media_cache,
    "send_policy": one_of(SendPolicy, none=True, what="a SendPolicy or None"),
    "pacing": one_of(Pacing, none=True, what="a Pacing or None"),
    "dedupe_size": count(what="a whole number of events"),
    "dedupe_ttl": seconds(),
    "outbound_media": one_of(OutboundMedia, none=True, what="an OutboundMedia or None"),
    "store": _store,
    "handlers": _handlers,
}
"""Options every bot shares, by name."""

ONEBOT_OPTIONS: Dict[str, Checker] = dict(
    COMMON_OPTIONS,
    url=text(empty=False, what="a URL string (ws://, wss://, http:// or https://)"),
    events=text(empty=False, what="a ws:// or wss:// URL string"),
    listen=text(empty=False, what="a URL string to listen on (ws://host:port/path or http://host:port/path)"),
    secret=text(),
    http_retry=_http_retry,
    recover_chats=count(what="a whole number of chats"),
    recover_window=seconds(),
    recover_page=count(minimum=1, what="a whole number of messages"),
    recover_pages=count(minimum=1, what="a whole number of pages"),
    quick_timeout=seconds(),
    reconcile_after=seconds(none=True),
)
"""The options of :class:`qqreliable.Bot` (OneBot v11), by name."""


def check_options(
    options: Mapping[str, Any], checkers: Mapping[str, Checker], *, skip: Tuple[str, ...] = ("self",)
) -> None:
    """Check every option in ``options`` that ``checkers`` knows; the first bad one raises.

    Call it first thing in a constructor, e.g. with ``dict(locals())``: names in
    ``skip`` and names without a checker are left alone.

    Raises:
        TypeError: an option has the wrong type (the message names it and the value).
        ValueError: an option has the right type but an impossible value.
    """
    for name, value in options.items():
        if name in skip:
            continue
        checker: Optional[Checker] = checkers.get(name)
        if checker is not None:
            checker(name, value)
