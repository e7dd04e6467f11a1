"""Stack settings: the real stack files are valid, and each bad setting is refused naming its key."""

from __future__ import annotations

import pytest

from infra.plan import settings_for
from infra.settings import SettingsError, settings_from_config
from infra.stack_config import load_stack_config
from training.pins import ENVIRONMENTS


def raw_settings(stack: str, **overrides: str) -> dict[str, str]:
    config = load_stack_config(stack)
    values = {key.partition(":")[2]: value for key, value in config.as_pulumi_strings().items()}
    values.update(overrides)
    return values


def build(stack: str, **overrides: str):
    values = raw_settings(stack, **overrides)
    return settings_from_config(values.get, stack)


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_every_stack_file_gives_valid_settings(stack):
    settings = settings_for(load_stack_config(stack))
    assert settings.environment == stack
    assert settings.serving_target == ("aks" if stack == "prod" else "aci")
    assert settings.container_registry_name == f"crpriceengine{stack}"


def test_the_registry_login_server_is_lower_case_like_azure_s():
    assert build("dev", containerRegistryName="CrPriceEngineDev").registry_login_server == (
        "crpriceenginedev.azurecr.io"
    )


def test_only_dev_expires():
    assert [stack for stack in ENVIRONMENTS if build(stack).container_expiry] == ["dev"]
    assert build("dev").dev_ttl_hours == 24


def test_tags_merge_standard_and_extra_tags():
    tags = build("prod").resource_tags()
    assert tags["environment"] == "prod"
    assert tags["managed-by"] == "pulumi"
    assert tags["criticality"] == "high"


@pytest.mark.parametrize(
    ("stack", "overrides", "key"),
    [
        ("dev", {"servingTarget": "kubernetes"}, "servingTarget"),
        ("dev", {"computeMinNodes": "3", "computeMaxNodes": "2"}, "computeMinNodes"),
        ("prod", {"aksUserMinNodes": "6", "aksUserMaxNodes": "5"}, "aksUserMinNodes"),
        ("dev", {"computeVmSize": ""}, "computeVmSize"),
        ("prod", {"aksUserVmSize": "  "}, "aksUserVmSize"),
        ("prod", {"containerExpiry": "true"}, "containerExpiry"),
        ("prod", {"servingTarget": "aci"}, "servingTarget"),
        ("qa", {"containerExpiry": "true", "servingTarget": "aks"}, "containerExpiry"),
        ("dev", {"containerRegistryName": "cr-with-hyphens"}, "containerRegistryName"),
        ("dev", {"namePrefix": "Price_Engine"}, "namePrefix"),
        ("dev", {"computeMaxNodes": "two"}, "computeMaxNodes"),
        ("dev", {"containerExpiry": "yes"}, "containerExpiry"),
        ("dev", {"tags": '["no-equals-sign"]'}, "tags"),
        ("dev", {"tags": '["a=1", "a=2"]'}, "tags"),
        ("dev", {"environment": "staging"}, "environment"),
        ("dev", {"repositoryUrl": "git@github.com:org/repo.git"}, "repositoryUrl"),
        ("prod", {"aksKubernetesVersion": "latest"}, "aksKubernetesVersion"),
        ("prod", {"aksAdminGroupObjectIds": '["not-a-guid"]'}, "aksAdminGroupObjectIds"),
        ("dev", {"devTtlHours": "0"}, "devTtlHours"),
        ("prod", {"deployerPrincipalType": "Robot"}, "deployerPrincipalType"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(stack, overrides, key):
    with pytest.raises(SettingsError, match=rf"property-price-platform:{key}\b"):
        build(stack, **overrides)


def test_a_missing_setting_points_at_the_project_and_stack_files():
    values = raw_settings("dev")
    del values["containerRegistryName"]
    with pytest.raises(
        SettingsError, match=r"containerRegistryName is not set.*Pulumi.yaml.*Pulumi.dev.yaml"
    ):
        settings_from_config(values.get, "dev")


def test_environment_defaults_to_the_stack_name_and_can_be_set():
    assert build("qa").environment == "qa"
    assert build("qa", environment="dev", containerExpiry="false").environment == "dev"
