"""Read a QChatGPT 2.x ``config.py`` and build the bot it describes.

Same key spellings and defaults as QChatGPT 2.x: ``msg_source_adapter`` (absent:
``"yirimirai"``), ``mirai_http_api_config`` (``adapter`` absent: WebSocket), ``nakuru_config``
(go-cqhttp reached through OneBot v11), ``admin_qq`` (int or list). ``override.json`` is applied
only when asked. Pure functions apart from reading the config files; no threads.
"""

from __future__ import annotations

import importlib.util
import json
import os
import types
import weakref
from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Tuple, Union
from urllib.parse import urlsplit

__all__ = ["load_config", "bot_from_config", "admin_list", "config_of", "ConfigSource"]

ConfigSource = Union[str, "os.PathLike[str]", types.ModuleType, Mapping[str, Any]]

_ADAPTERS = ("WebSocketAdapter", "HTTPAdapter")
_SOURCES = ("yirimirai", "nakuru")
_CONFIGS: "weakref.WeakKeyDictionary[Any, Dict[str, Any]]" = weakref.WeakKeyDictionary()


def _origin(src: Any) -> str:
    if isinstance(src, types.ModuleType):
        return getattr(src, "__file__", None) or src.__name__
    if isinstance(src, Mapping):
        return str(src.get("__file__") or "the config dict")
    return os.fspath(src)


