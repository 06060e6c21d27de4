"""Whether the QQ account behind the server is online (faults LIVE-03).

The connection to the server and the QQ session are independent: a kicked account
keeps its connection, its status reports may still say online (NapCat caches the
flag), and every send then fails. The protocol turns events into
:class:`~qqreliable.reliability.interfaces.AccountSignal` values (OneBot:
offline notices, heartbeat status). The account is marked offline by an
offline notice, a status report saying offline, or a send answered with an
offline-class error; it is back after an online notice, a status report saying
online again *after one said offline* (a report that never said offline proves
nothing on NapCat), or any delivered send. While it is offline, sends fail fast
with :class:`AccountOffline`, except one probe per ``probe_interval``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Mapping, Optional

from ..exceptions import AccountOffline
from .interfaces import SIGNAL_NOTICE, SIGNAL_STATUS, AccountSignalFn

__all__ = ["AccountState"]

log = logging.getLogger(__name__)

_NOTICE = SIGNAL_NOTICE
_STATUS = SIGNAL_STATUS
_SEND = "send"


class AccountState:
    """Online/offline state of one account, fed by events and send outcomes. Thread-safe.

    Args:
        probe_interval: while offline, one send per this many seconds goes through.
        clock: monotonic clock (tests inject one).
        signal: the protocol's ``signal(event) -> AccountSignal | None``; None: events
            are ignored (only send outcomes move the state).
    """

    def __init__(
        self,
        probe_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        signal: Optional[AccountSignalFn] = None,
    ) -> None:
        self.probe_interval = probe_interval
        self._signal = signal
        self._clock = clock
        self._lock = threading.Lock()
        self._offline_by: Optional[str] = None
        #: False while the account is known to be offline (a plain attribute, read
        #: without the lock on every send; written with ``_offline_by``).
        self.online = True
        self._reason = ""
        self._since = 0.0
        self._last_probe = 0.0
        self.transitions = 0

    @property
    def reason(self) -> str:
        return self._reason

    def observe(self, event: Mapping[str, Any]) -> None:
        """Feed every event; only account-state ones matter. Never blocks, never raises."""
        if self._signal is None:
            return
        signal = self._signal(event)
        if signal is None or signal.source not in (_NOTICE, _STATUS):
            return
        if not signal.online:
            self.mark_offline(signal.reason or "offline", signal.source)
        elif signal.source == _NOTICE:
            self.mark_online(_NOTICE)
        else:
            with self._lock:
                back = self._offline_by == _STATUS
            if back:  # a status report proves nothing unless one said offline
                self.mark_online(_STATUS)

    def mark_offline(self, reason: str, source: str = _SEND) -> None:
        with self._lock:
            was_online = self._offline_by is None
            self._offline_by = source
            self.online = False
            self._reason = reason
            if was_online:
                self._since = self._clock()
                self._last_probe = self._since
                self.transitions += 1
        if was_online:
            log.warning("QQ account offline: %s", reason)

    def mark_online(self, source: str = _SEND) -> None:
        if self._offline_by is None:  # already online: the common case, no lock
            return
        with self._lock:
            was_offline = self._offline_by is not None
            self._offline_by = None
            self.online = True
            self._reason = ""
            if was_offline:
                self.transitions += 1
        if was_offline:
            log.info("QQ account back online (%s)", source)

    def check(self, action: str) -> None:
        """Raise :class:`AccountOffline` while offline, except for a periodic probe."""
        if self._offline_by is None:  # the common case, read without the lock
            return
        with self._lock:
            if self._offline_by is None:
                return
            now = self._clock()
            if now - self._last_probe >= self.probe_interval:
                self._last_probe = now
                log.info("%s: account offline; letting this send through as a probe", action)
                return
            reason, since = self._reason, now - self._since
        raise AccountOffline(
            f"{action}: the QQ account is offline ({reason}, for {since:.0f}s); not sent"
        )
