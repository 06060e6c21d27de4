"""The runner in-process: 2.x plugins loaded and driven as 2.x core did, on FakeMirai."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
import textwrap
from typing import Any, Callable, Iterator, List

import pytest

from qqreliable.compat.qchatgpt2 import bot_from_config, load_config
from qqreliable.compat.qchatgpt2 import plugin as models
from qqreliable.compat.qchatgpt2.runner import Runner, install_aliases
from qqreliable.testing import FakeMirai, FakeOneBot

from ..helpers import FAST, eventually, qq_threads

pytestmark = pytest.mark.timeout(60)
_names = itertools.count(1)

HELLO = textwrap.dedent('''
    from pkg.plugin.models import *
    from pkg.plugin.host import EventContext, PluginHost
    from mirai import Plain, Image, At, MessageChain

    SEEN = []

    @register(name="Hello", description="says hi", version="0.1", author="me")
    class Hello(Plugin):
        def __init__(self, plugin_host: PluginHost):
            self.host = plugin_host

        @on(PersonMessageReceived)
        @on(GroupMessageReceived)
        def received(self, event: EventContext, **kwargs):
            chain = kwargs["message_chain"]
            SEEN.append(("received", event.name, sorted(kwargs), str(chain), chain.message_id))
            if str(chain) == "drop":
                event.prevent_default()

        @on(PersonNormalMessageReceived)
        @on(GroupNormalMessageReceived)
        def normal(self, event: EventContext, **kwargs):
            SEEN.append(("normal", kwargs["launcher_type"], kwargs["launcher_id"], kwargs["sender_id"],
                         kwargs["text_message"], kwargs["host"] is self.host))
            if kwargs["text_message"] == "boom":
                raise RuntimeError("boom")
            if kwargs["text_message"] in ("hello", "first"):
                event.add_return("reply", ["hi, ", At(kwargs["sender_id"])])
                event.prevent_default()
            if kwargs["text_message"] == "push":
                self.host.send_group_message(kwargs["launcher_id"], [Plain("pushed")])

        @on(PersonCommandSent)
        @on(GroupCommandSent)
        def command(self, event: EventContext, **kwargs):
            SEEN.append(("command", kwargs["command"], kwargs["params"], kwargs["is_admin"], kwargs["text_message"]))
            event.add_return("reply", [Plain("cmd " + kwargs["command"])])
''')

SECOND = textwrap.dedent('''
    from pkg.plugin.models import *

    @register(name="Second", description="", version="1.0", author="")
    class Second(Plugin):
        def __init__(self, plugin_host):
            pass

        @on(PersonNormalMessageReceived)
        def normal(self, event, **kwargs):
            if kwargs["text_message"] == "first":
                event.add_return("reply", ["second wins"])
                event.prevent_postorder()
''')

OFF = textwrap.dedent('''
    from pkg.plugin.models import *

    @register(name="Off", description="", version="1.0", author="")
    class Off(Plugin):
        def __init__(self, plugin_host):
            pass

        @on(PersonNormalMessageReceived)
        @on(GroupNormalMessageReceived)
        def normal(self, event, **kwargs):
            event.add_return("reply", ["off plugin answered"])
''')


def write_plugins(root, files: dict, switch=None, settings=None) -> str:
    plugins = root / f"qc2plugins_{next(_names)}"
    if isinstance(files, str):  # a directory to copy, e.g. examples/qchatgpt2/plugins
        shutil.copytree(files, str(plugins))
        files = {}
    plugins.mkdir(exist_ok=True)
    for rel, text in files.items():
        path = plugins / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if switch is not None:
        (plugins / "switch.json").write_text(json.dumps(switch), encoding="utf-8")
    if settings is not None:
        (plugins / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    return str(plugins)


@pytest.fixture
def run_plugins(tmp_path) -> Iterator[Callable[..., Any]]:
    saved = {k: sys.modules.get(k) for k in ("pkg", "pkg.plugin", "pkg.plugin.models", "pkg.plugin.host", "mirai")}
    bots: List[Any] = []
    runners: List[Runner] = []

    def make(cfg: dict, files: Any, **kw: Any) -> Runner:
        config = load_config(cfg)
        bot = bot_from_config(config, reconnect=FAST, api_timeout=5.0, shutdown_grace=2.0, pacing=None,
                              send_policy=None, workers=1)
        bots.append(bot)
        assert install_aliases() is True
        runner = Runner(bot, config, write_plugins(tmp_path, files, **kw))
        runners.append(runner)
        runner.load_plugins()
        runner.attach()
        bot.start()
        bot.wait_connected(5)
        return runner

    yield make
    for bot in bots:
        bot.stop()
    for runner in runners:
        runner.close()
    for k, v in saved.items():
        if v is None:
            sys.modules.pop(k, None)
        else:
            sys.modules[k] = v
    models.registry.classes, models.registry.instances = [], []
    assert not qq_threads()


def _cfg(mirai: FakeMirai, **extra: Any) -> dict:
    return dict({"mirai_http_api_config": {"host": "127.0.0.1", "port": mirai.port, "verifyKey": mirai.verify_key,
                                           "qq": mirai.qq}}, **extra)


def _seen(runner: Runner) -> list:
    name = next(m for m in sys.modules if m.endswith(".hello.main") and m.startswith(
        __import__("os").path.basename(runner.plugins_dir)))
    return sys.modules[name].SEEN  # type: ignore[attr-defined]


def test_person_flow_order_switch_and_commands(mirai: FakeMirai, run_plugins) -> None:
    runner = run_plugins(_cfg(mirai, admin_qq=2),
                         {"hello/__init__.py": "", "hello/main.py": HELLO, "second/__init__.py": "",
                          "second/main.py": SECOND, "off/__init__.py": "", "off/main.py": OFF},
                         switch={"Off": {"enabled": False}}, settings={"order": ["Second", "Hello"]})
    assert [type(p).name for p in runner.registry.instances] == ["Second", "Hello"]
    incoming = mirai.emit_friend_message(2, "hello")
    sent = mirai.wait_for_message()
    assert sent["type"] == "friend" and sent["target"] == 2
    assert sent["messageChain"] == [{"type": "Plain", "text": "hi, "}, {"type": "At", "target": 2}]
    seen = _seen(runner)
    assert seen[0] == ("received", "person_message_received",
                       ["host", "launcher_id", "launcher_type", "message_chain", "sender_id"], "hello",
                       incoming["messageChain"][0]["id"])
    assert seen[1] == ("normal", "person", 2, 2, "hello", True)

    mirai.emit_friend_message(2, "drop")       # prevent_default on *MessageReceived: nothing more
    mirai.emit_friend_message(3, "boom")       # a handler raising: logged, not fatal
    mirai.emit_friend_message(3, "nobody answers this")
    mirai.emit_friend_message(3, "first")      # Second is first and prevents the postorder
    assert mirai.wait_for_message(count=2)["messageChain"] == [{"type": "Plain", "text": "second wins"}]
    assert not any(entry[0] == "normal" and entry[4] in ("drop", "first") for entry in seen)
    assert ("normal", "person", 3, 3, "boom", True) in seen

    mirai.emit_friend_message(2, "!help a b")
    assert mirai.wait_for_message(count=3)["messageChain"] == [{"type": "Plain", "text": "cmd help"}]
    mirai.emit_friend_message(3, "！ver")
    assert mirai.wait_for_message(count=4)["messageChain"] == [{"type": "Plain", "text": "cmd ver"}]
    assert ("command", "help", ["a", "b"], True, "!help a b") in seen
    assert ("command", "ver", [], False, "！ver") in seen
    assert len(mirai.sent_messages) == 4  # the disabled plugin never answered
    eventually(lambda: "messages=7 replies=4" in runner.health(), what="the health line's counters")
    assert "health: connected=True reconnects=0" in runner.health()


def test_group_gating_quote_and_at_sender(mirai: FakeMirai, run_plugins) -> None:
    rules = {"default": {"at": True, "prefix": ["/ai"], "regexp": ["^hey"], "random_rate": 0.0},
             "200": {"at": False, "prefix": ["."], "regexp": [], "random_rate": 0.0}}
    runner = run_plugins(_cfg(mirai, response_rules=rules, quote_origin=True, at_sender=True),
                         {"hello/__init__.py": "", "hello/main.py": HELLO})
    seen = _seen(runner)
    mirai.emit_group_message(100, 5, "hello")                     # not addressed to the bot: left alone
    mirai.emit_group_message(100, 5, "hey you")                   # regexp: whole text
    incoming = mirai.emit_group_message(100, 5, "/ai hello")      # prefix stripped
    sent = mirai.wait_for_message()
    assert sent["type"] == "group" and sent["target"] == 100 and sent["quote"] == incoming["messageChain"][0]["id"]
    assert sent["messageChain"] == [{"type": "At", "target": 5}, {"type": "Plain", "text": "\n"},
                                    {"type": "Plain", "text": "hi, "}, {"type": "At", "target": 5}]
    mirai.emit_group_message(100, 6, [{"type": "At", "target": mirai.qq}, " hello"])   # @bot stripped
    assert mirai.wait_for_message(count=2)["messageChain"][0] == {"type": "At", "target": 6}
    mirai.emit_group_message(200, 6, [{"type": "At", "target": mirai.qq}, " hello"])   # at off in group 200
    mirai.emit_group_message(200, 6, ".push")                     # its own prefix; a host send from a handler
    assert mirai.wait_for_message(count=3)["messageChain"] == [{"type": "Plain", "text": "pushed"}]
    normals = [e for e in seen if e[0] == "normal"]
    assert [(e[2], e[4]) for e in normals] == [(100, "hey you"), (100, "hello"), (100, "hello"), (200, "push")]
    assert sum(1 for e in seen if e[0] == "received") == 6 and len(mirai.sent_messages) == 3


def test_nakuru_runner_answers_through_onebot(onebot: FakeOneBot, run_plugins) -> None:
    cfg = {"msg_source_adapter": "nakuru",
           "nakuru_config": {"host": "127.0.0.1", "port": onebot.port, "http_port": onebot.port, "token": ""}}
    runner = run_plugins(cfg, {"hello/__init__.py": "", "hello/main.py": HELLO})
    onebot.emit_private_message(8, "hello")
    sent = onebot.wait_for_message(user_id=8)
    assert sent["message"] == [{"type": "text", "data": {"text": "hi, "}}, {"type": "at", "data": {"qq": "8"}}]
    assert _seen(runner)[0][3] == "hello"


def test_api_surface_of_the_models() -> None:
    ctx = models.EventContext("x")
    assert ctx.get_return("reply") is None and ctx.get_return_value("reply") is None
    ctx.add_return("reply", ["a"])
    ctx.add_return("reply", ["b"])
    assert ctx.get_return("reply") == [["a"], ["b"]] and ctx.get_return_value("reply") == ["a"]
    assert not ctx.is_prevented_default() and not ctx.is_prevented_postorder()
    ctx.prevent_default()
    ctx.prevent_postorder()
    assert ctx.is_prevented_default() and ctx.is_prevented_postorder()
    assert models.require_ver("v2.5.1") is True
    with pytest.raises(RuntimeError, match="v3.0.0"):
        models.require_ver("v3.0.0")
    with pytest.raises(ValueError, match="unknown event"):
        models.on("nope")
    assert len(models.EVENTS) == 13 and models.SessionExplicitReset == "session_reset"


EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "qchatgpt2")


def test_the_examples_config_and_plugins(mirai: FakeMirai, run_plugins, monkeypatch) -> None:
    cfg = load_config(os.path.join(EXAMPLES, "config.py"))
    assert cfg["mirai_http_api_config"]["verifyKey"] == "yirimirai"
    cfg["mirai_http_api_config"].update(host="127.0.0.1", port=mirai.port, verifyKey=mirai.verify_key, qq=mirai.qq)
    monkeypatch.setenv("QC2_NEWS_GROUP", "300")
    monkeypatch.setenv("QC2_NEWS_INTERVAL", "0.05")
    runner = run_plugins(cfg, os.path.join(EXAMPLES, "plugins"))
    news = next(p for p in runner.registry.instances if type(p).name == "DailyNews")
    try:
        mirai.wait_for_message(count=2, timeout=10)   # the plugin's own thread, via the host
        first, second = mirai.sent_messages[:2]
        assert first["target"] == second["target"] == 300
        assert [first["messageChain"], second["messageChain"]] == [[{"type": "Plain", "text": "news #1"}],
                                                                   [{"type": "Plain", "text": "news #2"}]]
    finally:
        news.stop()
    before = len(mirai.sent_messages)
    mirai.emit_group_message(100, 5, "/ai hello")
    answer = mirai.wait_for_message(count=before + 1)
    assert answer["target"] == 100
    assert answer["messageChain"] == [{"type": "Plain", "text": "Hello, "}, {"type": "At", "target": 5}]
    mirai.emit_friend_message(6, "ping")
    assert mirai.wait_for_message(count=before + 2)["messageChain"] == [{"type": "Plain", "text": "pong"}]


SLOW = textwrap.dedent('''
    import threading
    from pkg.plugin.models import *

    RELEASE = threading.Event()
    DONE = []

    @register(name="Slow", description="", version="1.0", author="")
    class Slow(Plugin):
        def __init__(self, plugin_host):
            pass

        @on(PersonNormalMessageReceived)
        def normal(self, event, **kwargs):
            if kwargs["text_message"] == "slow":
                RELEASE.wait(30)       # stuck until the test releases it
                DONE.append("slow")
            event.add_return("reply", ["answer to " + kwargs["text_message"]])
''')


def test_a_stuck_handler_does_not_block_others_and_its_late_reply_is_dropped(mirai: FakeMirai, run_plugins) -> None:
    runner = run_plugins(_cfg(mirai, process_message_timeout=0.5, user_pool_num=4),
                         {"slow/__init__.py": "", "slow/main.py": SLOW})
    module = next(m for n, m in sys.modules.items() if n.endswith(".slow.main")
                  and n.startswith(os.path.basename(runner.plugins_dir)))
    mirai.emit_friend_message(2, "slow")
    mirai.emit_friend_message(2, "fast")      # the bot's single handler thread is freed after 0.5 s
    assert mirai.wait_for_message(timeout=10)["messageChain"] == [{"type": "Plain", "text": "answer to fast"}]
    eventually(lambda: runner.timed_out == 1, what="the timeout")
    module.RELEASE.set()
    eventually(lambda: runner.dropped == 1, what="the late reply dropped")
    assert module.DONE == ["slow"] and len(mirai.sent_messages) == 1
