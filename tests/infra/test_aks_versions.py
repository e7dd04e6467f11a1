"""The AKS support table: dated, sourced, and the pinned minor still supported today (issue 12 item 3)."""

from __future__ import annotations

from datetime import date

import pytest

from infra.aks_versions import support_table
from infra.stack_config import load_stack_config
from model_contract.pins import ENVIRONMENTS


def pinned_minors() -> set[str]:
    return {
        load_stack_config(stack).as_pulumi_strings()["property-price-platform:aksKubernetesVersion"]
        for stack in ENVIRONMENTS
    }


def test_the_table_names_its_source_and_the_day_it_was_read():
    table = support_table()
    assert table.source.startswith("https://learn.microsoft.com/")
    assert date(2026, 1, 1) <= table.read_on <= date.today()
    assert [row.minor for row in table.versions] == sorted((row.minor for row in table.versions), key=lambda m: tuple(map(int, m.split("."))))  # fmt: skip
    assert all(row.ga < row.end_of_life for row in table.versions)


@pytest.mark.parametrize("minor", sorted(pinned_minors()))
def test_the_pinned_minor_is_supported_today(minor):
    """Fails on the day after the pinned minor's AKS end of life: re-read the calendar and move the pin."""
    assert support_table().problem(minor, date.today()) is None


def test_the_pin_the_issue_found_past_its_end_of_life_is_refused_on_the_issue_s_date():
    assert "reached end of support on 2026-07-31" in support_table().problem("1.33", date(2026, 12, 2))
    assert support_table().supported(date(2026, 12, 2)) == ["1.35", "1.36", "1.37"]
