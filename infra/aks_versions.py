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
    file: str
    versions: tuple[MinorSupport, ...]

    def row(self, minor: str) -> MinorSupport | None:
        return next((row for row in self.versions if row.minor == minor), None)

    def problem(self, minor: str, today: date) -> str | None:
        """Why AKS would refuse ``minor`` on ``today`` according to the table, or None if it is supported."""
        row = self.row(minor)
        if row is None:
            return "is not in the AKS support table"
        if today < row.ga:
            return f"is not generally available on AKS before {row.ga}"
        if today > row.end_of_life:
            return f"reached end of support on {row.end_of_life}"
        return None

    def supported(self, today: date) -> list[str]:
        return [row.minor for row in self.versions if row.ga <= today <= row.end_of_life]

    def allowed(self, today: date) -> str:
        """The minors to pin instead, with where the list comes from and how old it is."""
        minors = ", ".join(self.supported(today)) or f"none: re-read {self.source}"
        return f"{minors} ({self.file}, read {self.read_on})"


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
    return SupportTable(
        str(document["source"]),
        date.fromisoformat(str(document["read_on"])),
        _repository_path(path),
        versions,
    )


def _repository_path(path: Path) -> str:
    """``infra/aks_versions.yaml`` for the shipped table: the name a user finds in their checkout."""
    root = TABLE_FILE.parent.parent
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
