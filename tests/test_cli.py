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
