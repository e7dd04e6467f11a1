"""The gate's decision rule, on numbers: margin, direction, ties, force."""

import pytest

from training.config import GateConfig
from training.gate import decide

GATE = GateConfig(metric="rmse_log", direction="minimize", min_improvement=0.001)


def test_no_champion_registers_the_first_model():
    verdict = decide(GATE, {"rmse_log": 0.2}, None, None)
    assert verdict.outcome == "first-model" and verdict.register


def test_a_better_challenger_by_the_margin_is_registered():
    verdict = decide(GATE, {"rmse_log": 0.120}, {"rmse_log": 0.125}, 3)
    assert verdict.outcome == "improved" and verdict.register
    assert "champion v3" in verdict.reason


@pytest.mark.parametrize("challenger", [0.125, 0.1245, 0.130])
def test_a_tie_a_gain_below_the_margin_or_a_loss_registers_nothing(challenger):
    verdict = decide(GATE, {"rmse_log": challenger}, {"rmse_log": 0.125}, 3)
    assert verdict.outcome == "no-improvement" and not verdict.register
    assert verdict.reason.startswith("no improvement")


def test_force_registers_a_loser_and_says_so():
    verdict = decide(GATE, {"rmse_log": 0.130}, {"rmse_log": 0.125}, 3, force=True)
    assert verdict.outcome == "forced" and verdict.register and "--force" in verdict.reason


def test_a_maximized_metric_compares_the_other_way():
    gate = GateConfig(metric="r2", direction="maximize", min_improvement=0.01)
    assert decide(gate, {"r2": 0.90}, {"r2": 0.88}, 1).register
    assert not decide(gate, {"r2": 0.885}, {"r2": 0.88}, 1).register
