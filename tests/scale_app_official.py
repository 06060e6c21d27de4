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

from qqreliable import OfficialBot

from tests.scale_bot import serve


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

serve(bot, "c2c", lambda: bot._api("GET", "/users/@me"))

if __name__ == "__main__":
    bot.run(log_level="WARNING")
