"""``python -m qqreliable demo | doctor URL | fake``.

``demo`` runs the main job offline: a bot against the built-in FakeOneBot,
showing a message round trip, a dropped connection and the reconnect, a
half-open link caught by the heartbeat watchdog, garbage frames shrugged off,
a reply answered with retcode 1200 after delivery (verified, not resent), an
image whose URL expired (fetched through get_image), and a call that never
gets an answer timing out on its own.

``doctor`` checks a real OneBot endpoint line by line and exits non-zero when
something is wrong.

``fake`` runs the built-in OneBot server by itself, prints its URLs, and turns
lines typed on stdin into messages, so a bot can be tried without a QQ account.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import statistics
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO
from urllib.parse import urlsplit

from . import __version__
from .onebot.bot import Bot
from .onebot.events import Event
from .exceptions import ApiTimeout, AuthenticationError, ConnectFailed, Error
from .reliability import Backoff

__all__ = ["main", "demo", "doctor", "fake"]

DESCRIPTION = (
    "qqreliable's command line: 'demo' runs a bot against the built-in OneBot server with "
    "faults, 'doctor URL' checks a real OneBot endpoint, 'fake' runs the built-in OneBot "
    "server for your own bot."
)
HEARTBEAT_WAIT = 65.0
"""Seconds doctor waits for a heartbeat: NapCat's and go-cqhttp's default interval is 30 s
(60 s on some), so two beats' worth plus a margin."""
TOKEN_ENV = "QQRELIABLE_TOKEN"


