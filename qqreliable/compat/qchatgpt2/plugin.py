"""The QChatGPT 2.6.10 plugin API, clean-room: what ``pkg.plugin.models`` and
``pkg.plugin.host`` give plugins inside the runner.

``@register(name=..., description=..., version=..., author=...)`` on a ``Plugin`` subclass,
``@on(EventConstant)`` on its synchronous methods ``(self, event, **kwargs)``,
:class:`EventContext` for returns and prevention, :func:`func` (accepted, warns: no LLM here),
:func:`require_ver`. A :class:`PluginRegistry` holds the registered classes and their
instances and emits events to them in order. Thread-safe: emits may run on many worker
threads at once; registration happens at load time, on one thread.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = [
    "PersonMessageReceived", "GroupMessageReceived", "PersonNormalMessageReceived", "GroupNormalMessageReceived",
    "PersonCommandSent", "GroupCommandSent", "NormalMessageResponded", "SessionFirstMessageReceived",
    "SessionExplicitReset", "SessionExpired", "KeyExceeded", "KeySwitched", "PromptPreProcessing",
    "EVENTS", "EventContext", "Plugin", "register", "on", "func", "require_ver", "PluginRegistry", "registry",
    "QCHATGPT_VERSION",
]

log = logging.getLogger("qqreliable.compat.qchatgpt2")

#: The 2.x version plugins are told they run on (``require_ver``).
QCHATGPT_VERSION = "v2.6.10"

PersonMessageReceived = "person_message_received"
GroupMessageReceived = "group_message_received"
PersonNormalMessageReceived = "person_normal_message_received"
GroupNormalMessageReceived = "group_normal_message_received"
PersonCommandSent = "person_command_sent"
GroupCommandSent = "group_command_sent"
NormalMessageResponded = "normal_message_responded"
SessionFirstMessageReceived = "session_first_message_received"
SessionExplicitReset = "session_reset"
SessionExpired = "session_expired"
KeyExceeded = "key_exceeded"
KeySwitched = "key_switched"
PromptPreProcessing = "prompt_pre_processing"

EVENTS = (
    PersonMessageReceived, GroupMessageReceived, PersonNormalMessageReceived, GroupNormalMessageReceived,
    PersonCommandSent, GroupCommandSent, NormalMessageResponded, SessionFirstMessageReceived,
    SessionExplicitReset, SessionExpired, KeyExceeded, KeySwitched, PromptPreProcessing,
)

_eids = itertools.count(1)


class EventContext:
    """One emit: what plugins returned (``add_return``) and whether they stopped it.

    ``prevent_default()``: the core's own handling is skipped (for message events: the
    message goes no further). ``prevent_postorder()``: later plugins are not called.
    """

    def __init__(self, name: str) -> None:
        self.eid = next(_eids)
        self.name = name
        self._returns: Dict[str, List[Any]] = {}
        self._prevented_default = False
        self._prevented_postorder = False

    def add_return(self, key: str, ret: Any) -> None:
        self._returns.setdefault(key, []).append(ret)

    def get_return(self, key: str) -> Optional[List[Any]]:
        return self._returns.get(key)

    def get_return_value(self, key: str) -> Any:
        values = self._returns.get(key)
        return values[0] if values else None

    def prevent_default(self) -> None:
        self._prevented_default = True

    def prevent_postorder(self) -> None:
        self._prevented_postorder = True

    def is_prevented_default(self) -> bool:
        return self._prevented_default

    def is_prevented_postorder(self) -> bool:
        return self._prevented_postorder

    def __repr__(self) -> str:
        return f"EventContext(eid={self.eid}, name={self.name!r})"


class Plugin:
    """Base class of 2.x plugins; :func:`register` fills the class attributes."""

    name: str = ""
    description: str = ""
    version: str = ""
    author: str = ""
    host: Any = None
    enabled: bool = True
    path: str = ""


_HOOKS = "__qchatgpt2_hooks__"


def on(event: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a plugin method as the handler of ``event`` (one of the event constants)."""
    if event not in EVENTS:
        raise ValueError(f"@on: unknown event {event!r}")

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        hooks = list(getattr(fn, _HOOKS, ()))
        hooks.append(event)
        setattr(fn, _HOOKS, hooks)
        return fn

    return mark


