"""The whole offline plan of each stack against a reviewed golden file.

The goldens use the pinned fixture overlays (tests/data/infra/gitops) and a fixed clock, so they change
only when the program, the stack config or the fixtures change, never with a bump PR. Refresh after an
intended change with

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/infra/test_golden_plans.py

and review the diff: it is what `pulumi up` would do differently.
"""

from __future__ import annotations

import json
import os

import pytest

from infra.cli import main
from infra.plan_render import plan_json
from model_contract.pins import ENVIRONMENTS
from tests.infra.conftest import FIXTURES

UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def golden_path(stack: str):
    return FIXTURES / f"plan-{stack}.json"


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_plan_matches_the_golden_file(pinned_plans, stack):
    rendered = plan_json(pinned_plans[stack])
    if UPDATE:
        golden_path(stack).write_text(rendered, encoding="utf-8")
    assert golden_path(stack).exists(), "no golden plan yet: run with UPDATE_GOLDEN=1"
    expected = json.loads(golden_path(stack).read_text(encoding="utf-8"))
    assert json.loads(rendered) == expected, (
        f"the {stack} plan changed: if intended, refresh with UPDATE_GOLDEN=1 (see tests/data/infra/README.md)"
    )


def test_the_cli_plan_command_prints_what_the_golden_file_holds(capsys):
    code = main(
        [
            "plan", "--stack", "qa", "--json", "--now", "2026-12-01T12:00:00Z",
            "--gitops-root", str(FIXTURES), "--config-file", str(FIXTURES / "config/qa.yaml"),
        ]
    )  # fmt: skip
    assert code == 0
    assert json.loads(capsys.readouterr().out) == json.loads(golden_path("qa").read_text(encoding="utf-8"))
