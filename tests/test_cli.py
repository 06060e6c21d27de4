"""The CLI: the demo is the README's main job; doctor checks a real endpoint."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from typing import Any

from qqreliable.cli import demo, doctor, main


def test_demo_runs_every_scene_and_exits_zero() -> None:
    out = io.StringIO()
    assert demo(out) == 0
    text = out.getvalue()
    for expected in (
        "connected as 10001",
        "reconnected as 10001",
        "dead link noticed",
        "garbage ignored and counted: bad_frames=3",
        "verified after 1 attempt(s)",
        "'pong 5' is in the group 1 time(s)",
        "got the image from 'api'",
        "(checked: the PNG that was sent)",
        "(checked: not resent)",
        "ApiTimeout after",
        "all good",
    ):
        assert expected in text, f"{expected!r} missing from:\n{text}"
    assert "CHECK FAILED" not in text


def test_doctor_on_a_healthy_websocket_endpoint(onebot_factory: Any) -> None:
    server = onebot_factory(heartbeat_interval=0.2, access_token="t0k")
    out = io.StringIO()
    assert doctor(server.ws_url, "t0k", out=out, heartbeat_wait=5) == 0
    text = out.getvalue()
    assert "ok    access token: accepted" in text
    assert "ok    heartbeat: every 200 ms" in text
    assert "verdict: everything works" in text
    assert "t0k" not in text.replace(server.ws_url, "")  # the token is never echoed


def test_doctor_on_http_endpoint(onebot: Any) -> None:
    out = io.StringIO()
    assert doctor(onebot.url, out=out, heartbeat_wait=1) == 0
    assert "ok    get_login_info" in out.getvalue()


def test_doctor_fails_on_wrong_token(onebot_factory: Any) -> None:
    server = onebot_factory(access_token="right")
    for url in (server.ws_url, server.url):
        out = io.StringIO()
        assert doctor(url, "wrong", out=out, heartbeat_wait=1) == 1
        assert "FAIL  access token" in out.getvalue()


def test_doctor_fails_on_unreachable_endpoint() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = io.StringIO()
    assert doctor(f"ws://127.0.0.1:{port}/", out=out, heartbeat_wait=1) == 1
    assert "FAIL  reachable" in out.getvalue()


def test_doctor_rejects_a_bad_url() -> None:
    out = io.StringIO()
    assert doctor("ftp://example.invalid/", out=out) == 1


def test_module_entry_point_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "qqreliable", "--help"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0
    assert "demo" in done.stdout and "doctor" in done.stdout


def test_main_dispatches_doctor(onebot: Any, capsys: Any) -> None:
    assert main(["doctor", onebot.url, "--heartbeat-wait", "1"]) == 0
    assert "verdict: everything works" in capsys.readouterr().out


# --------------------------------------------------------------------------- issue 11, items 9-11

import queue  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, List, Optional  # noqa: E402

from qqreliable import Bot  # noqa: E402
from qqreliable.cli import _parser  # noqa: E402
from qqreliable.testing import FakeOneBot  # noqa: E402

SCRIPT = Path(sys.executable).with_name("qqreliable")  # the console script of this venv


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(args: List[str], **kwargs: Any) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(args, capture_output=True, text=True, timeout=60, **kwargs)


def test_doctor_always_ends_with_a_verdict() -> None:
    for url in ("ftp://example.invalid/", f"ws://127.0.0.1:{_free_port()}/", f"http://127.0.0.1:{_free_port()}"):
        out = io.StringIO()
        assert doctor(url, out=out, heartbeat_wait=1) == 1
        assert out.getvalue().splitlines()[-1] == "verdict: 1 problem(s) found", out.getvalue()


def test_doctor_on_a_closed_http_port_is_readable() -> None:
    port = _free_port()
    out = io.StringIO()
    assert doctor(f"http://127.0.0.1:{port}", out=out, heartbeat_wait=1) == 1
    text = out.getvalue()
    assert f"FAIL  reachable: cannot connect to 127.0.0.1:{port}: connection refused" in text
    for internal in ("urllib3", "Max retries", "HTTPConnection", "NewConnectionError", "Errno"):
        assert internal not in text, text
    assert len(text.splitlines()) == 3  # header, reachable, verdict


def test_doctor_never_accepts_a_token_that_napcat_refuses(onebot_factory: Callable[..., FakeOneBot]) -> None:
    # auth_style="frame": the handshake completes, then one retcode-1403 frame and a close.
    server = onebot_factory(access_token="right", auth_style="frame", heartbeat_interval=0.2)
    for _ in range(5):
        out = io.StringIO()
        assert doctor(server.ws_url, "wrong", out=out, heartbeat_wait=1) == 1
        text = out.getvalue()
        assert "ok    access token" not in text and "FAIL  access token" in text, text
        assert "retcode 1403" in text and "wrong" not in text.replace(server.ws_url, "")
        assert text.splitlines()[-1] == "verdict: 1 problem(s) found"


def test_doctor_shows_the_heartbeat_wait(onebot: FakeOneBot) -> None:
    out = io.StringIO()
    assert doctor(onebot.ws_url, out=out, heartbeat_wait=0.3) == 0  # no heartbeats: a warning
    text = out.getvalue()
    assert "...   heartbeat: waiting up to 0.3s for one (--heartbeat-wait to change)" in text
    assert "warn  heartbeat: none within 0.3s" in text


def test_doctor_reads_the_token_from_the_environment(
    onebot_factory: Callable[..., FakeOneBot], capsys: Any, monkeypatch: Any
) -> None:
    server = onebot_factory(access_token="from-env")
    monkeypatch.setenv("QQRELIABLE_TOKEN", "from-env")
    assert main(["doctor", server.url]) == 0
    text = capsys.readouterr().out
    assert "ok    access token: accepted" in text and "from-env" not in text


def test_help_is_plain_text_with_defaults_and_the_right_program_name() -> None:
    module = _run([sys.executable, "-m", "qqreliable", "--help"])
    assert module.returncode == 0 and module.stdout.startswith("usage: python -m qqreliable ")
    for text in (module.stdout, _run([sys.executable, "-m", "qqreliable", "doctor", "--help"]).stdout):
        assert "``" not in text and "`" not in text
    doctor_help = _run([sys.executable, "-m", "qqreliable", "doctor", "--help"]).stdout
    assert "(default: 65)" in doctor_help and "QQRELIABLE_TOKEN" in doctor_help
    assert SCRIPT.exists(), SCRIPT
    script = _run([str(SCRIPT), "--help"])
    assert script.returncode == 0 and script.stdout.startswith("usage: qqreliable "), script.stdout
    fake_help = _run([str(SCRIPT), "fake", "--help"]).stdout
    assert "usage: qqreliable fake" in fake_help and "--port" in fake_help and "(default: 3001" in fake_help


def test_verbose_is_accepted_before_or_after_the_command() -> None:
    for argv in (["-v", "demo"], ["demo", "-v"], ["demo", "--verbose"], ["doctor", "ws://x/", "-v"]):
        assert _parser("qqreliable").parse_args(argv).verbose is True
    assert getattr(_parser("qqreliable").parse_args(["demo"]), "verbose", False) is False


class _Fake:
    """``python -m qqreliable fake`` as a real subprocess, its stdout read line by line."""

    def __init__(self, *args: str, stdin: Any = subprocess.PIPE) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qqreliable", "fake", *args],
            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
        )
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self.seen: List[str] = []
        self._reader = threading.Thread(target=self._read, name="test-fake-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, pattern: str, timeout: float = 30.0) -> "re.Match[str]":
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} in {timeout}s; got {self.seen}") from None
            if line is None:
                raise AssertionError(f"the fake exited before a line matching {pattern!r}; got {self.seen}")
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found

    def finish(self, signum: int) -> "tuple[int, str]":
        self.proc.send_signal(signum)
        code = self.proc.wait(15)
        self._reader.join(5)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def test_fake_serves_a_bot_and_turns_stdin_lines_into_messages(make_bot: Callable[..., Bot]) -> None:
    fake_cli = _Fake("--port", "0", "--token", "t0k", "--heartbeat", "0.2")
    try:
        ws_url = fake_cli.expect(r"forward WebSocket\s+(ws://127\.0\.0\.1:\d+/)").group(1)
        http_url = fake_cli.expect(r"HTTP API\s+(http://127\.0\.0\.1:\d+)/").group(1)
        fake_cli.expect(r"Ctrl-C stops")
        assert not any("t0k" in line for line in fake_cli.seen)  # the token is never echoed
        bot = make_bot(ws_url, access_token="t0k", pacing=None)

        @bot.on_message("group")
        def pong(event: Any) -> None:
            if event.plain_text == "ping":
                event.reply("pong")

        with bot:
            assert bot.wait_connected(10) == 10001
            fake_cli.expect(r"bot\s+connected \(1 WebSocket connection\(s\) open\)")
            assert fake_cli.proc.stdin is not None
            fake_cli.proc.stdin.write("ping\n")
            fake_cli.proc.stdin.flush()
            fake_cli.expect(r"you\s+user 20002 in group 30003: ping")
            fake_cli.expect(r"bot\s+-> group 30003: pong")
        http_bot = make_bot(http_url, access_token="t0k")
        assert http_bot.get_login_info()["user_id"] == 10001
        code, stderr = fake_cli.finish(signal.SIGINT)
        assert code == 0, stderr
        assert "Traceback" not in stderr
        assert fake_cli.seen[-1] == "stopped" or fake_cli.expect("^stopped$")
    finally:
        fake_cli.kill()


def test_fake_keeps_serving_with_stdin_closed_and_stops_on_sigterm() -> None:
    fake_cli = _Fake("--port", "0", stdin=subprocess.DEVNULL)
    try:
        url = fake_cli.expect(r"HTTP API\s+(http://127\.0\.0\.1:\d+)/").group(1)
        fake_cli.expect(r"Ctrl-C stops")
        bot = Bot(url)
        try:
            assert bot.get_login_info()["user_id"] == 10001  # still up after end of input
        finally:
            bot.stop()
        code, stderr = fake_cli.finish(signal.SIGTERM)
        assert code == 0 and "Traceback" not in stderr, stderr
        fake_cli.expect("^stopped$")
    finally:
        fake_cli.kill()


def test_fake_on_a_port_in_use_says_so() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = _run([sys.executable, "-m", "qqreliable", "fake", "--port", str(port)], stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stdout and "--port 0" in done.stdout
    assert "Traceback" not in done.stderr


def test_fake_dials_a_reverse_websocket_bot(make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(None, listen="ws://127.0.0.1:0/onebot/v11/ws", access_token="t0k", pacing=None)

    @bot.on_message("group")
    def pong(event: Any) -> None:
        event.reply("pong")

    with bot:
        fake_cli = _Fake("--port", "0", "--token", "t0k", "--reverse", bot.listen_url)
        try:
            fake_cli.expect(r"dialling ws://127\.0\.0\.1:\d+/onebot/v11/ws \(reverse WebSocket")
            assert bot.wait_connected(10) == 10001
            fake_cli.expect(r"bot\s+connected")
            assert fake_cli.proc.stdin is not None
            fake_cli.proc.stdin.write("hello\n")
            fake_cli.proc.stdin.flush()
            fake_cli.expect(r"bot\s+-> group 30003: pong")
            code, stderr = fake_cli.finish(signal.SIGINT)
            assert code == 0 and "Traceback" not in stderr, stderr
        finally:
            fake_cli.kill()


def test_fake_posts_events_and_carries_out_the_quick_operation(make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(None, listen="http://127.0.0.1:0/onebot", secret="s1", pacing=None)

    @bot.quick_operation("message.group")
    def quick(event: Any) -> Any:
        return {"reply": "pong", "at_sender": False}

    with bot:
        fake_cli = _Fake("--port", "0", "--heartbeat", "0", "--post", bot.listen_url, "--secret", "s1")
        try:
            fake_cli.expect(r"posting every event to http://127\.0\.0\.1:\d+/onebot \(HTTP POST, signed\)")
            assert fake_cli.proc.stdin is not None
            fake_cli.proc.stdin.write("ping\n")
            fake_cli.proc.stdin.flush()
            fake_cli.expect(r"bot\s+-> group 30003: pong")
            code, stderr = fake_cli.finish(signal.SIGINT)
            assert code == 0 and "Traceback" not in stderr, stderr
        finally:
            fake_cli.kill()