class _Out:
    """Timestamped lines on a stream (the CLI's one output channel)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._t0 = time.monotonic()
        self._lock = threading.Lock()

    def line(self, text: str = "") -> None:
        with self._lock:
            self._stream.write(text + "\n")
            self._stream.flush()

    def step(self, who: str, text: str) -> None:
        self.line(f"[{time.monotonic() - self._t0:6.2f}s] {who:<9} {text}")


def demo(out: Optional[TextIO] = None) -> int:
    """Run the demo; return the process exit code."""
    from .testing import FakeOneBot
    from .testing.media import sample_png

    o = _Out(out or sys.stdout)
    heartbeat = 0.4
    with FakeOneBot(heartbeat_interval=heartbeat, nickname="DemoBot") as server:
        o.line(f"qqreliable {__version__} demo: an echo bot against FakeOneBot at {server.ws_url}")
        o.line("(a real OneBot v11 server on 127.0.0.1, with faults on demand)")
        o.line()
        bot = Bot(
            server.ws_url,
            reconnect=Backoff(initial=0.1, maximum=1.0),
            api_timeout=1.0,
            ping_interval=5.0,
            media_cache=False,  # a demo leaves nothing behind in ~/.cache
        )
        cond = threading.Condition()
        state: Dict[str, int] = {
            "connects": 0, "disconnects": 0, "replies": 0, "heartbeats": 0, "images": 0, "bad_images": 0,
        }

        @bot.on_meta_event("heartbeat")
        def beat(event: Event) -> None:
            with cond:
                state["heartbeats"] += 1
                cond.notify_all()

        @bot.on_connect
        def connected(self_id: int) -> None:
            with cond:
                state["connects"] += 1
                word = "connected" if state["connects"] == 1 else "reconnected"
                cond.notify_all()
            o.step("bot", f"{word} as {self_id}")

        @bot.on_disconnect
        def disconnected(reason: str) -> None:
            with cond:
                state["disconnects"] += 1
                cond.notify_all()
            o.step("bot", f"disconnected: {reason}; reconnecting with backoff")

        @bot.on_message("group")
        def echo(event: Event) -> None:
            images = [seg for seg in event.message if seg.type == "image"]
            if images:
                started = time.monotonic()
                try:
                    media = bot.fetch_image(images[0], timeout=10)
                except Error as exc:
                    o.step("bot", f"no image: {exc}")
                    return
                # Say only what was checked: the bytes are the very PNG the server sent.
                same = media.data == sample_png()
                verdict = "checked: the PNG that was sent" if same else "CHECK FAILED: not the PNG that was sent"
                o.step(
                    "bot",
                    f"got the image from {media.source!r} in {time.monotonic() - started:.2f}s: "
                    f"{media.content_type}, {media.size} bytes ({verdict})",
                )
                with cond:
                    state["images" if same else "bad_images"] += 1
                    cond.notify_all()
                return
            if event.plain_text.startswith("ping"):
                text = "pong" + event.plain_text[4:]
                receipt = event.reply(text)
                how = f", verified after {receipt.attempts} attempt(s)" if receipt.verified else ""
                o.step("bot", f"replied {text!r} (message_id {receipt.message_id}{how})")
                with cond:
                    state["replies"] += 1
                    cond.notify_all()

        def wait(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
            with cond:
                return cond.wait_for(predicate, timeout)

        def round_trip(n: int) -> bool:
            o.step("user", f"says 'ping {n}' in group 30003")
            server.emit_group_message(30003, 20002, f"ping {n}")
            return wait(lambda: state["replies"] >= n)

        ok = True
        with bot:
            ok &= wait(lambda: state["connects"] >= 1)
            ok &= round_trip(1)

            o.line()
            o.step("fault", "the backend drops the socket without a close frame (close 1006)")
            server.drop_connections()
            ok &= wait(lambda: state["connects"] >= 2)
            ok &= round_trip(2)

            o.line()
            seen = state["heartbeats"]
            ok &= wait(lambda: state["heartbeats"] > seen)  # the bot has learned the interval
            o.step("fault", f"the link goes half-open: TCP up, nothing flows (heartbeat every {heartbeat}s)")
            started = time.monotonic()
            server.half_open()
            ok &= wait(lambda: state["disconnects"] >= 2)
            o.step("bot", f"dead link noticed after {time.monotonic() - started:.2f}s (limit: 2.5 heartbeats)")
            ok &= wait(lambda: state["connects"] >= 3)
            ok &= round_trip(3)

            o.line()
            o.step("fault", "the backend sends three garbage frames")
            for junk in ("not json{", "[1, 2, 3]", b"\xff\xfe binary"):
                server.send_garbage(junk)
            ok &= round_trip(4)
            o.step("bot", f"garbage ignored and counted: bad_frames={bot.stats()['bad_frames']}")

            o.line()
            o.step("fault", "the backend delivers the next reply, then answers retcode 1200 'Timeout' (NapCat)")
            server.report_self_messages = True
            server.fail_next("send_group_msg", 1200, deliver=True)
            ok &= round_trip(5)
            copies = sum(1 for m in server.sent_messages if m.get("raw_message") == "pong 5")
            verdict = "checked: not resent" if copies == 1 else "CHECK FAILED"
            o.step("bot", f"'pong 5' is in the group {copies} time(s) ({verdict})")
            ok &= copies == 1

            o.line()
            png = sample_png()
            segment = server.media.add(png)
            server.media.set_url_mode(segment["data"]["file"], "expired")
            server.media.set_api_mode("url", delay=0.3)
            o.step("fault", "an image arrives whose URL has expired; get_image answers after 0.3s")
            server.emit_group_message(30003, 20002, [segment])
            ok &= wait(lambda: state["images"] + state["bad_images"] >= 1) and state["bad_images"] == 0

            o.line()
            o.step("fault", "the backend never answers get_status (api_timeout=1s)")
            server.stall("get_status")
            started = time.monotonic()
            try:
                bot.get_status()
                o.step("bot", "unexpected answer")
                ok = False
            except ApiTimeout:
                o.step("bot", f"ApiTimeout after {time.monotonic() - started:.2f}s; other calls unaffected:")
            info = bot.get_login_info()
            o.step("bot", f"get_login_info -> {info}")
            stats = bot.stats()
        o.line()
        o.line(
            f"summary: {stats['events_received']} events received, {state['replies']} replies sent, "
            f"{stats['reconnects']} reconnects, {stats['bad_frames']} bad frames dropped, "
            f"{len(server.sent_messages)} messages delivered, "
            f"{stats['sends']['resent']} resent"
        )
        o.line("all good" if ok else "SOMETHING WENT WRONG")
        return 0 if ok else 1


def _reason(exc: BaseException) -> str:
    """What a failed TCP connect means, in words."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens on that port)"
    if isinstance(exc, socket.timeout):
        return "timed out (a firewall, or the wrong host)"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror or exc})"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _probe(url: str, timeout: float) -> Optional[str]:
    """Open and close one TCP connection to ``url``'s host and port; the failure, or None."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme.lower() in ("https", "wss") else 80)
    except ValueError as exc:  # a port out of range
        return f"bad port in {url!r}: {exc}"
    host = parts.hostname or "127.0.0.1"
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"cannot connect to {host}:{port}: {_reason(exc)}"


def doctor(
    url: str, token: Optional[str] = None, out: Optional[TextIO] = None, heartbeat_wait: float = HEARTBEAT_WAIT
) -> int:
    """Check a OneBot endpoint, one line per check and a ``verdict:`` line at the end.

    Returns:
        The exit code: 0 when everything needed works, 1 otherwise.

    Blocking: up to ``heartbeat_wait`` seconds for a heartbeat on a WebSocket, plus
    about 10 s per unanswered call.
    """
    o = _Out(out or sys.stdout)
    failures = 0

    def report(verdict: str, what: str, detail: str = "") -> None:
        nonlocal failures
        if verdict == "FAIL":
            failures += 1
        o.line(f"{verdict:<5} {what}" + (f": {detail}" if detail else ""))

    try:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("ws", "wss", "http", "https"):
            report("FAIL", "url", f"{url!r} is not ws://, wss://, http:// or https://")
            return 1
        o.line(f"qqreliable doctor {__version__}: {url}")
        _doctor_checks(url, scheme, token, report, o, heartbeat_wait)
    finally:
        o.line("verdict: " + ("everything works" if not failures else f"{failures} problem(s) found"))
    return 0 if not failures else 1


def _doctor_checks(
    url: str,
    scheme: str,
    token: Optional[str],
    report: Callable[..., None],
    o: _Out,
    heartbeat_wait: float,
) -> None:
    websocket = scheme in ("ws", "wss")
    problem = _probe(url, timeout=5.0)
    if problem is not None:
        report("FAIL", "reachable", problem)
        return
    heartbeats: List[Event] = []
    got_heartbeat = threading.Event()
    bot = Bot(
        url,
        access_token=token,
        reconnect=Backoff(initial=0.2, maximum=1.0, max_attempts=1),
        api_timeout=10.0,
        connect_timeout=5.0,
        media_cache=False,
    )

    @bot.on_meta_event("heartbeat")
    def on_heartbeat(event: Event) -> None:
        heartbeats.append(event)
        got_heartbeat.set()

    def token_refused(exc: Error) -> Optional[AuthenticationError]:
        """The refusal when ``exc`` (or, on a WebSocket, the connection's end) is a refused token."""
        if isinstance(exc, AuthenticationError):
            return exc
        if websocket:  # NapCat/LLOneBot accept the handshake, then close with retcode 1403
            try:
                bot.wait_connected(2)
            except AuthenticationError as refusal:
                return refusal
            except Error:
                return None
        return None

    def refused(exc: AuthenticationError) -> None:
        where = f"--token (or ${TOKEN_ENV})"
        given = f"check {where}" if token else f"none was given: use {where}"
        report("FAIL", "access token", f"refused; {given}. {exc}")

    try:
        if websocket:
            bot.start()
            try:
                bot.wait_connected(10)
            except AuthenticationError as exc:
                report("ok", "reachable", "WebSocket handshake answered")
                refused(exc)
                return
            except Error as exc:
                report("FAIL", "reachable", str(exc))
                return
            report("ok", "reachable", "WebSocket handshake completed")
        else:
            report("ok", "reachable", "the port accepts connections")
        # The token counts as accepted only once a call was answered: NapCat and LLOneBot
        # complete a WebSocket handshake with a wrong token and refuse it a moment later.
        try:
            version = bot.get_version_info()
        except Error as exc:
            refusal = token_refused(exc)
            if refusal is not None:
                refused(refusal)
                return
            report("FAIL", "get_version_info", str(exc))
            if isinstance(exc, ConnectFailed):
                return
        else:
            report("ok", "access token", "accepted" if token else "none needed")
            report("ok", "get_version_info", f"{version.get('app_name')} {version.get('app_version')}")
        try:
            login = bot.get_login_info()
            report("ok", "get_login_info", f"{login.get('nickname')} ({login.get('user_id')})")
        except Error as exc:
            refusal = token_refused(exc)
            if refusal is not None:
                refused(refusal)
                return
            report("FAIL", "get_login_info", str(exc))
        try:
            status = bot.get_status()
            online = status.get("online")
            report("ok" if online is not False else "FAIL", "account online", str(online))
        except Error as exc:
            report("warn", "get_status", str(exc))
        if websocket:
            if not got_heartbeat.is_set():
                o.line(f"...   heartbeat: waiting up to {heartbeat_wait:g}s for one (--heartbeat-wait to change)")
            if got_heartbeat.wait(heartbeat_wait):
                interval = heartbeats[0].get("interval")
                report("ok", "heartbeat", f"every {interval} ms")
            else:
                report("warn", "heartbeat", f"none within {heartbeat_wait:g}s: dead links are found by pings only")
        else:
            report("info", "heartbeat", "HTTP API has no push channel")
        latencies = []
        for _ in range(5):
            started = time.monotonic()
            try:
                bot.get_status()
            except Error as exc:
                report("FAIL", "round trip", str(exc))
                break
            latencies.append((time.monotonic() - started) * 1000)
        if latencies:
            verdict = "ok" if statistics.median(latencies) < 1000 else "warn"
            report(verdict, "round trip", f"median {statistics.median(latencies):.1f} ms over {len(latencies)} calls")
    finally:
        bot.stop()


def fake(
    port: int = 3001,
    token: Optional[str] = None,
    heartbeat: Optional[float] = 30.0,
    lines: Optional[Any] = None,
    out: Optional[TextIO] = None,
    reverse: Sequence[str] = (),
    post: Sequence[str] = (),
    secret: Optional[str] = None,
) -> int:
    """Run the built-in OneBot server until Ctrl-C or SIGTERM; return the exit code.

    Each line of ``lines`` (default: stdin) becomes a group message; see
    :mod:`qqreliable.testing.console`.
    """
    from .testing.console import run

    previous: Dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        def on_signal(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        # SIGINT too: a shell starts background jobs with SIGINT ignored.
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, on_signal)
    try:
        return run(
            lines if lines is not None else sys.stdin,
            out or sys.stdout,
            version=__version__,
            port=port,
            access_token=token,
            heartbeat=heartbeat,
            reverse=reverse,
            post=post,
            secret=secret,
        )
    finally:
        for signum_, handler in previous.items():
            signal.signal(signum_, handler)


def worker(target: str, *, queue: Optional[str] = None, burst: bool = False, verbose: bool = False) -> int:
    """``python -m qqreliable worker app:bot``: see :mod:`qqreliable.scale.queue`."""
    if not verbose:
        logging.getLogger().setLevel(logging.WARNING)
    try:
        from .scale.queue import serve
    except ImportError as exc:
        sys.stderr.write(f"the worker needs the redis extra: pip install 'qqreliable[redis]' ({exc})\n")
        return 2

    def ready() -> None:
        sys.stdout.write("WORKER READY\n")
        sys.stdout.flush()

    try:
        return serve(target, queue=queue, burst=burst, ready=ready)
    except (ValueError, ImportError, Error) as exc:
        sys.stderr.write(f"worker: {exc}\n")
        return 2


def _prog() -> str:
    """``qqreliable`` when run as the console script, ``python -m qqreliable`` otherwise."""
    argv0 = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if argv0 in ("", "-c", "__main__.py", "-m") or argv0.endswith(".py"):
        return "python -m qqreliable"
    return argv0


def _parser(prog: Optional[str] = None) -> argparse.ArgumentParser:
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
        help="show the library's log (INFO and above) on stderr",
    )
    parser = argparse.ArgumentParser(prog=prog or _prog(), description=DESCRIPTION, parents=[verbose])
    parser.add_argument("--version", action="version", version=f"qqreliable {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{demo,doctor,fake,worker}")
    sub.required = True
    sub.add_parser(
        "demo", parents=[verbose], help="an example bot against the built-in OneBot server, with faults",
        description="Run an echo bot against the built-in OneBot server and break things on purpose.",
    )
    doc = sub.add_parser(
        "doctor", parents=[verbose], help="check a real OneBot endpoint",
        description="Check a real OneBot endpoint, one line per check, then a verdict; exit 1 on a problem.",
    )
    doc.add_argument("url", help="ws://host:port/ or http://host:port")
    doc.add_argument(
        "--token", default=None,
        help=f"the access token (default: the {TOKEN_ENV} environment variable, so it stays out of shell history)",
    )
    doc.add_argument(
        "--heartbeat-wait", type=float, default=HEARTBEAT_WAIT, metavar="SECONDS",
        help="how long to wait for a heartbeat on a WebSocket (default: %(default)g)",
    )
    fk = sub.add_parser(
        "fake", parents=[verbose], help="run the built-in OneBot server for your own bot",
        description=(
            "Run FakeOneBot, the built-in OneBot v11 server, on 127.0.0.1 and print its URLs. "
            "Each line typed on stdin arrives as a group message; '/private TEXT' sends a private "
            "one, '/drop' drops the connections. Ctrl-C stops it."
        ),
    )
    fk.add_argument("--port", type=int, default=3001, help="the port (default: %(default)s; 0 picks a free one)")
    fk.add_argument(
        "--token", default=None,
        help=f"require this access token (default: the {TOKEN_ENV} environment variable, else none)",
    )
    fk.add_argument(
        "--heartbeat", type=float, default=30.0, metavar="SECONDS",
        help="heartbeat interval (default: %(default)g; 0 for none)",
    )
    fk.add_argument(
        "--reverse", action="append", default=[], metavar="URL",
        help="also dial this reverse-WebSocket URL of a bot (ws://host:port/path); may be repeated",
    )
    fk.add_argument(
        "--post", action="append", default=[], metavar="URL",
        help="also POST every event to this URL of a bot (http://host:port/path), as go-cqhttp; may be repeated",
    )
    fk.add_argument("--secret", default=None, help="sign --post bodies with this secret (X-Signature)")
    work = sub.add_parser(
        "worker", parents=[verbose], help="run the handlers of a bot with handlers='queue' (RQ worker)",
        description=(
            "Import the bot from MODULE:ATTRIBUTE (a bot with store='redis://…', handlers='queue') and "
            "run its handlers for the events its connection owner queues. Needs qqreliable[redis]."
        ),
    )
    work.add_argument("target", help="module:attribute of the bot, e.g. app:bot")
    work.add_argument("--queue", default=None, help="the RQ queue (default: the store's namespace)")
    work.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    return parser


def main(argv: Optional[Sequence[str]] = None, prog: Optional[str] = None) -> int:
    """The command line; returns the exit code."""
    parser = _parser(prog)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.CRITICAL,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    token = getattr(args, "token", None)
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    if args.command == "demo":
        return demo()
    if args.command == "worker":
        return worker(args.target, queue=args.queue, burst=args.burst, verbose=getattr(args, "verbose", False))
    if args.command == "fake":
        if args.heartbeat < 0:
            parser.error("--heartbeat must be 0 (none) or more")
        return fake(args.port, token, args.heartbeat or None, reverse=args.reverse, post=args.post, secret=args.secret)
    return doctor(args.url, token, heartbeat_wait=args.heartbeat_wait)
