"""Whether the QQ account behind the implementation is online (faults LIVE-03).

The OneBot connection and the QQ session are independent: a kicked account keeps
its WebSocket, its heartbeats may still say ``online: true`` (NapCat caches the
flag), and every send then fails. The account is marked offline by a
``bot_offline`` notice, a heartbeat ``status.online == false`` or a send answered
with an offline-class error; it is back after a ``bot_online`` notice, a heartbeat
saying online again *after one said offline* (a heartbeat that never said offline
proves nothing on NapCat), or any delivered send. While it is offline, sends fail
fast with :class:`AccountOffline`, except one probe per ``probe_interval``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import abc
from typing import Any, Callable, Mapping, Optional

from ..exceptions import AccountOffline

__all__ = ["AccountState"]

log = logging.getLogger(__name__)

_NOTICE = "notice"
_STATUS = "status"
_SEND = "send"


class AccountState:
    """Online/offline state of one account, fed by events and send outcomes. Thread-safe."""

    def __init__(self, probe_interval: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.probe_interval = probe_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._offline_by: Optional[str] = None
        self._reason = ""
        self._since = 0.0
        self._last_probe = 0.0
        self.transitions = 0

    @property
    def online(self) -> bool:
        return self._offline_by is None

    @property
    def reason(self) -> str:
        return self._reason

    def observe(self, event: Mapping[str, Any]) -> None:
        """Feed every event; only account-state ones matter. Never blocks, never raises."""
        post_type = event.get("post_type")
        if post_type == "notice":
            notice = event.get("notice_type")
            if notice == "bot_offline":
                text = event.get("message") or event.get("tag") or "bot_offline notice"
                self.mark_offline(str(text), _NOTICE)
            elif notice == "bot_online":
                self.mark_online(_NOTICE)
        elif post_type == "meta_event" and event.get("meta_event_type") == "heartbeat":
            status = event.get("status")
            online = status.get("online") if isinstance(status, abc.Mapping) else None
            if online is False:
                self.mark_offline("heartbeat status online=false", _STATUS)
            elif online is True:
                with self._lock:
                    back = self._offline_by == _STATUS
                if back:
                    self.mark_online(_STATUS)

    def mark_offline(self, reason: str, source: str = _SEND) -> None:
        with self._lock:
            was_online = self._offline_by is None
            self._offline_by = source
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
