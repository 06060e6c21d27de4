"""The fault matrix (tests/faults.py) is complete and names only tests that exist."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from .faults import CATALOG, MATRIX, NOT_APPLICABLE

TESTS = Path(__file__).resolve().parent
CATALOG_FILE = TESTS.parents[1] / "shared" / "reference" / "faults.md"


def test_every_fault_is_covered_or_explained() -> None:
    mapped = set(MATRIX) | set(NOT_APPLICABLE)
    assert not set(MATRIX) & set(NOT_APPLICABLE), "a fault is both covered and not applicable"
    assert set(CATALOG) == mapped, (
        f"unmapped: {sorted(set(CATALOG) - mapped)}, unknown: {sorted(mapped - set(CATALOG))}"
    )
    for fault_id, scenarios in MATRIX.items():
        assert scenarios, f"{fault_id} has no scenario"
    for fault_id, reason in NOT_APPLICABLE.items():
        assert reason.strip(), f"{fault_id} has no reason"


def test_every_named_test_exists() -> None:
    for fault_id, scenarios in MATRIX.items():
        for node, what in scenarios:
            assert what.strip(), f"{fault_id}: {node} says nothing"
            filename, _, function = node.partition("::")
            assert (TESTS / filename).is_file(), f"{fault_id}: no file {filename}"
            module = importlib.import_module("tests." + filename[:-3].replace("/", "."))
            assert callable(getattr(module, function, None)), f"{fault_id}: no test {node}"


def test_catalog_matches_the_reference_when_it_is_beside_the_checkout() -> None:
    # The planning repository's shared/ lies beside the checkout on the project's
    # machines and in CI; a user's clone has only tests/faults.py, which is checked above.
    if CATALOG_FILE.is_file():
        ids = re.findall(r"^### ([A-Z]+-\d+) ", CATALOG_FILE.read_text(encoding="utf-8"), flags=re.M)
        assert ids and set(ids) == set(CATALOG), sorted(set(ids) ^ set(CATALOG))
