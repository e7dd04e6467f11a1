"""Names honour Azure's per-type rules, and the uniqueness suffix survives any shortening."""

from __future__ import annotations

import pytest

from infra.components.training_compute import TRAINING_COMPUTE_NAME
from infra.naming import RULES, Naming, agent_pool_name, compute_name, fit
from model_contract.config_error import ConfigError
from training.azureml.pipeline_job import DEFAULT_COMPUTE


@pytest.mark.parametrize("environment", ["dev", "qa", "prod"])
def test_global_and_soft_deleted_names_fit_their_limits_with_the_suffix(environment):
    for rule, abbreviation in (("storage_account", "st"), ("key_vault", "kv"), ("ml_workspace", "mlw")):
        name = fit(rule, [abbreviation, "price-engine", environment], "a1b2c3")
        assert name.endswith("a1b2c3")
        assert len(name) <= RULES[rule].max_length


def test_storage_and_key_vault_names_drop_hyphens_and_upper_case():
    assert fit("storage_account", ["st", "Price-Engine", "dev"], "x9y8z7") == "stpriceenginedevx9y8z7"
    assert fit("key_vault", ["kv", "price-engine", "prod"], "x9y8z7") == "kvpriceengineprodx9y8z7"


def test_a_long_prefix_is_shortened_but_keeps_the_suffix():
    name = fit("storage_account", ["st", "averyveryverylongprefix", "prod"], "abc123")
    assert name == "staveryveryverylongabc123"[:18] + "abc123"
    assert len(name) == 24


def test_names_that_cannot_be_valid_are_refused():
    with pytest.raises(
        ConfigError, match=r"^storage account name: suffix 'x{24}' leaves no room for a stem; allowed: 3-24"
    ):
        fit("storage_account", ["st"], "x" * 24)
    with pytest.raises(
        ConfigError, match=r"^agent pool name: '1pool' breaks Azure's rule; allowed: 1-12 characters"
    ):
        agent_pool_name("1pool")


def test_fixed_names_follow_the_abbreviation_prefix_environment_pattern():
    naming = Naming("price-engine", "qa")
    assert naming.resource_group() == "rg-price-engine-qa"
    assert naming.container_group() == "ci-price-engine-qa"
    assert naming.identity("engine") == "id-price-engine-qa-engine"
    assert naming.aks_cluster() == "aks-price-engine-qa"
    assert Naming("price-engine", "prod").aks_dns_prefix() == "price-engine-prod"
    assert compute_name("train-cpu") == "train-cpu"
    assert agent_pool_name("engine") == "engine"


def test_compute_names_are_shortened_to_16_characters_without_a_trailing_hyphen():
    assert compute_name("a-much-too-long-compute-name") == "a-much-too-long"


def test_the_training_cluster_is_the_compute_the_training_pipeline_submits_to():
    """Two literals in two packages (infra does not import the training pipeline's module): one name."""
    assert TRAINING_COMPUTE_NAME == DEFAULT_COMPUTE
