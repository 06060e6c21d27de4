"""An OfficialBot application for the multi-process tests (a bot process, or imported by a worker).

Environment: QQR_API (FakeOfficial's URL), QQR_TOKEN_URL, QQR_APP_ID, QQR_SECRET,
QQR_STORE, QQR_NAME, QQR_DELAY (seconds a handler takes), QQR_HANDLERS (threads | queue),
QQR_MARK (the handler calls ``GET /users/@me`` first: tells the test a handler started),
QQR_TOKEN_LOG (the token manager's log on stdout: the test waits for its lines).
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from qqreliable import OfficialBot

NAME = os.environ.get("QQR_NAME", "p")
DELAY = float(os.environ.get("QQR_DELAY", "0"))

if os.environ.get("QQR_TOKEN_LOG"):
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("TOKEN %(message)s"))
    token_log = logging.getLogger("qqreliable.official.token")
    token_log.addHandler(handler)
    token_log.setLevel(logging.INFO)

bot = OfficialBot(
    app_id=os.environ["QQR_APP_ID"],
    secret=os.environ["QQR_SECRET"],
    api_base=os.environ["QQR_API"],
    token_url=os.environ["QQR_TOKEN_URL"],
    store=os.environ["QQR_STORE"],
    handlers=os.environ.get("QQR_HANDLERS", "threads"),
    api_timeout=float(os.environ.get("QQR_API_TIMEOUT", "3")),
    reconnect_steps=(0.05, 0.1, 0.2),
    retry_backoff=0.05,
    workers=4,
)
if os.environ.get("QQR_LOCK_TTL"):
    bot._tokens.lock_ttl = float(os.environ["QQR_LOCK_TTL"])  # the refresh lock's TTL (tests)


@bot.on_message("c2c")
def answer(event):  # type: ignore[no-untyped-def]
    if os.environ.get("QQR_MARK"):
        bot._api("GET", "/users/@me")
    if DELAY:
        threading.Event().wait(DELAY)  # a slow handler (an LLM call)
    event.reply(f"{NAME}:{event.plain_text}")


@bot.on_connect
def ready(self_id):  # type: ignore[no-untyped-def]
    sys.stdout.write("READY\n")
    sys.stdout.flush()


if __name__ == "__main__":
    bot.run(log_level="WARNING")
