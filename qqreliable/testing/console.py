"""``python -m qqreliable fake``: a FakeOneBot in a terminal.

Runs a :class:`~qqreliable.testing.FakeOneBot` on 127.0.0.1, prints the URLs a
bot can be pointed at, turns each line typed on stdin into a message event
(``/private TEXT`` for a private one), and shows connections and the messages
the bot delivers as they happen. It stops on Ctrl-C or SIGTERM (not at the end
of stdin, so it can run with its input closed).

The watcher thread (``fakeonebot:console:<port>``) waits on the server's
condition and ends with the server; the caller's thread reads the input.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, Iterable, Optional, TextIO

from .onebot import FakeOneBot

__all__ = ["Console", "HELP"]

HELP = (
    "each line you type arrives as a group message (group {group}, user {user}); "
    '"/private TEXT" sends it as a private message, "/drop" drops the connections '
    '(the bot should reconnect), "/help" repeats this; Ctrl-C stops'
)


class Console:
    """Drive ``onebot`` from text lines and report what happens on ``out``.

    Args:
        onebot: a started FakeOneBot.
        out: where the lines go (flushed after each line).
        group_id, user_id: the group and the user that typed lines come from.

    Thread-safe output; :meth:`handle` is called from one thread (the reader).
    """

    def __init__(self, onebot: FakeOneBot, out: TextIO, *, group_id: int = 30003, user_id: int = 20002) -> None:
        self.onebot = onebot
        self.out = out
        self.group_id = group_id
        self.user_id = user_id
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self._stop = threading.Event()

    def line(self, text: str = "") -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def step(self, who: str, text: str) -> None:
        self.line(f"[{time.monotonic() - self._t0:7.2f}s] {who:<4} {text}")

    def banner(self, version: str) -> None:
        server = self.onebot
        self.line(f"qqreliable {version} fake: FakeOneBot, a OneBot v11 server on {server.host}:{server.port}")
        self.line(f"  forward WebSocket  {server.ws_url}   (and {server.api_ws_url}, {server.event_ws_url})")
        self.line(f"  HTTP API           {server.url}/")
        self.line(f"  account            {server.self_id} ({server.nickname})")
        self.line(f"  access token       {'required (the one given with --token)' if server.access_token else 'none'}")
        heartbeat = server.heartbeat_interval
        self.line(f"  heartbeat          {'every %gs' % heartbeat if heartbeat else 'off'}")
        self.line(f'point a bot at it, e.g. Bot("{server.ws_url}") or Bot("{server.url}")')
        self.line(HELP.format(group=self.group_id, user=self.user_id))
        self.line()

    def start(self) -> None:
        """Start the watcher thread (it ends when the server stops or :meth:`stop` is called).

        Call it before the URLs are shown: what the watcher reports is counted from here.
        """
        server = self.onebot
        with server._cond:
            baseline = (len(server._sent), len(server._ws_conns), server._total_connections)
        if server._spawn(f"fakeonebot:console:{server.port}", self._watch, *baseline) is None:
            raise RuntimeError("the FakeOneBot is not running")

    def stop(self) -> None:
        self._stop.set()
        with self.onebot._cond:
            self.onebot._cond.notify_all()

    def handle(self, text: str) -> None:
        """One input line: a message event, or a ``/command``."""
        text = text.rstrip("\r\n")
        if not text.strip():
            return
        server = self.onebot
        if text.strip() == "/help":
            self.line(HELP.format(group=self.group_id, user=self.user_id))
        elif text.strip() == "/drop":
            self.step("you", f"drop every connection, no close frame ({server.connection_count} open)")
            server.drop_connections()
        elif text.startswith("/private "):
            body = text[len("/private "):]
            event = server.emit_private_message(self.user_id, body)
            self.step("you", f"user {self.user_id} -> bot (private): {body}  [message_id {event['message_id']}]")
        elif text.startswith("/"):
            self.line(f"unknown command {text.split()[0]!r}: " + HELP.format(group=self.group_id, user=self.user_id))
        else:
            event = server.emit_group_message(self.group_id, self.user_id, text)
            where = f"user {self.user_id} in group {self.group_id}"
            self.step("you", f"{where}: {text}  [message_id {event['message_id']}]")

    def _watch(self, seen: int, open_now: int, total: int) -> None:
        server = self.onebot
        while True:
            with server._cond:
                server._cond.wait_for(
                    lambda seen=seen, open_now=open_now, total=total: self._stop.is_set()  # type: ignore[misc]
                    or server._stop_event.is_set()
                    or len(server._sent) != seen
                    or len(server._ws_conns) != open_now
                    or server._total_connections != total,
                    1.0,
                )
                if self._stop.is_set() or server._stop_event.is_set():
                    return
                new = [dict(m) for m in server._sent[seen:]]
                seen += len(new)
                now_open, now_total = len(server._ws_conns), server._total_connections
            opened = now_total - total
            closed = open_now + opened - now_open  # a refused (NapCat-style) upgrade counts as closed
            if opened > 0:
                self.step("bot", f"connected ({now_open + max(closed, 0)} WebSocket connection(s) open)")
            if closed > 0:
                self.step("bot", f"disconnected ({now_open} WebSocket connection(s) open)")
            open_now, total = now_open, now_total
            for message in new:
                self.step("bot", _describe(message))


def _describe(message: Dict[str, Any]) -> str:
    where = f"group {message['group_id']}" if message["message_type"] == "group" else f"user {message['user_id']}"
    return f"-> {where}: {message['raw_message']}  [message_id {message['message_id']}]"


def run(
    lines: Iterable[str],
    out: TextIO,
    *,
    version: str,
    port: int = 3001,
    access_token: Optional[str] = None,
    heartbeat: Optional[float] = 30.0,
    reverse: Iterable[str] = (),
    post: Iterable[str] = (),
    secret: Optional[str] = None,
    stopped: Optional[threading.Event] = None,
) -> int:
    """Serve until ``lines`` ends and then ``stopped`` is set, or a KeyboardInterrupt.

    ``reverse``: reverse-WebSocket URLs of bots to dial as well (as NapCat does with a
    ``websocketClients`` entry), with ``access_token`` as ``Authorization: Bearer``.
    ``post``: HTTP POST URLs every event is posted to (go-cqhttp's ``http`` post
    section), signed with ``secret``; a quick operation in the answer is carried out.

    Returns the exit code: 0 after a clean stop, 1 when the port cannot be bound.
    """
    onebot = FakeOneBot(port=port, access_token=access_token, heartbeat_interval=heartbeat)
    try:
        onebot.start()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        out.write(f"cannot listen on 127.0.0.1:{port}: {reason} (--port 0 picks a free port)\n")
        out.flush()
        onebot.stop()
        return 1
    console = Console(onebot, out)
    try:
        console.start()  # before the banner: nothing can connect before the watcher's baseline
        console.banner(version)
        for url in reverse:
            onebot.connect_reverse(url, access_token=access_token)
            console.line(f"  dialling {url} (reverse WebSocket, redialled when it drops)")
        for url in post:
            onebot.post_events(url, secret=secret)
            console.line(f"  posting every event to {url} (HTTP POST{', signed' if secret else ''})")
        for text in lines:
            console.handle(text)
        wait = stopped if stopped is not None else threading.Event()
        while not wait.wait(1.0):  # input closed: keep serving until Ctrl-C / SIGTERM
            pass
    except KeyboardInterrupt:
        pass
    finally:
        console.stop()
        onebot.stop()
    console.line("stopped")
    return 0
