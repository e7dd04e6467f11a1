"""Offline plans of every stack, built once per test session (each takes well under a second).

``pinned_plans`` read the fixture overlays under tests/data/infra/gitops (a model and an image pinned in
every environment) and the fixture settings under tests/data/infra/config (the principals, repository and
key vault secret a platform engineer adds), so they show every resource and stay stable across bump PRs;
``repo_plans`` read the repository's real gitops/ folder and stack files, whatever they pin today, with only
what prod cannot do without (its repository URL).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from infra.plan import Plan, build_plan
from infra.stack_config import load_config_file
from model_contract.pins import ENVIRONMENTS

# A fixed day on which the pinned AKS minor is supported (tests/infra/test_aks_versions.py checks today).
FIXED_NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parent.parent / "data" / "infra"
REPOSITORY_URL = "https://dev.azure.com/contoso/price-engine/_git/property-price-platform"
# What `python -m infra plan --stack prod` needs on a fresh clone: the placeholder URL is refused.
REQUIRED_BY_STACK = {"prod": {"repositoryUrl": REPOSITORY_URL}}


def fixture_config(stack: str) -> dict:
    return load_config_file(FIXTURES / "config" / f"{stack}.yaml")


def plan_with_fixtures(stack: str, **changes: object) -> Plan:
    return build_plan(
        stack,
        clock=lambda: FIXED_NOW,
        gitops_root=FIXTURES,
        config_values={**fixture_config(stack), **changes},
    )


def plan_of_repository(stack: str) -> Plan:
    return build_plan(stack, clock=lambda: FIXED_NOW, config_values=REQUIRED_BY_STACK.get(stack, {}))


@pytest.fixture(scope="session")
def pinned_plans() -> dict[str, Plan]:
    return {stack: plan_with_fixtures(stack) for stack in ENVIRONMENTS}


@pytest.fixture(scope="session")
def repo_plans() -> dict[str, Plan]:
    return {stack: plan_of_repository(stack) for stack in ENVIRONMENTS}
