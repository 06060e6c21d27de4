"""Architecture rules that a grep can hold, and the public surface pinned."""

from __future__ import annotations

import ast
import pathlib

import qqreliable

PKG = pathlib.Path(qqreliable.__file__).parent
THIRD_PARTY_IO = {"requests", "urllib3", "websocket"}


def _imports(path: pathlib.Path) -> set:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _runtime_imports(path: pathlib.Path) -> set:
    """Imports outside ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            skip.update(id(n) for n in ast.walk(node))
    names = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_transport_imports_network_libraries() -> None:
    offenders = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).as_posix()
        if rel.startswith(("transport/", "testing/")):
            continue
        bad = _runtime_imports(path) & THIRD_PARTY_IO
        if bad:
            offenders.append((rel, sorted(bad)))
    assert offenders == []


def test_protocol_modules_are_pure() -> None:
    for name in ("message.py", "onebot/events.py", "onebot/actions.py", "exceptions.py"):
        assert not _imports(PKG / name) & (THIRD_PARTY_IO | {"threading", "socket", "concurrent"}), name


def test_only_supervisor_and_dispatcher_start_threads() -> None:
    allowed = {"runtime/supervisor.py", "runtime/dispatcher.py"}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).as_posix()
        if rel in allowed or rel.startswith("testing/"):
            continue
        text = path.read_text(encoding="utf-8")
        assert "threading.Thread(" not in text and "ThreadPoolExecutor(" not in text, rel


def test_exceptions_import_nothing_from_the_package() -> None:
    tree = ast.parse((PKG / "exceptions.py").read_text(encoding="utf-8"))
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level > 0]


def test_no_print_in_library_code() -> None:
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).as_posix()
        if rel in ("cli.py", "__main__.py", "demo.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"]
        assert not calls, rel


def test_public_surface() -> None:
    expected = {
        "Bot", "Event", "Message", "MessageSegment", "escape", "unescape", "Receipt", "Backoff",
        "Error", "NetworkError", "ConnectFailed", "ResponseLost", "ApiTimeout", "ConnectionLost",
        "AuthenticationError", "ActionFailed", "ProtocolError", "SendUnconfirmed",
        "MediaUnavailable", "ApiNotAvailable", "AccountOffline", "RateLimited", "BotStopped",
        "__version__",
    }
    assert expected <= set(qqreliable.__all__)
    for name in qqreliable.__all__:
        assert hasattr(qqreliable, name), name


def test_error_tree() -> None:
    from qqreliable import (
        ApiTimeout, ConnectionLost, Error, NetworkError, ActionFailed, AuthenticationError,
        SendUnconfirmed, MediaUnavailable, ApiNotAvailable,
    )

    assert issubclass(ApiTimeout, NetworkError) and issubclass(ConnectionLost, NetworkError)
    for cls in (NetworkError, ActionFailed, AuthenticationError, SendUnconfirmed, MediaUnavailable, ApiNotAvailable):
        assert issubclass(cls, Error)


def test_py_typed_shipped() -> None:
    assert (PKG / "py.typed").exists()


def test_every_public_error_is_exported() -> None:
    import qqreliable
    from qqreliable import exceptions

    for name in exceptions.__all__:
        assert name in qqreliable.__all__, f"qqreliable.{name} is not exported"


def _package_imports(path: pathlib.Path) -> set:
    """Package-internal modules ``path`` imports (relative imports resolved), e.g. ``transport.ws``."""
    rel = path.relative_to(PKG).with_suffix("").parts
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = list(rel[: len(rel) - node.level])
            module = base + (node.module.split(".") if node.module else [])
            if node.module:
                found.add(".".join(module))
            else:
                found.update(".".join(module + [a.name]) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("qqreliable."):
            found.add(node.module[len("qqreliable."):])
        elif isinstance(node, ast.Import):
            found.update(a.name[len("qqreliable."):] for a in node.names if a.name.startswith("qqreliable."))
    return found


def test_transport_imports_no_policy_runtime_or_protocol() -> None:
    """transport/ sits under everything: it may use only itself, exceptions and the version."""
    offenders = []
    for path in (PKG / "transport").rglob("*.py"):
        for module in _package_imports(path):
            if not (module.startswith("transport") or module in ("exceptions", "_version")):
                offenders.append((path.name, module))
    assert offenders == []


# Modules every layer may use: the error tree, the common models, the version.
COMMON = {"exceptions", "message", "_version", "receipt", "outcome", "stats", "_frozen"}  # _frozen: a dataclass helper


def test_neutral_layers_import_only_layers_below_and_the_common_models() -> None:
    """runtime/ may use reliability/ and transport/; reliability/ may use transport/; none a protocol."""
    below = {"runtime": ("runtime", "reliability", "transport"), "reliability": ("reliability", "transport")}
    offenders = []
    for layer, allowed in below.items():
        for path in (PKG / layer).rglob("*.py"):
            for module in _package_imports(path):
                if not (module.split(".")[0] in allowed or module in COMMON):
                    offenders.append((f"{layer}/{path.name}", module))
    assert offenders == []


def test_no_onebot_action_name_or_retcode_in_the_neutral_layers() -> None:
    from qqreliable.onebot import actions

    names = {n for n in set(actions.READ_ONLY) | set(actions.SEND_ACTIONS) if "_" in n}
    retcodes = {1200, 1401, 1403, 1404}
    found = []
    for layer in ("transport", "reliability", "runtime"):
        for path in (PKG / layer).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                value = getattr(node, "value", None) if isinstance(node, ast.Constant) else None
                if isinstance(value, str) and value in names:
                    found.append(f"{path.name}: action {value!r}")
                elif type(value) is int and value in retcodes:
                    found.append(f"{path.name}: retcode {value}")
    assert names and found == []


def test_scale_sits_above_runtime_and_below_the_protocols() -> None:
    """scale/ (shared state, worker queue) may use the neutral layers, never a protocol; the
    neutral layers never import it (a facade opens the store and hands it down)."""
    allowed = ("scale", "runtime", "reliability", "transport")
    offenders = []
    for path in (PKG / "scale").rglob("*.py"):
        for module in _package_imports(path):
            if not (module.split(".")[0] in allowed or module in COMMON):
                offenders.append((f"scale/{path.name}", module))
    for layer in ("transport", "reliability", "runtime"):
        for path in (PKG / layer).rglob("*.py"):
            offenders.extend((f"{layer}/{path.name}", m) for m in _package_imports(path) if m.startswith("scale"))
    assert offenders == []
