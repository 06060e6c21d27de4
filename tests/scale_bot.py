"""What the bot applications of the multi-process tests (scale_app*.py) share: the echo
handler and the READY line. Imported as ``tests.scale_bot`` (the tests put the repository
on PYTHONPATH), whether the application runs as a script or is imported by a worker.

Environment: QQR_NAME (this process, the answer's prefix), QQR_DELAY (seconds a handler
takes), QQR_MARK (the handler calls ``mark()`` first: tells the test a handler started).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Callable


def serve(bot: Any, scene: str, mark: Callable[[], Any]) -> None:
    """Register on ``bot``: an answer ``<QQR_NAME>:<text>`` to every ``scene`` message
    (after ``mark()`` when QQR_MARK is set, then QQR_DELAY seconds), and ``READY`` on
    stdout once connected."""
    delay = float(os.environ.get("QQR_DELAY", "0"))

    @bot.on_message(scene)
    def answer(event: Any) -> None:
        if os.environ.get("QQR_MARK"):
            mark()
        if delay:
            threading.Event().wait(delay)  # a slow handler (an LLM call)
        event.reply(f"{os.environ.get('QQR_NAME', 'p')}:{event.plain_text}")

    @bot.on_connect
    def ready(self_id: Any) -> None:
        sys.stdout.write("READY\n")
        sys.stdout.flush()
