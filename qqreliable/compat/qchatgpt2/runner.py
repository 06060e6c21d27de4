"""Run unmodified QChatGPT 2.x plugins on a qqreliable bot.

``python -m qqreliable.compat.qchatgpt2 --config config.py --plugins plugins/``: the bot
comes from ``config.py`` (:func:`bot_from_config`), every plugin under ``plugins/`` is
imported with ``pkg.plugin.models`` / ``pkg.plugin.host`` (and ``mirai``, when the real
YiriMirai is not installed) resolving to qqreliable's look-alikes, and each friend or group
message is driven through the plugins as 2.x core did. There is no LLM: a message no plugin
answers is left alone.

Reliability is the bot's: it reconnects after a drop, waits for a mirai that is not up,
and :func:`main` returns non-zero at once on what cannot be recovered (a wrong verifyKey).
Plugin handlers run on a runtime :class:`~qqreliable.runtime.supervisor.IoPool`
(``qqreliable:qchatgpt2-plugins-N``, ``user_pool_num`` threads, 8); the bot's handler thread
waits for them at most ``process_message_timeout`` seconds.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import os
import pkgutil
import random
import re
import sys
import threading
import time
import types
from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Sequence, Set

from ...exceptions import AuthenticationError, Error
from ...runtime.supervisor import IoPool
from .. import mirai as compat_mirai
from . import plugin as models
from .config import admin_list, bot_from_config, load_config
from .host import PluginHost

__all__ = ["Runner", "main", "install_aliases"]

log = logging.getLogger("qqreliable.compat.qchatgpt2")

DEFAULT_RULES: Dict[str, Any] = {"at": True, "prefix": ["/ai", "!", "！"], "regexp": [], "random_rate": 0.0}


class RunnerHost(PluginHost):
    """The ``PluginHost`` plugins get inside the runner: the sends, plus ``emit``."""

    def __init__(self, bot: Any, registry: models.PluginRegistry, **kwargs: Any) -> None:
        super().__init__(bot, **kwargs)
        self._registry = registry

    def emit(self, event_name: str, **kwargs: Any) -> models.EventContext:
        kwargs.setdefault("host", self)
        return self._registry.emit(event_name, **kwargs)

    def get_runtime_context(self) -> Any:
        from ...exceptions import ApiNotAvailable

        raise ApiNotAvailable("pkg.utils.context (QChatGPT's internals) is not provided by the qqreliable runner")


def install_aliases() -> bool:
    """Make ``pkg.plugin.models`` / ``pkg.plugin.host`` importable (always) and ``mirai``
    (only when the real YiriMirai is not installed). Returns whether ``mirai`` was aliased."""
    pkg = types.ModuleType("pkg")
    pkg.__path__ = []  # type: ignore[attr-defined]
    plugin_pkg = types.ModuleType("pkg.plugin")
    plugin_pkg.__path__ = []  # type: ignore[attr-defined]
    host_mod = types.ModuleType("pkg.plugin.host")
    host_mod.EventContext = models.EventContext  # type: ignore[attr-defined]
    host_mod.PluginHost = RunnerHost  # type: ignore[attr-defined]
    host_mod.__all__ = ["EventContext", "PluginHost"]  # type: ignore[attr-defined]
    pkg.plugin = plugin_pkg  # type: ignore[attr-defined]
    plugin_pkg.models = models  # type: ignore[attr-defined]
    plugin_pkg.host = host_mod  # type: ignore[attr-defined]
    sys.modules.update({"pkg": pkg, "pkg.plugin": plugin_pkg, "pkg.plugin.models": models,
                        "pkg.plugin.host": host_mod})
    if "mirai" in sys.modules or importlib.util.find_spec("mirai") is not None:
        log.info("the real YiriMirai is installed: plugins import it, not qqreliable's look-alikes")
        return False
    sys.modules["mirai"] = compat_mirai
    for name in ("mirai.models", "mirai.models.message", "mirai.models.events"):
        sys.modules[name] = compat_mirai
    return True


def _read_json(path: str) -> Dict[str, Any]:
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must hold a JSON object")
    return data


class Runner:
    """Loads the plugins and drives them from the bot's message events.

    Args:
        bot: a bot from :func:`bot_from_config` (not started).
        config: that config (a dict from :func:`load_config`).
        plugins_dir: the ``plugins/`` directory, or ``None`` for none.
    """

    def __init__(self, bot: Any, config: Mapping[str, Any], plugins_dir: Optional[str]) -> None:
        self.bot = bot
        self.config = dict(config)
        self.plugins_dir = plugins_dir
        self.registry = models.registry
        self.host = RunnerHost(bot, self.registry)
        self.admins: Set[int] = set(admin_list(config))
        self.timeout = float(config.get("process_message_timeout", 120))
        self.quote_origin = bool(config.get("quote_origin", False))
        self.at_sender = bool(config.get("at_sender", False))
        self._is_mirai = hasattr(bot, "send_friend_message")
        self._lock = threading.Lock()
        self.connects = 0
        self.last_event: Optional[float] = None
        self.messages = 0
        self.replies = 0
        self.timed_out = 0
        self.dropped = 0
        self.pool = IoPool("qchatgpt2-plugins", max(1, int(config.get("user_pool_num", 8) or 8)))

    def close(self, timeout: float = 2.0) -> None:
        """Stop the plugin pool: queued messages are dropped, running handlers are waited
        for at most ``timeout`` seconds (their threads are daemons)."""
        self.pool.shutdown(timeout)

    # -- loading -------------------------------------------------------------------------

    def load_plugins(self) -> List[Any]:
        """Import every plugin under ``plugins_dir`` and instantiate the enabled ones in
        ``settings.json`` order. A plugin that fails to import is logged and skipped."""
        self.registry.classes = []
        if self.plugins_dir:
            root = os.path.abspath(self.plugins_dir)
            if not os.path.isdir(root):
                raise FileNotFoundError(f"plugins directory not found: {root}")
            parent, package = os.path.split(root)
            if parent not in sys.path:
                sys.path.insert(0, parent)
            for entry in sorted(os.listdir(root)):
                full = os.path.join(root, entry)
                if os.path.isdir(full) and os.path.isfile(os.path.join(full, "__init__.py")):
                    self._import(f"{package}.{entry}", full)
                    for info in pkgutil.walk_packages([full], prefix=f"{package}.{entry}."):
                        self._import(info.name, full)
                elif entry.endswith(".py") and entry != "__init__.py":
                    self._import(f"{package}.{entry[:-3]}", full)
            switch = _read_json(os.path.join(root, "switch.json"))
            settings = _read_json(os.path.join(root, "settings.json"))
        else:
            switch, settings = {}, {}
        disabled = {name for name, value in switch.items()
                    if isinstance(value, Mapping) and value.get("enabled") is False}
        order = settings.get("order") if isinstance(settings.get("order"), list) else []
        return self.registry.instantiate(self.host, order=order, disabled=disabled)

    def _import(self, module: str, path: str) -> None:
        self.registry.current_path = path
        try:
            importlib.import_module(module)
        except Exception:
            log.exception("plugin module %s failed to import; skipped", module)

    # -- wiring --------------------------------------------------------------------------

    def attach(self) -> None:
        """Register the runner's handlers on the bot."""
        self.bot.on_message()(self.on_message)
        self.bot.on_connect(self._on_connect)
        self.bot.on_disconnect(self._on_disconnect)

    def health(self) -> str:
        """One line: connected, reconnects, messages, last event."""
        with self._lock:
            last = "never" if self.last_event is None else f"{time.time() - self.last_event:.0f}s ago"
            reconnects = max(0, self.connects - 1)
            return (f"health: connected={self.bot.connected} reconnects={reconnects} "
                    f"messages={self.messages} replies={self.replies} last_event={last}")

    def _on_connect(self, self_id: Any = None, *_: Any) -> None:
        with self._lock:
            self.connects += 1
        log.info("online as %s; %s", self_id, self.health())

    def _on_disconnect(self, *args: Any) -> None:
        log.warning("disconnected (%s): reconnecting; %s", args[0] if args else "", self.health())

    # -- the 2.x message flow ------------------------------------------------------------

    def _chain(self, event: Any) -> compat_mirai.MessageChain:
        if self._is_mirai:
            return compat_mirai.MessageChain(event.get("messageChain") or [])
        from ...mirai.chain import message_to_chain

        try:
            elements = message_to_chain(event.message).chain
        except (TypeError, ValueError):
            elements = [{"type": "Plain", "text": event.plain_text}]
        chain = compat_mirai.MessageChain(elements)
        if event.message_id is not None:
            chain.insert(0, compat_mirai.Source(id=int(event.message_id)))
        return chain

    def _rules(self, group: int) -> Mapping[str, Any]:
        rules = self.config.get("response_rules")
        if not isinstance(rules, Mapping):
            return DEFAULT_RULES
        if "default" in rules and isinstance(rules["default"], Mapping):
            specific = rules.get(str(group))
            return specific if isinstance(specific, Mapping) else rules["default"]
        return rules

    def _ignored(self, text: str) -> bool:
        rules = self.config.get("ignore_rules")
        if not isinstance(rules, Mapping):
            return False
        if any(text.startswith(p) for p in rules.get("prefix", []) or []):
            return True
        return any(re.search(r, text) for r in rules.get("regexp", []) or [])

    def _gate(self, group: int, chain: compat_mirai.MessageChain) -> Optional[str]:
        """The text addressed to the bot, or ``None`` when the group message is not for it."""
        rules = self._rules(group)
        bot_qq = getattr(self.bot, "qq", None) or self.bot.self_id
        ats = [c for c in chain if isinstance(c, compat_mirai.At) and c.target == bot_qq]
        if ats and rules.get("at", True):
            return "".join(c.text for c in chain if isinstance(c, compat_mirai.Plain)).strip()
        text = "".join(c.text for c in chain if isinstance(c, compat_mirai.Plain)).strip()
        for prefix in rules.get("prefix", []) or []:
            if prefix and text.startswith(prefix):
                return text[len(prefix):].strip()
        for pattern in rules.get("regexp", []) or []:
            if re.search(pattern, text):
                return text
        rate = float(rules.get("random_rate", 0.0) or 0.0)
        if rate > 0 and random.random() < rate:
            return text
        return None

    def on_message(self, event: Any) -> None:
        """Drive one message through the plugins on the plugin pool; wait for it at most
        ``process_message_timeout`` seconds (runs on the bot's handler pool). A message still
        being handled then is given up: its replies are not sent (the handler is not killed)."""
        if event.is_self:
            return
        if self._is_mirai and event.kind not in ("friend", "stranger", "group"):
            return  # 2.x core listened to FriendMessage, StrangerMessage and GroupMessage only
        with self._lock:
            self.last_event = time.time()
            self.messages += 1
        given_up = threading.Event()
        try:
            future = self.pool.submit(self.process, event, given_up)
        except RuntimeError:
            return  # shutting down
        from concurrent.futures import TimeoutError as FutureTimeout

        try:
            replies = future.result(timeout=self.timeout)
        except FutureTimeout:
            given_up.set()
            with self._lock:
                self.timed_out += 1
            log.warning("plugins still running after process_message_timeout (%.0fs) on message %s: "
                        "its replies will not be sent", self.timeout, event.message_id)
            return
        except Exception:
            log.exception("processing message %s failed", event.message_id)
            return
        for reply in replies:
            self._send_reply(event, bool(event.is_group), int(event.user_id), reply)

    def process(self, event: Any, given_up: Optional[threading.Event] = None) -> List[Any]:
        """The 2.x flow for one message, up to the replies the plugins returned (sent by the
        caller). Blocking; runs on the plugin pool."""
        given_up = given_up or threading.Event()
        group = bool(event.is_group)
        launcher_type = "group" if group else "person"
        sender_id = int(event.user_id)
        launcher_id = int(event.group_id) if group else sender_id
        chain = self._chain(event)
        base = dict(launcher_type=launcher_type, launcher_id=launcher_id, sender_id=sender_id)
        ctx = self.host.emit(models.GroupMessageReceived if group else models.PersonMessageReceived,
                             message_chain=chain, **base)
        if ctx.is_prevented_default():
            return []
        if group:
            text = self._gate(launcher_id, chain)
            if text is None:
                return []
        else:
            text = "".join(c.text for c in chain if isinstance(c, compat_mirai.Plain)).strip()
        if not text or self._ignored(text):
            return []
        if text[0] in ("!", "！"):
            parts = text[1:].strip().split()
            ctx = self.host.emit(models.GroupCommandSent if group else models.PersonCommandSent,
                                 command=parts[0] if parts else "", params=parts[1:], text_message=text,
                                 is_admin=sender_id in self.admins, **base)
        else:
            ctx = self.host.emit(models.GroupNormalMessageReceived if group else models.PersonNormalMessageReceived,
                                 text_message=text, **base)
        replies = ctx.get_return("reply") or []
        if not replies:
            log.debug("no plugin answered %s %d; left alone (no LLM here)", launcher_type, launcher_id)
            return []
        if given_up.is_set():
            log.warning("replies to %s %d dropped: they came after process_message_timeout",
                        launcher_type, launcher_id)
            with self._lock:
                self.dropped += 1
            return []
        return list(replies)

    def _send_reply(self, event: Any, group: bool, sender_id: int, reply: Any) -> None:
        items = list(reply) if isinstance(reply, (list, tuple)) else [reply]
        if group and self.at_sender:
            items = [compat_mirai.At(sender_id), compat_mirai.Plain("\n")] + items
        try:
            message = compat_mirai.to_message(items)
            if self._is_mirai:
                self.bot.send(event, message, quote=self.quote_origin)
            else:
                if self.quote_origin and event.message_id is not None:
                    from ...message import MessageSegment

                    message = MessageSegment.reply(event.message_id) + message
                self.bot.send(event, message)
        except (Error, TypeError, ValueError) as exc:
            log.error("reply to %s failed: %s: %s", "group" if group else "person", type(exc).__name__, exc)
            return
        with self._lock:
            self.replies += 1


