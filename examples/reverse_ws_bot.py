"""A bot that NapCat / go-cqhttp / Lagrange connect to (reverse WebSocket), several accounts at once.

    python examples/reverse_ws_bot.py [ws://0.0.0.0:8080/onebot/v11/ws] [token]

Point each implementation's reverse-WebSocket ("WebSocket client") URL at the
address above, with the same token. Replies go back through the account that
received the message; messages missed while an account was disconnected are
read back from history after it reconnects (event.recovered is then True),
and an event delivered twice is handled once.
"""

import logging
import sys

from qqreliable import Bot, Event

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

bot = Bot(listen=sys.argv[1] if len(sys.argv) > 1 else "ws://0.0.0.0:8080/onebot/v11/ws",
          access_token=sys.argv[2] if len(sys.argv) > 2 else None)


@bot.on_connect
def hello(self_id: int) -> None:
    logging.info("account %s connected; now serving %s", self_id, bot.self_ids)


@bot.on_message()
def echo(event: Event) -> None:
    if event.plain_text.strip() == "ping":
        event.reply("pong" + (" (caught up after a reconnect)" if event.recovered else ""))


if __name__ == "__main__":
    bot.run()  # a port already in use raises ListenFailed here
