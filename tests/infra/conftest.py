"""Offline plans of every stack, built once per test session (each takes well under a second).

``pinned_plans`` read the fixture overlays under tests/data/infra/gitops (a model and an image pinned in
every environment), so they show the container groups and stay stable across bump PRs; ``repo_plans``
read the repository's real gitops/ folder, whatever it pins today.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from infra.plan import Plan, build_plan
from training.pins import ENVIRONMENTS

FIXED_NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parent.parent / "data" / "infra"


def plan_with_fixtures(stack: str) -> Plan:
    return build_plan(stack, clock=lambda: FIXED_NOW, gitops_root=FIXTURES)


@pytest.fixture(scope="session")
def pinned_plans() -> dict[str, Plan]:
    return {stack: plan_with_fixtures(stack) for stack in ENVIRONMENTS}


@pytest.fixture(scope="session")
def repo_plans() -> dict[str, Plan]:
    return {stack: build_plan(stack, clock=lambda: FIXED_NOW) for stack in ENVIRONMENTS}
