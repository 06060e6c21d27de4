"""An echo bot on the official QQ Bot API (what qq-botpy wraps).

    QQBOT_APP_ID=102000000 QQBOT_SECRET=... python examples/official_echo_bot.py
    python examples/official_echo_bot.py --fake     # against FakeOfficial, no account needed

Replies to C2C messages and group @-messages, welcomes new friends (a passive
reply to FRIEND_ADD by its event id). A wrong app id or secret, or intents the
bot is not allowed (4014), raise out of bot.run() instead of hanging; every
other failure is retried.
"""

import logging
import os
import sys
import threading

from qqreliable import OfficialBot
from qqreliable.official import Event

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

fake = None
if "--fake" in sys.argv:
    from qqreliable.testing import FakeOfficial

    fake = FakeOfficial().start()
    bot = OfficialBot(app_id=fake.app_id, secret=fake.secret, api_base=fake.url, token_url=fake.token_url)
else:
    bot = OfficialBot(app_id=os.environ["QQBOT_APP_ID"], secret=os.environ["QQBOT_SECRET"])


@bot.on_message("c2c")
@bot.on_message("group")
def echo(event: Event) -> None:
    text = event.plain_text.strip()
    if text == "ping":
        event.reply("pong")  # passive: msg_id and a fresh msg_seq, retried safely
    elif text.startswith("echo "):
        event.reply(text[5:])


@bot.on("FRIEND_ADD")
def welcome(event: Event) -> None:
    event.reply("thanks for adding me!")


@bot.on_connect
def connected(bot_id: str) -> None:
    logging.info("online as %s", bot_id)
    if fake is not None:  # play a user once the gateway is up
        threading.Timer(0.5, lambda: fake.emit_c2c_message("user-1", "ping")).start()
        threading.Timer(1.5, bot.stop).start()


if __name__ == "__main__":
    try:
        bot.run()
    finally:
        if fake is not None:
            logging.info("the fake received: %s", [m["text"] for m in fake.sent_messages])
            fake.stop()
