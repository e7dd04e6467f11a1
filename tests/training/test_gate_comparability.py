"""The gate scores a champion only on data it can be scored on, and says why it stops or switches."""

import pytest

from model_contract.artifact import Feature, ModelCard
from model_contract.pins import ModelPin
from training.config import GateConfig
from training.gate import Verdict, incomparability, not_comparable, switched

GATE = GateConfig(metric="rmse_log", direction="minimize", min_improvement=0.001)
CHAMPION = ModelPin("ames-price", 3)


def card(*features: Feature) -> ModelCard:
    return ModelCard(
        model_name="ames-price", target="Sale_Price", features=features, nominal_coverage=0.9, bands=(),
        metrics={}, data_fingerprint="f", lineage_key="k",
    )  # fmt: skip


FEATURES = card(
    Feature("Gr_Liv_Area", "numeric", required=True),
    Feature("Lot_Area", "numeric", required=True),
    Feature("Pool_QC", "categorical", required=False),
)


def test_a_champion_of_the_same_name_whose_required_features_the_data_has_is_comparable():
    assert incomparability(CHAMPION, FEATURES, "ames-price", {"Gr_Liv_Area", "Lot_Area"}) is None


def test_no_pinned_version_means_nothing_to_compare_and_no_stop():
    assert incomparability(ModelPin("other", None), FEATURES, "ames-price", set()) is None


def test_a_champion_of_another_name_is_not_compared_and_the_reason_names_both():
    assert incomparability(CHAMPION, FEATURES, "flat-price", {"Gr_Liv_Area", "Lot_Area"}) == (
        "the environment pins ames-price v3 and this run trains 'flat-price': "
        "models of different names are not compared"
    )


def test_data_lacking_a_required_feature_of_the_champion_names_every_missing_one():
    assert incomparability(CHAMPION, FEATURES, "ames-price", {"Pool_QC"}) == (
        "the data lacks Gr_Liv_Area, Lot_Area, which champion ames-price v3 requires: "
        "it cannot be scored on this data"
    )


@pytest.mark.parametrize("columns", [{"Gr_Liv_Area", "Lot_Area"}, set()])
def test_a_champion_without_a_card_is_judged_by_its_name_alone(columns):
    assert incomparability(CHAMPION, None, "ames-price", columns) is None


def test_the_stop_records_no_figures_and_says_how_to_switch_on_purpose():
    verdict = not_comparable(GATE, "models of different names", 3, "dev", "flat-price")
    assert verdict == Verdict(
        "not-comparable", "rmse_log", None, None, 3,
        "not compared: models of different names "
        "(to make dev serve 'flat-price' instead, run again with --switch-model)",
    )  # fmt: skip
    assert verdict.register is False


def test_the_switch_records_the_challengers_figure_and_the_model_it_replaces():
    verdict = switched(GATE, "models of different names", {"rmse_log": 0.2, "rmse": 9.0}, CHAMPION)
    assert verdict == Verdict(
        "switched", "rmse_log", 0.2, None, 3,
        "switching from ames-price v3 (--switch-model; not compared: models of different names)",
    )  # fmt: skip
    assert verdict.register is True
