"""An echo bot on mirai-api-http v2: replies to "ping" with "pong" and repeats "echo <text>".

    python examples/mirai_echo_bot.py ws://127.0.0.1:8080 <verifyKey> <qq>
    python examples/mirai_echo_bot.py http://127.0.0.1:8080 <verifyKey> <qq>   # HTTP adapter

Start it before mirai if you like: it waits for MAH and for the account to log in.
It reconnects after a dropped WebSocket (1006) with a fresh session, and exits
non-zero instead of hanging on a wrong verifyKey. Ctrl-C stops it cleanly.
"""

import logging
import sys

from qqreliable import MiraiBot
from qqreliable.mirai import Event

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8080"
bot = MiraiBot(
    url,
    verify_key=sys.argv[2] if len(sys.argv) > 2 else "1234567890",
    qq=int(sys.argv[3]) if len(sys.argv) > 3 else 10001,
)


@bot.on_message()  # group, friend, temp and stranger messages; never the bot's own
def echo(event: Event) -> None:
    text = event.plain_text.strip()
    if text == "ping":
        event.reply("pong", quote=event.is_group)
    elif text.startswith("echo "):
        event.reply(text[5:])


@bot.on("MemberJoinRequestEvent")
def join_request(event: Event) -> None:
    logging.info("%s (%s) asks to join group %s: %s", event["nick"], event["fromId"], event["groupId"],
                 event.get("message"))


@bot.on_connect
def connected(qq: int) -> None:
    logging.info("online as %s", qq)


@bot.on_disconnect
def disconnected(reason: str) -> None:
    logging.warning("connection lost (%s); reconnecting", reason)


if __name__ == "__main__":
    bot.run()  # raises AuthenticationError on a wrong verifyKey, ConnectionLost when a budget runs out
