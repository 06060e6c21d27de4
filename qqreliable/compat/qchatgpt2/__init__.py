"""QChatGPT 2.x on qqreliable: its ``config.py``, its ``PluginHost`` sends, and (with
``python -m qqreliable.compat.qchatgpt2``) its plugins on a bot that never hangs.

``bot_from_config(src)`` builds a MiraiBot (``msg_source_adapter`` ``"yirimirai"``) or a
OneBot ``Bot`` (``"nakuru"``, go-cqhttp) from the same keys; ``PluginHost(bot)`` gives the
2.x send methods. See docs/qchatgpt2.md.
"""

from .config import admin_list, bot_from_config, load_config
from .host import PluginHost

__all__ = ["bot_from_config", "load_config", "admin_list", "PluginHost"]
