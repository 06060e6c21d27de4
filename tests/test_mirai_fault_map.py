"""The MiraiBot part of the fault matrix (tests/faults.py) accounts for every fault of the catalog.

``tests/test_fault_coverage.py`` checks the whole matrix (and that every named
test exists); this checks what it cannot: that each fault is covered by a
MiraiBot test or explained as impossible for a mirai-api-http client.
"""

from __future__ import annotations

from .faults import CATALOG, MATRIX, MIRAI_MATRIX, MIRAI_NOT_APPLICABLE, MIRAI_OPEN


def test_every_fault_is_covered_explained_or_open_for_mirai() -> None:
    groups = [set(MIRAI_MATRIX), set(MIRAI_NOT_APPLICABLE), set(MIRAI_OPEN)]
    for i, a in enumerate(groups):
        for b in groups[i + 1:]:
            assert not a & b, f"in two groups: {sorted(a & b)}"
    mapped = set().union(*groups)
    missing, unknown = sorted(set(CATALOG) - mapped), sorted(mapped - set(CATALOG))
    assert not missing and not unknown, f"unmapped: {missing}, unknown: {unknown}"
    assert all(reason.strip() for reason in list(MIRAI_NOT_APPLICABLE.values()) + list(MIRAI_OPEN.values()))


def test_mirai_scenarios_are_in_the_printed_matrix() -> None:
    for fault_id, scenarios in MIRAI_MATRIX.items():
        assert scenarios, fault_id
        for node, _ in scenarios:
            assert node.startswith("test_mirai_"), node
            assert node in [n for n, _ in MATRIX[fault_id]], f"{fault_id}: {node} not in MATRIX"
