"""One core, three protocols: the protocol-neutral layers know no protocol.

transport/, reliability/ and runtime/ import nothing from a protocol package
(onebot/, mirai/, official/), directly or through any module they import, and
no OneBot action name or OneBot-only retcode appears in them.
"""

from __future__ import annotations

import ast
import pathlib
from typing import Dict, Iterator, Set

import qqreliable
from qqreliable.onebot import actions

PKG = pathlib.Path(qqreliable.__file__).parent
NEUTRAL = ("transport", "reliability", "runtime", "scale")
PROTOCOLS = ("onebot", "mirai", "official")
# Modules every layer may use: the error tree, the common message model, the version.
COMMON = {
    "qqreliable.exceptions", "qqreliable.message", "qqreliable._version", "qqreliable.receipt", "qqreliable.outcome",
}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> Dict[str, pathlib.Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py")}


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> Iterator[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        parts = module.split(".")
        if not is_package:
            parts = parts[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    yield base
    for alias in node.names:  # "from . import x" imports the module x
        yield f"{base}.{alias.name}"


def _package_imports(module: str, path: pathlib.Path, known: Set[str]) -> Set[str]:
    """Every qqreliable module ``module`` imports (TYPE_CHECKING blocks included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: Set[str] = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = list(_resolve(module, node, path.name == "__init__.py"))
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name.startswith("qqreliable"):
                found.add(name)
    return found


def _closure(start: str, graph: Dict[str, Set[str]]) -> Dict[str, str]:
    """Every module reachable from ``start`` -> the module that imported it."""
    seen: Dict[str, str] = {}
    todo = [start]
    while todo:
        current = todo.pop()
        for dep in graph.get(current, ()):
            # A package's __init__ is imported on the way to its modules; only follow real edges.
            if dep not in seen and dep != start:
                seen[dep] = current
                todo.append(dep)
    return seen


def _graph() -> Dict[str, Set[str]]:
    mods = _modules()
    known = set(mods)
    return {name: _package_imports(name, path, known) for name, path in mods.items()}


def test_neutral_layers_import_no_protocol_package_even_transitively() -> None:
    graph = _graph()
    offenders = []
    for module in graph:
        if module.split(".")[1:2] and module.split(".")[1] in NEUTRAL:
            reached = _closure(module, graph)
            for dep, via in reached.items():
                parts = dep.split(".")
                if len(parts) > 1 and parts[1] in PROTOCOLS:
                    offenders.append(f"{module} -> ... {via} -> {dep}")
    assert offenders == []


def test_neutral_layers_import_only_themselves_and_the_common_model() -> None:
    graph = _graph()
    for module, deps in graph.items():
        parts = module.split(".")
        if len(parts) < 2 or parts[1] not in NEUTRAL:
            continue
        for dep in deps:
            dparts = dep.split(".")
            ok = dep in COMMON or dep == "qqreliable" or (len(dparts) > 1 and dparts[1] in NEUTRAL)
            assert ok, f"{module} imports {dep}"


def _neutral_sources() -> Iterator[pathlib.Path]:
    for layer in NEUTRAL:
        yield from (PKG / layer).rglob("*.py")
    yield PKG / "message.py"
    yield PKG / "exceptions.py"


def _strings_and_numbers(path: pathlib.Path) -> Iterator[object]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, int)):
            yield node.value


def test_no_onebot_action_name_or_retcode_outside_onebot() -> None:
    names = set(actions.ACTIONS) if hasattr(actions, "ACTIONS") else set()
    names |= set(actions.READ_ONLY) | set(actions.SEND_ACTIONS)
    names = {n for n in names if "_" in n}  # real action names (send_group_msg, get_msg ...)
    retcodes = {1200, 1401, 1403, 1404}
    found = []
    for path in _neutral_sources():
        rel = path.relative_to(PKG).as_posix()
        for value in _strings_and_numbers(path):
            if isinstance(value, str) and value in names:
                found.append(f"{rel}: action {value!r}")
            elif isinstance(value, int) and not isinstance(value, bool) and value in retcodes:
                found.append(f"{rel}: retcode {value}")
    assert found == []


def test_the_check_sees_a_violation() -> None:
    # The scanner must be able to fail: the OneBot package itself is full of them.
    graph = _graph()
    assert any(dep.startswith("qqreliable.onebot") for dep in graph["qqreliable"])
    hits = [v for v in _strings_and_numbers(PKG / "onebot" / "actions.py") if v == "send_group_msg"]
    assert hits
