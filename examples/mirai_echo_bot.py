"""An echo bot on mirai-api-http v2: replies to "ping" with "pong" and repeats "echo <text>".

    python examples/mirai_echo_bot.py ws://127.0.0.1:8080 <verifyKey> <qq>
    python examples/mirai_echo_bot.py http://127.0.0.1:8080 <verifyKey> <qq>   # HTTP adapter

Start it before mirai if you like: it waits for MAH and for the account to log in.
It reconnects after a dropped WebSocket (1006) with a fresh session, and exits
non-zero instead of hanging on a wrong verifyKey. Ctrl-C stops it cleanly.

To try it without a QQ account, start FakeMirai (qqreliable.testing) in an interactive
Python, run this script against it, then make messages arrive:

    python -i -c "from qqreliable.testing import FakeMirai; m = FakeMirai(port=8080).start()"
    >>> m.emit_group_message(100, 2, "ping")
    >>> m.sent_messages[-1]["messageChain"]     # [{'type': 'Plain', 'text': 'pong'}]
"""

import argparse
import logging

from qqreliable import MiraiBot
from qqreliable.mirai import Event

parser = argparse.ArgumentParser(description="An echo bot on mirai-api-http v2 (ws:// or http:// adapter).")
parser.add_argument("url", nargs="?", default="ws://127.0.0.1:8080", help="MAH's address (default %(default)s)")
parser.add_argument("verify_key", nargs="?", default="1234567890", help="MAH's verifyKey (default %(default)s)")
parser.add_argument("qq", nargs="?", type=int, default=10001, help="the bot's QQ number (default %(default)s)")
args = parser.parse_args()

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

bot = MiraiBot(args.url, verify_key=args.verify_key, qq=args.qq)


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