def _parse(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m qqreliable.compat.qchatgpt2",
                                     description="Run QChatGPT 2.x plugins on a qqreliable bot (no LLM).")
    parser.add_argument("--config", default="config.py", help="the QChatGPT 2.x config.py (default: ./config.py)")
    parser.add_argument("--plugins", default=None, help="the plugins/ directory (default: none)")
    parser.add_argument("-r", "--override", action="store_true", help="apply override.json beside config.py")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO (default), WARNING ...")
    return parser.parse_args(argv)


def _auth_line(config: Mapping[str, Any], path: str) -> str:
    if config.get("msg_source_adapter", "yirimirai") == "nakuru":
        return f"go-cqhttp refused nakuru_config['token'] in {path}: fix the token and restart"
    return f"mirai refused mirai_http_api_config['verifyKey'] in {path}: wrong verifyKey; fix it and restart"


def main(argv: Optional[Sequence[str]] = None, **bot_options: Any) -> int:
    """The runner's entry point; returns the exit status.

    0: stopped by SIGINT/SIGTERM. 2: a bad config or a credential the server refused
    (one line says which key in which file). 1: another unrecoverable error. Blocks until then.
    """
    args = _parse(argv)
    path = os.path.abspath(args.config)
    try:
        config = load_config(path, override=args.override)
    except (OSError, ValueError, TypeError) as exc:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        log.error("config error: %s", exc)
        return 2
    level = (args.log_level or str(config.get("logging_level", "INFO"))).upper()
    if level.isdigit():
        level = logging.getLevelName(int(level))
    logging.basicConfig(stream=sys.stderr, level=level if isinstance(level, str) and level in
                        logging._nameToLevel else logging.INFO,  # noqa: SLF001
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        bot = bot_from_config(config, **bot_options)
        install_aliases()
        runner = Runner(bot, config, args.plugins)
        loaded = runner.load_plugins()
    except (OSError, ValueError, TypeError) as exc:
        log.error("config error: %s", exc)
        return 2
    runner.attach()
    log.info("%d plugin(s) loaded; no LLM here: messages no plugin answers are left alone", len(loaded))
    try:
        bot.run(log_handler=None)
    except AuthenticationError:
        log.error(_auth_line(config, path))
        return 2
    except Error as exc:
        log.error("giving up: %s: %s; %s", type(exc).__name__, exc, runner.health())
        return 1
    finally:
        runner.close()
    log.info("stopped; %s", runner.health())
    return 0
