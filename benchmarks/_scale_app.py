"""The bot of benchmarks/scale.py (a bot process, or imported by a worker): a handler that
waits QQR_DELAY seconds (an LLM call), then replies. Prints HANDLING when a handler starts."""

from __future__ import annotations

import os
import sys
import threading

from qqreliable import Bot
from qqreliable.reliability.sendpolicy import Pacing

DELAY = float(os.environ.get("QQR_DELAY", "0.05"))

bot = Bot(
    os.environ["QQR_ONEBOT"],
    store=os.environ["QQR_STORE"],
    handlers=os.environ.get("QQR_HANDLERS", "threads"),
    pacing=Pacing.unlimited(),
    recover_chats=0,
)


@bot.on_message("group")
def answer(event):  # type: ignore[no-untyped-def]
    sys.stdout.write("HANDLING\n")
    sys.stdout.flush()
    threading.Event().wait(DELAY)
    event.reply("ok:" + event.plain_text)


@bot.on_connect
def ready(self_id):  # type: ignore[no-untyped-def]
    sys.stdout.write("READY\n")
    sys.stdout.flush()


if __name__ == "__main__":
    bot.run(log_level="ERROR")
