"""Stream an LLM's answer into a C2C chat (the official API's ``stream`` field).

    QQBOT_APP_ID=... QQBOT_SECRET=... python examples/official_llm_stream.py
    python examples/official_llm_stream.py --fake

``fake_llm`` stands in for a model: a generator of text pieces, with a tool
call in the middle (``BREAK`` closes the current stream and opens a new one).
In C2C the answer appears as it is generated, one chunk per second at most;
in groups it is gathered and sent once. Every rule AstrBot learnt the hard way
is kept: only new text per chunk, no ``stream.id`` before the platform gave
one, the final ``state=10`` chunk always sent and ending with a newline.
"""

import logging
import os
import sys
import threading
import time
from typing import Iterator, Union

from qqreliable import OfficialBot
from qqreliable.official import Event
from qqreliable.official.stream import BREAK

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

fake = None
if "--fake" in sys.argv:
    from qqreliable.testing import FakeOfficial

    fake = FakeOfficial().start()
    bot = OfficialBot(app_id=fake.app_id, secret=fake.secret, api_base=fake.url, token_url=fake.token_url)
else:
    bot = OfficialBot(app_id=os.environ["QQBOT_APP_ID"], secret=os.environ["QQBOT_SECRET"])


def fake_llm(question: str) -> Iterator[Union[str, object]]:
    for word in f"You asked: {question}. Let me look that up.".split(" "):
        time.sleep(0.15)  # the model thinking
        yield word + " "
    yield BREAK  # a tool call: the first answer is closed while the tool runs
    time.sleep(0.5)
    for word in "The tool says: 42.".split(" "):
        time.sleep(0.15)
        yield word + " "


@bot.on_message("c2c")
@bot.on_message("group")
def answer(event: Event) -> None:
    receipt = event.reply_stream(fake_llm(event.plain_text.strip()), interval=1.0)
    logging.info("streamed %s chunk(s), message %s", receipt.get("chunks"), receipt.message_id)
    if fake is not None:
        bot.stop()


@bot.on_connect
def connected(bot_id: str) -> None:
    if fake is not None:
        threading.Timer(0.3, lambda: fake.emit_c2c_message("user-1", "what is the answer?")).start()


if __name__ == "__main__":
    try:
        bot.run()
    finally:
        if fake is not None:
            for message in fake.sent_messages:
                logging.info("the user sees (%s): %r", message["stream"], message["text"])
            fake.stop()
