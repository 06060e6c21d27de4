"""One official-API bot under test, in a process of its own: ``official.py`` starts it.

    python _official_driver.py PEER MODE PORT APP_ID SECRET COUNT

PEER is ``qqreliable`` (the project's interpreter), ``botpy`` (qq-botpy) or
``nonebot`` (nonebot2 + nonebot-adapter-qq), the peers in the interpreter of their venv.
MODE ``events``: the C2C handler only counts;
``replies``: it answers every message with one passive reply. The driver writes
JSON lines to stdout: ``{"ready": t}`` once logged in, ``{"done": k, "t": t}``
each time its handler has run another COUNT times, ``{"seen": text, "t": t}`` for
messages whose text starts with "probe". End of stdin means stop. Times are
``time.monotonic()`` (one clock for every process on Linux).

qq-botpy has no configurable endpoints: its ``Route.DOMAIN``/``SCHEME`` are set
to the fake and the hard-coded token URL is rewritten inside aiohttp.
"""

import json
import logging
import sys
import threading
import time

PEER, MODE, PORT, APP_ID, SECRET, COUNT = sys.argv[1:7]
COUNT_N = int(COUNT)
logging.basicConfig(level=logging.WARNING)


def report(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Counter:
    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()

    def hit(self, text: str) -> None:
        now = time.monotonic()
        if text.startswith("probe"):
            report({"seen": text, "t": now})
            return
        with self.lock:
            self.n += 1
            n = self.n
        if n % COUNT_N == 0:
            report({"done": n, "t": now})


counter = Counter()


def run_qqreliable() -> None:
    from qqreliable import OfficialBot

    base = f"http://127.0.0.1:{PORT}"
    bot = OfficialBot(app_id=APP_ID, secret=SECRET, api_base=base, token_url=f"{base}/app/getAppAccessToken",
                      reconnect_steps=(1.0, 2.0, 5.0), pacing=None)  # peers do not pace either

    @bot.on_message("c2c")
    def handler(event) -> None:
        if MODE == "replies":
            event.reply("ok")
        counter.hit(event.plain_text)

    bot.on_connect(lambda bot_id: report({"ready": time.monotonic()}))
    bot.start()
    sys.stdin.read()  # until the parent closes it
    bot.stop()


def run_botpy() -> None:
    import aiohttp
    import botpy
    from botpy import http as botpy_http

    fake = f"127.0.0.1:{PORT}"
    botpy_http.Route.DOMAIN = fake
    botpy_http.Route.SCHEME = "http"
    original = aiohttp.ClientSession._request

    async def redirect(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
        return await original(self, method, str(url).replace("https://bots.qq.com", f"http://{fake}"), *args,
                              **kwargs)

    aiohttp.ClientSession._request = redirect

    class Client(botpy.Client):
        async def on_ready(self) -> None:
            report({"ready": time.monotonic()})

        async def on_c2c_message_create(self, message) -> None:  # type: ignore[no-untyped-def]
            if MODE == "replies":
                await message._api.post_c2c_message(openid=message.author.user_openid, msg_type=0,
                                                    msg_id=message.id, content="ok")
            counter.hit(message.content)

    threading.Thread(target=lambda: (sys.stdin.read(), __import__("os")._exit(0)), name="stdin-watch",
                     daemon=True).start()
    Client(intents=botpy.Intents(public_messages=True), timeout=10, log_level=logging.WARNING).run(
        appid=APP_ID, secret=SECRET)


def run_nonebot() -> None:
    import os

    import nonebot
    from nonebot.adapters.qq import Adapter, Bot, C2CMessageCreateEvent

    base = f"http://127.0.0.1:{PORT}"
    nonebot.init(
        driver="~httpx+~websockets", log_level="WARNING",
        qq_api_base=f"{base}/", qq_auth_base=f"{base}/app/getAppAccessToken",
        qq_bots=[{"id": APP_ID, "secret": SECRET, "intent": {"c2c_group_at_messages": True}}],
    )
    nonebot.get_driver().register_adapter(Adapter)
    nonebot.get_driver().on_bot_connect(lambda: report({"ready": time.monotonic()}))
    matcher = nonebot.on_message()

    @matcher.handle()
    async def handle(bot: Bot, event: C2CMessageCreateEvent) -> None:
        if MODE == "replies":
            await bot.send(event, "ok")
        counter.hit(event.get_plaintext())

    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), name="stdin-watch", daemon=True).start()
    nonebot.run()


if __name__ == "__main__":
    for name in ("botpy", "qqreliable"):
        logging.getLogger(name).setLevel(logging.WARNING)
    {"qqreliable": run_qqreliable, "botpy": run_botpy, "nonebot": run_nonebot}[PEER]()
