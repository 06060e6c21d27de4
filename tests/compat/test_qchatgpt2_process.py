"""Seed 002 with the QChatGPT 2.x runner as a real process: a 1006 is survived, a mirai that is
not up is waited for, a wrong verifyKey exits non-zero at once, SIGINT/SIGTERM exit cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from typing import Any, Tuple

import pytest

from qqreliable.testing import FakeMirai

from ..helpers import Lines, reap, spawn_python

pytestmark = pytest.mark.timeout(60)

PLUGIN = textwrap.dedent('''
    from pkg.plugin.models import *
    from pkg.plugin.host import EventContext
    from mirai import Plain

    @register(name="Pong", description="", version="0.1", author="")
    class Pong(Plugin):
        def __init__(self, plugin_host):
            pass

        @on(GroupNormalMessageReceived)
        def answer(self, event: EventContext, **kwargs):
            if kwargs["text_message"] == "ping":
                event.add_return("reply", [Plain("pong")])
                event.prevent_default()
''')


def _spawn(tmp_path, mirai: FakeMirai, key: str) -> Tuple[Any, Lines, str]:
    config = tmp_path / "config.py"
    config.write_text(textwrap.dedent(f'''
        mirai_http_api_config = {{"adapter": "WebSocketAdapter", "host": "ws://127.0.0.1", "port": {mirai.port},
                                  "verifyKey": {key!r}, "qq": {mirai.qq}}}
        admin_qq = 0
        response_rules = {{"default": {{"at": True, "prefix": ["/ai"], "regexp": [], "random_rate": 0.0}}}}
    '''), encoding="utf-8")
    plugins = tmp_path / "plugins" / "pong"
    plugins.mkdir(parents=True, exist_ok=True)
    (plugins / "__init__.py").write_text("", encoding="utf-8")
    (plugins / "main.py").write_text(PLUGIN, encoding="utf-8")
    proc, _, err = spawn_python(
        ["-m", "qqreliable.compat.qchatgpt2", "--config", str(config), "--plugins", str(tmp_path / "plugins")],
        cwd=str(tmp_path),
    )
    return proc, err, str(config)


def test_answered_after_a_1006_then_sigterm_exits_cleanly(tmp_path, mirai: FakeMirai) -> None:
    proc, err, _ = _spawn(tmp_path, mirai, mirai.verify_key)
    try:
        err.wait_for("no LLM here")
        err.wait_for("online as 10001")
        mirai.drop_connections()                      # 1006: no close frame
        err.wait_for("disconnected")
        line = err.wait_for("online as 10001")   # the same process, a new session
        assert "reconnects=1" in line
        mirai.emit_group_message(100, 2, "/ai ping")
        sent = mirai.wait_for_message(timeout=15)
        assert sent["target"] == 100 and sent["messageChain"] == [{"type": "Plain", "text": "pong"}]
        assert proc.poll() is None
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 3.0
        err.wait_for("stopped; health:", timeout=2)
    finally:
        reap(proc)


def test_started_before_mirai_then_sigint(tmp_path, mirai: FakeMirai) -> None:
    mirai.down()
    proc, err, _ = _spawn(tmp_path, mirai, mirai.verify_key)
    try:
        err.wait_for("reconnecting in")
        mirai.up()
        err.wait_for("online as 10001")
        mirai.emit_group_message(100, 2, [{"type": "At", "target": mirai.qq}, " ping"])
        assert mirai.wait_for_message(timeout=15)["messageChain"] == [{"type": "Plain", "text": "pong"}]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        reap(proc)


def test_wrong_verify_key_exits_non_zero_fast_naming_key_and_file(tmp_path, mirai: FakeMirai) -> None:
    started = time.monotonic()
    proc, err, config = _spawn(tmp_path, mirai, "wrong-key")
    try:
        code = proc.wait(timeout=20)
    finally:
        reap(proc)
    assert code == 2
    assert time.monotonic() - started < 10.0
    line = err.wait_for("mirai_http_api_config['verifyKey']", timeout=5)
    assert config in line and "wrong verifyKey" in line


def test_bad_config_exits_non_zero_naming_the_key(tmp_path) -> None:
    config = tmp_path / "config.py"
    config.write_text("mirai_http_api_config = {'host': 'localhost', 'port': 'x', 'verifyKey': 'k', 'qq': 1}\n",
                      encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "qqreliable.compat.qchatgpt2", "--config", str(config)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "mirai_http_api_config['port']" in proc.stderr and str(config) in proc.stderr
