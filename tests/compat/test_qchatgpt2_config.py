"""QChatGPT 2.x config.py -> the bot it describes: keys, defaults, errors naming the key."""

from __future__ import annotations

import json
import types

import pytest

from qqreliable.compat.qchatgpt2 import PluginHost, bot_from_config, load_config
from qqreliable.mirai.bot import MiraiBot
from qqreliable.onebot.bot import Bot

MIRAI = {"host": "localhost", "port": 8080, "verifyKey": "yirimirai", "qq": 1234567890}


def test_adapter_absent_means_yirimirai_over_websocket() -> None:
    bot = bot_from_config({"mirai_http_api_config": dict(MIRAI)})
    assert isinstance(bot, MiraiBot) and bot.url == "ws://localhost:8080"
    assert bot.verify_key == "yirimirai" and bot.qq == 1234567890


def test_http_adapter_and_hosts_with_or_without_a_scheme() -> None:
    for host, adapter, url in [
        ("http://127.0.0.1", "HTTPAdapter", "http://127.0.0.1:8080"),
        ("ws://127.0.0.1", "WebSocketAdapter", "ws://127.0.0.1:8080"),
        ("//127.0.0.1", "HTTPAdapter", "http://127.0.0.1:8080"),
        ("127.0.0.1/", "WebSocketAdapter", "ws://127.0.0.1:8080"),
        ("http://127.0.0.1", "WebSocketAdapter", "ws://127.0.0.1:8080"),
    ]:
        cfg = {"msg_source_adapter": "yirimirai",
               "mirai_http_api_config": dict(MIRAI, host=host, adapter=adapter)}
        assert bot_from_config(cfg).url == url, host


def test_nakuru_gives_a_onebot_bot_on_gocq_http_and_forward_ws() -> None:
    cfg = {"msg_source_adapter": "nakuru",
           "nakuru_config": {"host": "127.0.0.1", "port": 6700, "http_port": 5700, "token": "tk"}}
    bot = bot_from_config(cfg)
    assert isinstance(bot, Bot) and bot.url == "http://127.0.0.1:5700"
    assert bot._events_client is not None and bot._events_client.url.startswith("ws://127.0.0.1:6700")


def test_config_py_file_module_and_admin_list(tmp_path) -> None:
    path = tmp_path / "config.py"
    path.write_text("import os\nmirai_http_api_config = {'host': 'localhost', 'port': 8080, "
                    "'verifyKey': 'k', 'qq': 10001}\nadmin_qq = [123, '456']\n", encoding="utf-8")
    bot = bot_from_config(str(path))
    assert PluginHost(bot).admin_qq == [123, 456]
    module = types.ModuleType("config")
    module.mirai_http_api_config = dict(MIRAI)  # type: ignore[attr-defined]
    module.admin_qq = 7  # type: ignore[attr-defined]
    assert PluginHost(bot_from_config(module)).admin_qq == [7]
    assert PluginHost(bot_from_config({"mirai_http_api_config": dict(MIRAI), "admin_qq": 0})).admin_qq == []


def test_override_json_only_when_asked(tmp_path) -> None:
    path = tmp_path / "config.py"
    path.write_text("mirai_http_api_config = {'host': 'localhost', 'port': 8080, 'verifyKey': 'k', 'qq': 1}\n",
                    encoding="utf-8")
    (tmp_path / "override.json").write_text(json.dumps(
        {"mirai_http_api_config": {"host": "localhost", "port": 9090, "verifyKey": "k2", "qq": 2}}), encoding="utf-8")
    assert bot_from_config(str(path)).url == "ws://localhost:8080"
    bot = bot_from_config(str(path), override=True)
    assert bot.url == "ws://localhost:9090" and bot.verify_key == "k2"
    assert load_config(str(path), override=str(tmp_path / "override.json"))["mirai_http_api_config"]["qq"] == 2
    with pytest.raises(FileNotFoundError, match="override"):
        load_config({"a": 1}, override=str(tmp_path / "missing.json"))


@pytest.mark.parametrize("cfg, exc, key", [
    ({"msg_source_adapter": "qq"}, ValueError, "msg_source_adapter"),
    ({}, ValueError, "mirai_http_api_config is missing"),
    ({"mirai_http_api_config": "x"}, TypeError, "mirai_http_api_config must be a dict"),
    ({"mirai_http_api_config": dict(MIRAI, adapter="Ws")}, ValueError, "mirai_http_api_config['adapter']"),
    ({"mirai_http_api_config": dict(MIRAI, port="eighty")}, ValueError, "mirai_http_api_config['port']"),
    ({"mirai_http_api_config": dict(MIRAI, port=70000)}, ValueError, "mirai_http_api_config['port']"),
    ({"mirai_http_api_config": dict(MIRAI, host="")}, ValueError, "mirai_http_api_config['host']"),
    ({"mirai_http_api_config": {k: v for k, v in MIRAI.items() if k != "qq"}}, ValueError,
     "mirai_http_api_config['qq'] is missing"),
    ({"mirai_http_api_config": dict(MIRAI, verifyKey=123)}, TypeError, "mirai_http_api_config['verifyKey']"),
    ({"mirai_http_api_config": dict(MIRAI), "admin_qq": ["x"]}, ValueError, "admin_qq"),
    ({"mirai_http_api_config": dict(MIRAI), "admin_qq": 1.5}, TypeError, "admin_qq"),
    ({"msg_source_adapter": "nakuru", "nakuru_config": {"http_port": "x"}}, ValueError, "nakuru_config['http_port']"),
])
def test_errors_name_the_key(cfg, exc, key) -> None:
    with pytest.raises(exc) as info:
        bot_from_config(cfg)
    assert key in str(info.value)


def test_a_broken_config_py_names_the_file(tmp_path) -> None:
    path = tmp_path / "config.py"
    path.write_text("mirai_http_api_config = {\n", encoding="utf-8")
    with pytest.raises(ValueError, match="config.py failed to load"):
        bot_from_config(str(path))
    with pytest.raises(FileNotFoundError):
        bot_from_config(str(tmp_path / "nope.py"))
    with pytest.raises(TypeError):
        bot_from_config(42)  # type: ignore[arg-type]
