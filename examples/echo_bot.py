"""An echo bot: replies to "ping" with "pong" and repeats "echo <text>".

    python examples/echo_bot.py ws://127.0.0.1:3001 [token]

Stops cleanly on Ctrl-C (twice to stop waiting for slow handlers). A wrong
token, or a backend that never comes back when a reconnect budget is set,
raises out of bot.run() instead of hanging.
"""

import logging
import sys

from qqreliable import Bot, Event

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

bot = Bot(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:3001",
          access_token=sys.argv[2] if len(sys.argv) > 2 else None)


@bot.on_message()
def echo(event: Event) -> None:
    text = event.plain_text.strip()
    if text == "ping":
        event.reply("pong")
    elif text.startswith("echo "):
        event.reply(text[5:])


@bot.on_notice("group_increase")
def welcome(event: Event) -> None:
    bot.send(event, "welcome!", at_sender=True)


@bot.on_connect
def connected(self_id: int) -> None:
    logging.info("online as %s", self_id)


@bot.on_error
def failed(exc: BaseException, event: object) -> None:
    logging.warning("a handler failed: %r", exc)


if __name__ == "__main__":
    bot.run()
