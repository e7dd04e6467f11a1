"""The gate's verdict at its boundaries, and what it records for the decision record and the PR body."""

import pytest

from training.config import GateConfig
from training.gate import Verdict, decide


def test_an_improvement_of_exactly_the_margin_is_registered():
    # 1.0 - 0.75 is exactly 0.25 in binary floating point: the boundary itself, not a rounding of it.
    gate = GateConfig(metric="rmse_log", direction="minimize", min_improvement=0.25)
    assert decide(gate, {"rmse_log": 0.75}, {"rmse_log": 1.0}, 2).outcome == "improved"
    assert decide(gate, {"rmse_log": 0.7500001}, {"rmse_log": 1.0}, 2).outcome == "no-improvement"


def test_with_no_margin_a_tie_still_registers_nothing():
    """Deterministic retraining ties its champion; a zero margin must not turn that into a new version."""
    gate = GateConfig(metric="rmse_log", direction="minimize", min_improvement=0.0)
    assert decide(gate, {"rmse_log": 0.12}, {"rmse_log": 0.12}, 4).outcome == "no-improvement"
    assert decide(gate, {"rmse_log": 0.1199}, {"rmse_log": 0.12}, 4).outcome == "improved"


GATE = GateConfig(metric="rmse_log", direction="minimize", min_improvement=0.001)


@pytest.mark.parametrize(
    ("challenger", "champion", "version", "force", "outcome", "reason"),
    [
        (0.2, None, None, False, "first-model", "no champion pinned yet: registering the first model (rmse_log 0.2000)"),
        (0.12, 0.125, 3, False, "improved", "improved: rmse_log 0.1200 vs champion v3 0.1250"),
        (0.13, 0.125, 3, True, "forced", "forced registration (--force) although not better: rmse_log 0.1300 vs champion v3 0.1250"),
        (0.13, 0.125, 3, False, "no-improvement", "no improvement: rmse_log 0.1300 vs champion v3 0.1250 (needs an improvement of at least 0.001)"),
    ],
)  # fmt: skip
def test_every_verdict_records_what_was_compared_and_why(
    challenger, champion, version, force, outcome, reason
):
    champion_metrics = None if champion is None else {"rmse_log": champion, "rmse": 1.0}
    verdict = decide(GATE, {"rmse_log": challenger, "rmse": 2.0}, champion_metrics, version, force=force)
    assert verdict == Verdict(outcome, "rmse_log", challenger, champion, version, reason)


def test_the_decision_record_holds_every_field_and_whether_it_registers():
    verdict = decide(GATE, {"rmse_log": 0.13}, {"rmse_log": 0.125}, 3)
    assert verdict.as_dict() == {
        "outcome": "no-improvement",
        "metric": "rmse_log",
        "challenger": 0.13,
        "champion": 0.125,
        "champion_version": 3,
        "reason": verdict.reason,
        "register": False,
    }
