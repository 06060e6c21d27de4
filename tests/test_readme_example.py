"""The testing example of the README, run as written, 50 times in a row (issue 11, item 1)."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any, Callable, Dict

from qqreliable import Bot
from qqreliable.testing import FakeOneBot

from .helpers import FAST

ROOT = Path(__file__).resolve().parent.parent


def _example(path: Path, name: str) -> str:
    """The python code block that defines the test function ``name`` in ``path``."""
    for block in re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
        if f"def {name}(" in block:
            return block
    raise AssertionError(f"no python block defining {name}() in {path.name}")


def make_my_bot(url: str) -> Bot:
    """The bot the example has in mind: answers 'ping' with 'pong'."""
    bot = Bot(url, reconnect=FAST, api_timeout=5.0, shutdown_grace=2.0, pacing=None, media_cache=False)

    @bot.on_message("group")
    def pong(event: Any) -> None:
        if event.plain_text == "ping":
            event.reply("pong")

    return bot


def _load(path: Path, name: str) -> Callable[[FakeOneBot], None]:
    namespace: Dict[str, Any] = {"make_my_bot": make_my_bot}
    exec(compile(_example(path, name), str(path), "exec"), namespace)
    return namespace[name]


def test_readme_testing_example_passes_50_runs_in_a_row() -> None:
    example = _load(ROOT / "README.md", "test_my_bot_answers_ping")
    for run in range(50):
        with FakeOneBot() as onebot:
            try:
                example(onebot)
            except Exception as exc:
                raise AssertionError(f"the README's example failed on run {run + 1} of 50: {exc!r}") from exc


def test_wait_for_call_returns_once_the_message_is_delivered(onebot: FakeOneBot, make_bot: Callable[..., Bot]) -> None:
    # The race of the README's old example, made certain: the call arrives at once
    # but runs 0.3 s later. The wait must cover the effect, not just the arrival.
    onebot.delay("send_group_msg", 0.3)
    bot = make_bot(onebot.ws_url, pacing=None)
    with bot:
        bot.wait_connected(5)
        sender = threading.Thread(target=bot.send_group_msg, kwargs={"group_id": 1, "message": "pong"},
                                  name="qqreliable:test-sender")
        sender.start()
        call = onebot.wait_for_call("send_group_msg")
        assert call["params"]["message"] == "pong"
        assert onebot.sent_messages and onebot.sent_messages[-1]["raw_message"] == "pong"
        sender.join(5)
        assert not sender.is_alive()


def test_wait_for_message_filters_and_reports(onebot: FakeOneBot, make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(onebot.ws_url, pacing=None)
    with bot:
        bot.wait_connected(5)
        bot.send_group_msg(group_id=7, message="one")
        bot.send_private_msg(user_id=8, message="two")
        assert onebot.wait_for_message(group_id=7)["raw_message"] == "one"
        assert onebot.wait_for_message(user_id=8)["raw_message"] == "two"
        assert onebot.wait_for_message(count=2)["raw_message"] == "two"
        assert onebot.wait_for_message(text="one")["group_id"] == 7
        try:
            onebot.wait_for_message(0.05, group_id=9)
        except TimeoutError as exc:
            assert "group_id=9" in str(exc) and "'two'" in str(exc)
        else:
            raise AssertionError("wait_for_message did not time out")
