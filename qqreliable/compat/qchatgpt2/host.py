"""``PluginHost``: QChatGPT 2.x's synchronous send API on a qqreliable bot.

``send_person_message``, ``send_group_message`` and ``notify_admin`` take what 2.x callers
passed (``str``, a mirai component, a list/tuple of str and components, a ``MessageChain``,
raw MAH dicts, qqreliable messages) and ids as int or numeric str. Unlike 2.x, a failed send
raises the typed error (``NotDelivered``, ``SendUnconfirmed``, ``ActionFailed`` ...);
``raise_on_error=False`` logs it and returns ``None`` instead, for scripts that relied on
silence. Every method blocks until the send is settled and is thread-safe: call it from
handlers, timers or your own threads.
"""

from __future__ import annotations

import logging
from typing import Any, List, Optional

from ...exceptions import Error
from ...receipt import Receipt
from ..mirai import to_message
from .config import admin_list, config_of

__all__ = ["PluginHost", "target_id"]

log = logging.getLogger("qqreliable.compat.qchatgpt2")


def target_id(value: Any, what: str) -> int:
    """``value`` as a positive int (int or numeric str). Raises TypeError/ValueError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"{what} must be an int or a numeric str, not {type(value).__name__}")
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{what} must be numeric, not {value!r}") from None
    if number <= 0:
        raise ValueError(f"{what} must be positive, not {number}")
    return number


def _is_mirai(bot: Any) -> bool:
    return hasattr(bot, "send_friend_message")


class PluginHost:
    """The 2.x ``PluginHost`` send methods on ``bot`` (a MiraiBot or a OneBot ``Bot``).

    Args:
        bot: the bot to send through (started by you or by the runner).
        admin_qq: who ``notify_admin`` writes to; default: the config's ``admin_qq`` when the
            bot came from :func:`bot_from_config`.
        raise_on_error: ``False``: a failed send is logged and returns ``None`` (2.x's
            silence); ``True`` (default): it raises.
    """

    def __init__(self, bot: Any, *, admin_qq: Any = None, raise_on_error: bool = True) -> None:
        self.bot = bot
        cfg = config_of(bot) or {}
        if admin_qq is not None:
            cfg = dict(cfg, admin_qq=admin_qq)
        self.admin_qq: List[int] = admin_list(cfg)
        self.raise_on_error = raise_on_error

    def _deliver(self, kind: str, target: int, message: Any, raise_on_error: Optional[bool]) -> Optional[Receipt]:
        msg = to_message(message)  # TypeError/ValueError: the caller's mistake, always raised
        try:
            if _is_mirai(self.bot):
                if kind == "person":
                    return self.bot.send_friend_message(target, msg)  # type: ignore[no-any-return]
                return self.bot.send_group_message(target, msg)  # type: ignore[no-any-return]
            if kind == "person":
                return self.bot.send_private_msg(target, msg)  # type: ignore[no-any-return]
            return self.bot.send_group_msg(target, msg)  # type: ignore[no-any-return]
        except Error as exc:
            strict = self.raise_on_error if raise_on_error is None else raise_on_error
            if strict:
                raise
            log.warning("send to %s %d failed (not raised: raise_on_error=False): %s: %s",
                        kind, target, type(exc).__name__, exc)
            return None

    def send_person_message(self, person: Any, message: Any, *,
                            raise_on_error: Optional[bool] = None) -> Optional[Receipt]:
        """Send ``message`` to a friend (QQ ``person``); return the Receipt.

        Blocking; thread-safe. Raises: TypeError/ValueError (bad id or message, named),
        and unless ``raise_on_error`` is false the bot's send errors (NotDelivered,
        SendUnconfirmed, ActionFailed, ConnectFailed, BotStopped ...).
        """
        return self._deliver("person", target_id(person, "person"), message, raise_on_error)

    def send_group_message(self, group: Any, message: Any, *,
                           raise_on_error: Optional[bool] = None) -> Optional[Receipt]:
        """Send ``message`` to ``group``; see :meth:`send_person_message`."""
        return self._deliver("group", target_id(group, "group"), message, raise_on_error)

    def notify_admin(self, message: Any, *, raise_on_error: Optional[bool] = None) -> List[Optional[Receipt]]:
        """Send ``"[bot]" + message`` to every ``admin_qq`` (none configured: a warning, nothing sent).

        Blocking; thread-safe. Every admin is tried; with ``raise_on_error`` the first
        failure is raised after the others were tried.
        """
        if not self.admin_qq:
            log.warning("notify_admin: no admin_qq configured; not sent: %s", message)
            return []
        payload: Any = "[bot]" + message if isinstance(message, str) else ["[bot]", message]
        receipts: List[Optional[Receipt]] = []
        first: Optional[BaseException] = None
        for admin in self.admin_qq:
            try:
                receipts.append(self._deliver("person", admin, payload, raise_on_error))
            except Error as exc:
                first = first or exc
                receipts.append(None)
        if first is not None:
            raise first
        return receipts

    # -- the rest of 2.x's PluginHost -------------------------------------------------------

    def get_bot(self) -> Any:
        """The qqreliable bot (not a YiriMirai ``Mirai``: its async API is not provided)."""
        return self.bot

    def get_bot_adapter(self) -> Any:
        """The qqreliable bot (2.x returned its adapter; ``send_message`` is not provided)."""
        return self.bot

    def emit(self, event_name: str, **kwargs: Any) -> Any:
        """Emit a plugin event; only the runner has plugins to emit to.

        Raises:
            ApiNotAvailable: outside the runner.
        """
        from ...exceptions import ApiNotAvailable

        raise ApiNotAvailable("PluginHost.emit needs the runner (python -m qqreliable.compat.qchatgpt2)")

    def __repr__(self) -> str:
        return f"PluginHost({self.bot!r}, admin_qq={self.admin_qq})"