def func(name: Optional[str] = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """2.x's ``@func`` (an LLM content function). Accepted so plugins load; never called:
    there is no LLM here (a warning says so)."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        log.warning("@func %s: content functions need QChatGPT's LLM, which is not here; it will never be called",
                    name or getattr(fn, "__name__", "?"))
        return fn

    return mark


def _version(text: str) -> Tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text)[:3]) or (0,)


def require_ver(ge: str, le: str = "v999.9.9") -> bool:
    """True when :data:`QCHATGPT_VERSION` is within ``[ge, le]``.

    Raises:
        RuntimeError: it is not (the plugin needs another QChatGPT version).
    """
    if not _version(ge) <= _version(QCHATGPT_VERSION) <= _version(le):
        raise RuntimeError(f"plugin needs QChatGPT {ge} .. {le}; this runner provides {QCHATGPT_VERSION}")
    return True


class PluginRegistry:
    """Registered plugin classes, in registration order, and their instances."""

    def __init__(self) -> None:
        self.classes: List[Any] = []
        self.instances: List[Any] = []
        self.current_path = ""
        self._lock = threading.Lock()

    def add(self, cls: type) -> None:
        with self._lock:
            self.classes = [c for c in self.classes if c.name != cls.name] + [cls]  # type: ignore[attr-defined]

    def instantiate(self, host: Any, *, order: Optional[List[str]] = None,
                    disabled: Optional[set] = None) -> List[Any]:
        """Create one instance per enabled class, ordered by ``order`` (names) then load order.
        A constructor that raises is logged and skipped."""
        rank = {name: i for i, name in enumerate(order or [])}
        classes = sorted(enumerate(self.classes), key=lambda ic: (rank.get(ic[1].name, len(rank)), ic[0]))
        made = []
        for _, cls in classes:
            if cls.name in (disabled or set()):
                log.info("plugin %s is disabled in switch.json", cls.name)
                continue
            cls.host = host
            try:
                try:
                    instance = cls(plugin_host=host)
                except TypeError:
                    instance = cls(host)
            except Exception:
                log.exception("plugin %s failed to start; skipped", cls.name)
                continue
            made.append(instance)
            log.info("plugin %s %s loaded", cls.name, cls.version)
        with self._lock:
            self.instances = made
        return made

    def emit(self, event_name: str, **kwargs: Any) -> EventContext:
        """Call every enabled plugin's handlers of ``event_name`` in order, as 2.x did:
        ``handler(self, event=ctx, host=..., **kwargs)``; a handler that raises is logged and
        the next one runs; ``prevent_postorder()`` stops the rest. Blocking; thread-safe."""
        ctx = EventContext(event_name)
        kwargs["event"] = ctx
        with self._lock:
            instances = list(self.instances)
        for instance in instances:
            if not getattr(type(instance), "enabled", True):
                continue
            for attr in dir(type(instance)):
                fn = getattr(type(instance), attr, None)
                if event_name not in getattr(fn, _HOOKS, ()):
                    continue
                try:
                    fn(instance, **kwargs)  # type: ignore[misc]
                except Exception:
                    log.exception("plugin %s: its %s handler %s raised", type(instance).name, event_name, attr)
            if ctx.is_prevented_postorder():
                break
        return ctx


#: The registry ``@register`` adds to (the runner's).
registry = PluginRegistry()


def register(name: str, description: str = "", version: str = "0.0.1", author: str = "") -> Callable[[type], type]:
    """Register a ``Plugin`` subclass under ``name`` with its metadata."""

    def add(cls: type) -> type:
        cls.name = name  # type: ignore[attr-defined]
        cls.description = description  # type: ignore[attr-defined]
        cls.version = version  # type: ignore[attr-defined]
        cls.author = author  # type: ignore[attr-defined]
        cls.path = registry.current_path  # type: ignore[attr-defined]
        cls.enabled = True  # type: ignore[attr-defined]
        registry.add(cls)
        return cls

    return add
