"""``import qqreliable`` loads the OneBot bot only: MiraiBot, OfficialBot, Media, the
testing fakes and the CLI load on first use (start-up time, issue 16)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import qqreliable

LAZY_MODULES = ("qqreliable.mirai", "qqreliable.official", "qqreliable.reliability.media",
                "qqreliable.testing", "qqreliable.cli", "qqreliable.scale.queue", "qqreliable.scale.redis_store",
                "uuid")


def test_import_leaves_the_other_protocols_unloaded() -> None:
    code = ("import sys, qqreliable\n"
            f"loaded = [m for m in {LAZY_MODULES!r} if m in sys.modules]\n"
            "print(','.join(loaded))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == ""


def test_lazy_names_resolve_to_their_classes() -> None:
    from qqreliable.mirai.bot import MiraiBot
    from qqreliable.official.bot import OfficialBot
    from qqreliable.reliability.media import Media

    assert qqreliable.MiraiBot is MiraiBot and qqreliable.OfficialBot is OfficialBot and qqreliable.Media is Media
    assert {"MiraiBot", "OfficialBot", "Media"} <= set(dir(qqreliable))
    assert {"MiraiBot", "OfficialBot"} <= set(qqreliable.__all__)


def test_star_import_and_unknown_names() -> None:
    namespace: dict = {}
    exec("from qqreliable import *", namespace)
    assert namespace["OfficialBot"] is qqreliable.OfficialBot and namespace["Bot"] is qqreliable.Bot
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        qqreliable.NoSuchThing  # noqa: B018


def test_actions_table_built_on_first_use() -> None:
    from qqreliable.onebot import actions

    assert actions.ACTIONS["get_image"] == ("file",)
    assert actions.ACTIONS is actions.ACTIONS  # built once
