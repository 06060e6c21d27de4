"""A MiraiBot application for the multi-process tests (a bot process, or imported by a worker).

Environment: QQR_MIRAI (ws URL), QQR_STORE, QQR_NAME, QQR_DELAY (seconds a handler takes),
QQR_HANDLERS (threads | queue), QQR_MARK (the handler calls ``botProfile`` first: tells the
test a handler started).
"""

from __future__ import annotations

import os
import sys
import threading

from qqreliable.mirai.bot import MiraiBot

NAME = os.environ.get("QQR_NAME", "p")
DELAY = float(os.environ.get("QQR_DELAY", "0"))

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


@bot.on_message("group")
def answer(event):  # type: ignore[no-untyped-def]
    if os.environ.get("QQR_MARK"):
        bot.call("botProfile")
    if DELAY:
        threading.Event().wait(DELAY)  # a slow handler (an LLM call)
    event.reply(f"{NAME}:{event.plain_text}")


@bot.on_connect
def ready(self_id):  # type: ignore[no-untyped-def]
    sys.stdout.write("READY\n")
    sys.stdout.flush()


if __name__ == "__main__":
    bot.run(log_level="WARNING")
