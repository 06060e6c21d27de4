"""The OfficialBot of benchmarks/scale.py (one bot process): prints READY once its gateway
session is up (it has an access token). Environment: QQR_API, QQR_TOKEN_URL, QQR_APP_ID,
QQR_SECRET, QQR_STORE (empty: no store)."""

from __future__ import annotations

import os
import sys

from qqreliable import OfficialBot

bot = OfficialBot(
    app_id=os.environ["QQR_APP_ID"],
    secret=os.environ["QQR_SECRET"],
    api_base=os.environ["QQR_API"],
    token_url=os.environ["QQR_TOKEN_URL"],
    store=os.environ.get("QQR_STORE") or None,
    reconnect_steps=(0.05, 0.1, 0.2),
)


@bot.on_message("c2c")
def answer(event):  # type: ignore[no-untyped-def]
    event.reply("ok")


@bot.on_connect
def ready(self_id):  # type: ignore[no-untyped-def]
    sys.stdout.write("READY\n")
    sys.stdout.flush()


if __name__ == "__main__":
    bot.run(log_level="ERROR")
