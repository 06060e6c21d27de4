"""A MiraiBot application for the multi-process tests (a bot process, or imported by a worker).

Environment: QQR_MIRAI (ws URL), QQR_STORE, QQR_NAME, QQR_DELAY (seconds a handler takes),
QQR_HANDLERS (threads | queue), QQR_MARK (the handler calls ``botProfile`` first: tells the
test a handler started).
"""

from __future__ import annotations

import os

from qqreliable.mirai.bot import MiraiBot

from tests.scale_bot import serve


bot = MiraiBot(
    os.environ["QQR_MIRAI"],
    verify_key="1234567890",
    qq=10001,
    store=os.environ["QQR_STORE"],
    handlers=os.environ.get("QQR_HANDLERS", "threads"),
    pacing=None,
    workers=4,
    api_timeout=5.0,
)

serve(bot, "group", lambda: bot.call("botProfile"))

if __name__ == "__main__":
    bot.run(log_level="WARNING")
