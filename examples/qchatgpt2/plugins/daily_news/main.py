"""A QChatGPT 2.x scheduled sender: its own thread calls the synchronous
`host.send_group_message` every `INTERVAL` seconds, as 2.x plugins did.

On qqreliable the send either lands or raises (NotDelivered, SendUnconfirmed, ...): the
loop logs the error and tries again at the next tick instead of failing silently.
Set QC2_NEWS_GROUP (and optionally QC2_NEWS_INTERVAL, seconds) to turn it on.
"""
# ruff: noqa: F403, F405  (the 2.x idiom: from pkg.plugin.models import *)

import logging
import os
import threading

from pkg.plugin.models import *
from pkg.plugin.host import PluginHost

from mirai import Plain

log = logging.getLogger("daily_news")


@register(name="DailyNews", description="posts a message to a group on a timer", version="0.1", author="you")
class DailyNews(Plugin):
    def __init__(self, plugin_host: PluginHost):
        self.host = plugin_host
        self.group = os.environ.get("QC2_NEWS_GROUP")
        self.interval = float(os.environ.get("QC2_NEWS_INTERVAL", "86400"))
        self.sent = 0
        self._stop = threading.Event()
        self._thread = None
        if self.group:
            self._thread = threading.Thread(target=self._loop, name="daily-news", daemon=True)
            self._thread.start()

    def _loop(self):
        while not self._stop.wait(self.interval):
            try:
                self.host.send_group_message(self.group, [Plain(f"news #{self.sent + 1}")])
                self.sent += 1
            except Exception as exc:  # the send failed loudly: log it, try at the next tick
                log.warning("news not sent: %s: %s", type(exc).__name__, exc)

    def stop(self, timeout=5.0):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def __del__(self):
        self._stop.set()
