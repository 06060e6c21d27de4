"""A bot application for the multi-process tests (run as a subprocess, or imported by a worker).

Environment: QQR_ONEBOT (ws URL), QQR_STORE (store URL), QQR_NAME (this process),
QQR_DELAY (seconds a handler takes), QQR_RATE (messages/s per target and account,
burst 1; unset: default pacing), QQR_HANDLERS (threads | queue), QQR_SENDS (send that many
group messages of its own once the file QQR_GO exists: the pacing test).
"""

from __future__ import annotations

import os
import threading
import time

from qqreliable import Bot
from qqreliable.reliability.sendpolicy import Pacing

from tests.scale_bot import serve

RATE = os.environ.get("QQR_RATE")

pacing = Pacing()
if RATE:
    pacing = Pacing(target_rate=float(RATE), target_burst=1, global_rate=float(RATE), global_burst=1, max_wait=60)

bot = Bot(
    os.environ["QQR_ONEBOT"],
    store=os.environ["QQR_STORE"],
    handlers=os.environ.get("QQR_HANDLERS", "threads"),
    pacing=pacing,
    workers=4,
    recover_chats=0,
)

serve(bot, "group", lambda: bot.call_action("get_status"))


def _send_when_told(count: int, go: str) -> None:
    pause = threading.Event()
    deadline = time.monotonic() + 60.0  # a test that never says go must not hold the bot's stop
    while not os.path.exists(go):  # the test creates it once every process is READY
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {go} within 60 s: sending nothing")
        pause.wait(0.01)
    for i in range(count):
        bot.send_group_msg(10, f"{os.environ.get('QQR_NAME', 'p')}:s{i}")


if os.environ.get("QQR_SENDS"):
    @bot.on_connect
    def _sender(self_id: object) -> None:
        _send_when_told(int(os.environ["QQR_SENDS"]), os.environ["QQR_GO"])

if __name__ == "__main__":
    bot.run(log_level="WARNING")
