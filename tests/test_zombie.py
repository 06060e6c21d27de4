"""CONN-07: a connection that answers calls and pings but no longer delivers events."""

from __future__ import annotations

import threading
import time
from typing import Any, List


def test_zombie_connection_is_replaced(onebot_factory: Any, make_bot: Any) -> None:
    interval = 0.25
    server = onebot_factory(heartbeat_interval=interval)
    bot = make_bot(server.ws_url, ping_interval=0.1)  # pings keep the link "alive" at the TCP level
    reasons: List[str] = []
    lost = threading.Event()
    beat = threading.Event()
    bot.on_disconnect(lambda reason: (reasons.append(reason), lost.set()))
    bot.on_meta_event("heartbeat")(lambda event: beat.set())
    with bot:
        bot.wait_connected(5)
        assert beat.wait(5)
        server.mute_events()
        started = time.monotonic()
        assert bot.get_status()["online"] is True  # the zombie still answers
        assert lost.wait(5)
        assert time.monotonic() - started < 4 * interval + 1.0
        assert "zombie" in reasons[0]
        bot.wait_connected(5)
        got = threading.Event()
        bot.on_message("private")(lambda event: got.set())
        server.emit_private_message(5, "alive again")
        assert got.wait(5)
