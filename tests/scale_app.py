"""A bot application for the multi-process tests (run as a subprocess, or imported by a worker).

Environment: QQR_ONEBOT (ws URL), QQR_STORE (store URL), QQR_NAME (this process),
QQR_DELAY (seconds a handler takes), QQR_RATE (messages/s per target and account,
burst 1; unset: default pacing), QQR_HANDLERS (threads | queue).
"""

from __future__ import annotations

import os

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

if __name__ == "__main__":
    bot.run(log_level="WARNING")
