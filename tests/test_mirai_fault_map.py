"""The MiraiBot fault matrix (tests/faults_mirai.py) accounts for every fault and names real tests."""

from __future__ import annotations

import importlib
from pathlib import Path

from .faults import CATALOG
from .faults_mirai import MIRAI_MATRIX, MIRAI_NOT_APPLICABLE, MIRAI_OPEN

TESTS = Path(__file__).resolve().parent


def test_every_fault_is_covered_explained_or_open() -> None:
    groups = [set(MIRAI_MATRIX), set(MIRAI_NOT_APPLICABLE), set(MIRAI_OPEN)]
    for i, a in enumerate(groups):
        for b in groups[i + 1:]:
            assert not a & b, f"in two groups: {sorted(a & b)}"
    mapped = set().union(*groups)
    missing, unknown = sorted(set(CATALOG) - mapped), sorted(mapped - set(CATALOG))
    assert not missing and not unknown, f"unmapped: {missing}, unknown: {unknown}"
    assert all(reason.strip() for reason in list(MIRAI_NOT_APPLICABLE.values()) + list(MIRAI_OPEN.values()))


def test_every_named_test_exists() -> None:
    for fault_id, scenarios in MIRAI_MATRIX.items():
        assert scenarios, fault_id
        for node, what in scenarios:
            assert what.strip(), f"{fault_id}: {node} says nothing"
            filename, _, function = node.partition("::")
            assert (TESTS / filename).is_file(), f"{fault_id}: no file {filename}"
            module = importlib.import_module(f"tests.{filename[:-3]}")
            assert callable(getattr(module, function, None)), f"{fault_id}: no test {node}"
