"""The reliability layer names no protocol: no protocol import (even transitively),
no OneBot action, field or code in its text, and the neutral modules keep their
public names working."""

from __future__ import annotations

import ast
import pathlib
import re
from typing import Dict, List, Optional, Set

import qqreliable

PKG = pathlib.Path(qqreliable.__file__).parent
PROTOCOLS = ("qqreliable.onebot", "qqreliable.mirai", "qqreliable.official")
NEUTRAL = ("qqreliable.transport", "qqreliable.reliability", "qqreliable.runtime")
ONEBOT_WORDS = re.compile(
    r"retcode|post_type|message_sent|send_group_msg|send_private_msg|get_msg|get_image|get_record|get_file"
    r"|group_id|user_id|message_type|bot_offline|get_login_info|_msg_history"
)


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_imports(path: pathlib.Path) -> Set[str]:
    """The qqreliable modules ``path`` imports at run time (TYPE_CHECKING blocks aside)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            skip.update(id(n) for n in ast.walk(node))
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: Set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("qqreliable"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if not name.startswith("qqreliable"):
                continue
            out.add(name)
            for alias in node.names:  # "from . import x" may import a submodule
                out.add(f"{name}.{alias.name}")
    return out


def _graph() -> Dict[str, Set[str]]:
    graph: Dict[str, Set[str]] = {}
    for path in PKG.rglob("*.py"):
        graph[_module_name(path)] = _package_imports(path)
    return graph


def _closure(start: str, graph: Dict[str, Set[str]], known: Optional[Dict[str, Set[str]]] = None) -> List[str]:
    """Every module importing ``start`` loads, parents' ``__init__`` included (edges in
    ``known`` not followed)."""
    known = known or {}
    seen: Set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name not in graph:
            continue
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(2, len(parts)))  # parent packages
        todo.extend(m for m in graph[name] if m not in known.get(name, ()))
    return sorted(n for n in seen if n in graph)


def test_neutral_layers_import_no_protocol_even_transitively() -> None:
    graph = _graph()
    offenders = {}
    for module in graph:
        if not module.startswith(NEUTRAL):
            continue
        bad = [m for m in _closure(module, graph) if m.startswith(PROTOCOLS)]
        if bad:
            offenders[module] = bad
    assert offenders == {}


def test_neutral_layers_name_no_onebot_action_field_or_code() -> None:
    hits = []
    paths = [p for layer in ("transport", "reliability", "runtime") for p in (PKG / layer).rglob("*.py")]
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if ONEBOT_WORDS.search(line):
                hits.append(f"{path.name}:{number}: {line.strip()}")
    assert hits == []


def test_neutral_names_stay_importable_from_their_old_places() -> None:
    from qqreliable import Receipt
    from qqreliable.onebot import Receipt as OneBotReceipt
    from qqreliable.onebot.actions import Category, Outcome
    from qqreliable.onebot.actions import Receipt as ActionsReceipt
    from qqreliable.outcome import Category as NeutralCategory
    from qqreliable.outcome import Outcome as NeutralOutcome
    from qqreliable.receipt import Receipt as NeutralReceipt
    from qqreliable.reliability.media import MediaRef
    from qqreliable.reliability.interfaces import MediaRef as NeutralRef

    assert Receipt is OneBotReceipt is ActionsReceipt is NeutralReceipt
    assert Category is NeutralCategory and Outcome is NeutralOutcome
    assert MediaRef is NeutralRef


def test_the_checker_sees_a_transitive_protocol_import() -> None:
    # The closure follows relative imports and parent packages: a stand-in graph
    # where reliability reaches onebot through a neutral-looking module.
    graph = {
        "qqreliable": set(),
        "qqreliable.reliability": set(),
        "qqreliable.reliability.x": {"qqreliable.util"},
        "qqreliable.util": {"qqreliable.onebot.actions"},
        "qqreliable.onebot": set(),
        "qqreliable.onebot.actions": set(),
    }
    assert "qqreliable.onebot.actions" in _closure("qqreliable.reliability.x", graph)
    assert "qqreliable.onebot.actions" not in _closure(
        "qqreliable.reliability.x", graph, {"qqreliable.util": {"qqreliable.onebot.actions"}}
    )