def load_config(src: ConfigSource, *, override: Union[bool, str, "os.PathLike[str]"] = False) -> Dict[str, Any]:
    """The config as a dict of its public names, with ``override.json`` applied when asked.

    Args:
        src: path to ``config.py``, an imported module, or a dict.
        override: ``True`` reads ``override.json`` beside ``config.py`` (the working
            directory for a module or dict), a path reads that file; its top-level keys
            replace the config's (as 2.x ``--override`` did).

    Blocking (reads files). Raises:
        FileNotFoundError: the config or the asked-for override file does not exist.
        ValueError: the override file is not a JSON object, or config.py failed to run.
        TypeError: ``src`` is of an unsupported type.
    """
    if isinstance(src, Mapping):
        cfg = dict(src)
        base = os.getcwd()
    elif isinstance(src, types.ModuleType):
        cfg = {k: v for k, v in vars(src).items() if not k.startswith("_")}
        base = os.path.dirname(getattr(src, "__file__", "") or "") or os.getcwd()
    elif isinstance(src, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(src))
        if not os.path.isfile(path):
            raise FileNotFoundError(f"QChatGPT config not found: {path}")
        spec = importlib.util.spec_from_file_location("_qchatgpt2_config", path)
        if spec is None or spec.loader is None:
            raise ValueError(f"{path}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the user's file: say which one failed, and why
            raise ValueError(f"{path}: config.py failed to load: {type(exc).__name__}: {exc}") from exc
        cfg = {k: v for k, v in vars(module).items() if not k.startswith("_") and not isinstance(v, types.ModuleType)}
        base = os.path.dirname(path)
    else:
        raise TypeError(f"config source must be a path, a module or a dict, not {type(src).__name__}")
    cfg["__file__"] = _origin(src)
    if override:
        opath = os.path.join(base, "override.json") if override is True else os.fspath(override)  # type: ignore[arg-type]
        if not os.path.isfile(opath):
            raise FileNotFoundError(f"override file not found: {opath}")
        with open(opath, encoding="utf-8") as fh:
            try:
                data = json.load(fh)
            except ValueError as exc:
                raise ValueError(f"{opath}: not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{opath}: must hold a JSON object, not {type(data).__name__}")
        cfg.update(data)
    return cfg


def _where(cfg: Mapping[str, Any]) -> str:
    return f" (in {cfg.get('__file__', 'the config')})"


def _int(value: Any, key: str, cfg: Mapping[str, Any], *, minimum: int = 1, maximum: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"{key} must be an integer, not {type(value).__name__}{_where(cfg)}")
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{key} must be an integer, not {value!r}{_where(cfg)}") from None
    if number < minimum or (maximum is not None and number > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ValueError(f"{key} must be {bound}, not {number}{_where(cfg)}")
    return number


def _host(value: Any, key: str, cfg: Mapping[str, Any]) -> Tuple[str, Optional[str], Optional[int]]:
    """``(hostname, scheme or None, port in the host or None)`` of a host given with or
    without a scheme (``localhost``, ``ws://h``, ``http://h:8080``, ``//h``)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key} must be a non-empty host name, not {value!r}{_where(cfg)}")
    text = value.strip()
    if "//" not in text:
        text = "//" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{key}: cannot read {value!r} as a host: {exc}{_where(cfg)}") from None
    if not parts.hostname:
        raise ValueError(f"{key}: {value!r} names no host{_where(cfg)}")
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    return host, (parts.scheme.lower() or None), port


def _section(cfg: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = cfg.get(name)
    if section is None:
        raise ValueError(f"{name} is missing{_where(cfg)}")
    if not isinstance(section, Mapping):
        raise TypeError(f"{name} must be a dict, not {type(section).__name__}{_where(cfg)}")
    return section


def _need(section: Mapping[str, Any], name: str, key: str, cfg: Mapping[str, Any]) -> Any:
    if key not in section:
        raise ValueError(f"{name}['{key}'] is missing{_where(cfg)}")
    return section[key]


def admin_list(cfg: Mapping[str, Any]) -> List[int]:
    """``admin_qq`` as a list (0 or absent: none). Raises TypeError/ValueError naming ``admin_qq``."""
    value = cfg.get("admin_qq", 0)
    items = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for item in items:
        if item in (0, "0", None):
            continue
        out.append(_int(item, "admin_qq", cfg))
    return out


def mirai_target(cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """``url``, ``verify_key`` and ``qq`` of ``mirai_http_api_config``."""
    name = "mirai_http_api_config"
    section = _section(cfg, name)
    adapter = section.get("adapter", "WebSocketAdapter")
    if adapter not in _ADAPTERS:
        raise ValueError(f"{name}['adapter'] must be 'WebSocketAdapter' or 'HTTPAdapter', not {adapter!r}{_where(cfg)}")
    host, scheme, host_port = _host(_need(section, name, "host", cfg), f"{name}['host']", cfg)
    port = _int(section["port"], f"{name}['port']", cfg, maximum=65535) if "port" in section else host_port
    if port is None:
        raise ValueError(f"{name}['port'] is missing{_where(cfg)}")
    key = _need(section, name, "verifyKey", cfg)
    if key is not None and not isinstance(key, str):
        raise TypeError(f"{name}['verifyKey'] must be a str, not {type(key).__name__}{_where(cfg)}")
    qq = _int(_need(section, name, "qq", cfg), f"{name}['qq']", cfg)
    secure = scheme in ("wss", "https")
    if adapter == "HTTPAdapter":
        url = f"{'https' if secure else 'http'}://{host}:{port}"
    else:
        url = f"{'wss' if secure else 'ws'}://{host}:{port}"
    return {"url": url, "verify_key": key or None, "qq": qq, "adapter": adapter}


def nakuru_target(cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """``url`` (HTTP API), ``events`` (forward WebSocket) and ``access_token`` of ``nakuru_config``."""
    name = "nakuru_config"
    section = _section(cfg, name)
    host, scheme, _ = _host(section.get("host", "localhost"), f"{name}['host']", cfg)
    port = _int(section.get("port", 6700), f"{name}['port']", cfg, maximum=65535)
    http_port = _int(section.get("http_port", 5700), f"{name}['http_port']", cfg, maximum=65535)
    token = section.get("token", "")
    if token is not None and not isinstance(token, str):
        raise TypeError(f"{name}['token'] must be a str, not {type(token).__name__}{_where(cfg)}")
    secure = scheme in ("wss", "https")
    return {"url": f"{'https' if secure else 'http'}://{host}:{http_port}",
            "events": f"{'wss' if secure else 'ws'}://{host}:{port}", "access_token": token or None}


def bot_from_config(src: ConfigSource, *, override: Union[bool, str, "os.PathLike[str]"] = False,
                    **bot_options: Any) -> Any:
    """Build the bot a QChatGPT 2.x config describes (not started).

    ``msg_source_adapter`` ``"yirimirai"`` (or absent) gives a :class:`~qqreliable.MiraiBot`
    (WebSocket, or HTTP for ``adapter: "HTTPAdapter"``); ``"nakuru"`` gives a
    :class:`~qqreliable.Bot` on go-cqhttp's HTTP API (``http_port``) with events on its forward
    WebSocket (``port``), ``token`` as the access token. ``bot_options`` go to the bot's
    constructor (``reconnect=``, ``api_timeout=``, ...); ``workers`` defaults to the config's
    ``user_pool_num`` (8). The config is remembered for :class:`PluginHost` (``admin_qq``).

    Blocking (reads files). Raises:
        ValueError, TypeError: a missing or wrong key, named with the file it came from.
        FileNotFoundError: the config (or override.json) does not exist.
    """
    cfg = load_config(src, override=override)
    source = cfg.get("msg_source_adapter", "yirimirai")
    if source not in _SOURCES:
        raise ValueError(f"msg_source_adapter must be 'yirimirai' or 'nakuru', not {source!r}{_where(cfg)}")
    admin_list(cfg)  # validated now, not at the first notify_admin
    if "workers" not in bot_options and "user_pool_num" in cfg:
        bot_options["workers"] = _int(cfg["user_pool_num"], "user_pool_num", cfg, maximum=256)
    bot: Any
    if source == "yirimirai":
        from ...mirai.bot import MiraiBot

        target = mirai_target(cfg)
        bot = MiraiBot(target["url"], verify_key=target["verify_key"], qq=target["qq"], **bot_options)
    else:
        from ...onebot.bot import Bot

        target = nakuru_target(cfg)
        bot = Bot(target["url"], events=target["events"], access_token=target["access_token"], **bot_options)
    _CONFIGS[bot] = cfg
    return bot


def config_of(bot: Any) -> Optional[Dict[str, Any]]:
    """The config :func:`bot_from_config` built ``bot`` from, or ``None``."""
    try:
        return _CONFIGS.get(bot)
    except TypeError:
        return None
