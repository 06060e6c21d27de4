"""The README and the docs site hold together (the site itself: bash scripts/docs, in CI)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Set

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _slugs(path: Path) -> Set[str]:
    """Heading anchors as MkDocs and GitHub make them."""
    slugs = set()
    for heading in re.findall(r"(?m)^#{1,6} (.+)$", path.read_text(encoding="utf-8")):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        slugs.add(re.sub(r"-{2,}", "-", slug))
    return slugs


def test_readme_links_resolve() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)?(?:#([^)\s]+))?\)", text)
    assert links
    for target, anchor in links:
        if target.startswith(("http://", "https://")):
            continue
        path = ROOT / target if target else ROOT / "README.md"
        assert path.exists(), f"README links to {target}, which does not exist"
        if anchor:
            assert anchor in _slugs(path), f"README links to {target}#{anchor}: no such heading"


def test_readme_keeps_its_two_commands_at_the_top() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert lines[2:6] == [
        "```bash",
        "bash scripts/demo     # set up (first run) and run the demo: "
        "a bot against the built-in OneBot server, with faults",
        "bash scripts/test     # set up (first run) and run the test suite",
        "```",
    ]


def test_every_docs_page_is_in_the_site_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert pages
    missing = [page for page in pages if f": {page}" not in nav]
    assert missing == []


def test_the_docs_extra_and_ci_build_the_site_strictly() -> None:
    setup = (ROOT / "setup.cfg").read_text(encoding="utf-8")
    docs_extra = setup.split("docs =", 1)[1].split("\n\n", 1)[0]
    for package in ("mkdocs", "mkdocs-material", "mkdocstrings[python]"):
        assert package in docs_extra
    assert "mkdocs build --strict" in (ROOT / "scripts" / "docs").read_text(encoding="utf-8")
    assert "bash scripts/docs" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_option_and_policy_field_is_in_the_options_page() -> None:
    import dataclasses
    import inspect

    from qqreliable import Bot
    from qqreliable.reliability import Pacing, SendPolicy

    text = (DOCS / "reference" / "options.md").read_text(encoding="utf-8")
    urls = ("self", "url", "events", "listen", "access_token", "secret")
    names = [n for n in inspect.signature(Bot.__init__).parameters if n not in urls]
    names += [f.name for f in dataclasses.fields(SendPolicy)] + [f.name for f in dataclasses.fields(Pacing)]
    assert [n for n in names if f"`{n}`" not in text] == []
    for off in ("`ping_interval=None`: no pings", "`None`: no limit"):  # options that mean "off" with None
        assert off in text


def test_every_error_is_in_the_error_table() -> None:
    import qqreliable
    from qqreliable import exceptions

    table = (DOCS / "reference" / "errors.md").read_text(encoding="utf-8")
    errors = [n for n in dir(exceptions) if isinstance(getattr(exceptions, n), type)
              and issubclass(getattr(exceptions, n), exceptions.Error)]
    missing = [n for n in errors if not re.search(rf"\| `{n}[`(]", table)
               and f"`{n}`" not in table]
    assert missing == []
    for name in ("BotStopped", "ProtocolError", "NetworkError", "ListenFailed"):
        assert re.search(rf"(?m)^\| `{name}[`(]", table), name
    assert "ListenFailed(NetworkError, OSError)" in table and "no permission" in table
    assert {"BotStopped", "ProtocolError", "NetworkError"} <= set(qqreliable.__all__)


def test_listen_failed_is_not_described_as_a_port_in_use_only() -> None:
    for path in [ROOT / "README.md", *DOCS.rglob("*.md")]:
        text = path.read_text(encoding="utf-8")
        assert "`ListenFailed(OSError)` | a listen port is in use" not in text, path
        assert "raises `ListenFailed` (an `OSError`) when it is in use" not in text, path
