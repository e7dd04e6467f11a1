"""Which Kubernetes minors AKS supports on a given day, from the dated table ``infra/aks_versions.yaml``.

AKS refuses to create a cluster on a minor past its end of life, so a stack that pins one fails on its first
``pulumi up``. The table is the AKS release calendar as read on its ``read_on`` date; the settings consult it
with the deployment's clock, and a test consults it with today's date so that an expiring pin is noticed in
CI before it is noticed by Azure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import yaml

TABLE_FILE = Path(__file__).resolve().parent / "aks_versions.yaml"


@dataclass(frozen=True)
class MinorSupport:
    """One row of the calendar: generally available from ``ga`` through ``end_of_life`` (inclusive)."""

    minor: str
    ga: date
    end_of_life: date


@dataclass(frozen=True)
class SupportTable:
    source: str
    read_on: date
    versions: tuple[MinorSupport, ...]

    def row(self, minor: str) -> MinorSupport | None:
        return next((row for row in self.versions if row.minor == minor), None)

    def problem(self, minor: str, today: date) -> str | None:
        """Why AKS would refuse ``minor`` on ``today`` according to the table, or None if it is supported."""
        row = self.row(minor)
        if row is None:
            known = ", ".join(row.minor for row in self.versions)
            return f"not in the AKS support table ({known}; {self.source}, read on {self.read_on})"
        if today < row.ga:
            return f"not generally available on AKS before {row.ga} (table read on {self.read_on})"
        if today > row.end_of_life:
            return (
                f"past its AKS end of life on {row.end_of_life} (table read on {self.read_on}); pin a "
                f"supported minor: {', '.join(self.supported(today)) or 'update infra/aks_versions.yaml'}"
            )
        return None

    def supported(self, today: date) -> list[str]:
        return [row.minor for row in self.versions if row.ga <= today <= row.end_of_life]


def _month_start(value: object) -> date:
    text = str(value)
    year, month = text.split("-")[:2]
    return date(int(year), int(month), 1)


@cache
def support_table(path: Path = TABLE_FILE) -> SupportTable:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    versions = tuple(
        MinorSupport(str(row["minor"]), _month_start(row["ga"]), date.fromisoformat(str(row["end_of_life"])))
        for row in document["versions"]
    )
    return SupportTable(str(document["source"]), date.fromisoformat(str(document["read_on"])), versions)
