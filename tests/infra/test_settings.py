"""Stack settings: the real stack files are valid, and each bad setting is refused naming its key."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from infra.plan import settings_for
from infra.setting_values import Principal
from infra.settings import CONFIG_KEYS, PLACEHOLDER_REPOSITORY_URL, settings_from_config
from infra.stack_config import load_stack_config
from model_contract.config_error import ConfigError
from model_contract.pins import ENVIRONMENTS
from tests.infra.conftest import FIXED_NOW, REQUIRED_BY_STACK, fixture_config

TODAY = FIXED_NOW.date()
MESSAGE_SHAPE = re.compile(r"^property-price-platform:[a-zA-Z]+(\[\d+\])?: \S.*; allowed: \S.*$")


def raw_settings(stack: str, **overrides: str) -> dict[str, str]:
    config = load_stack_config(stack).with_values(REQUIRED_BY_STACK.get(stack, {}))
    values = {key.partition(":")[2]: value for key, value in config.as_pulumi_strings().items()}
    values.update(overrides)
    return values


def build(stack: str, **overrides: str):
    values = raw_settings(stack, **overrides)
    return settings_from_config(values.get, stack, TODAY)


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_every_stack_file_gives_valid_settings(stack):
    config = load_stack_config(stack).with_values(REQUIRED_BY_STACK.get(stack, {}))
    settings = settings_for(config, TODAY)
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
        ("prod", {"aksKubernetesVersion": "1.33"}, "aksKubernetesVersion"),  # past end of life
        ("prod", {"aksKubernetesVersion": "1.39"}, "aksKubernetesVersion"),  # not in the table
        ("prod", {"deployerPrincipalType": ""}, "deployerPrincipalType"),
        ("prod", {"deployerPrincipalType": "Group"}, "deployerPrincipalType"),
        ("prod", {"repositoryUrl": PLACEHOLDER_REPOSITORY_URL}, "repositoryUrl"),
        ("prod", {"argocdChartVersion": "9.1.0"}, "argocdChartVersion"),
        ("prod", {"argoRolloutsChartVersion": "2.40.10"}, "argoRolloutsChartVersion"),
        ("prod", {"prometheusChartVersion": "27.0.0"}, "prometheusChartVersion"),
        ("prod", {"argocdRepositorySecret": "no spaces"}, "argocdRepositorySecret"),
        ("dev", {"containerRegistrySku": "Basic"}, "containerRegistrySku"),
        ("qa", {"containerRegistrySku": "Standard"}, "containerRegistrySku"),
        ("dev", {"pipelinePrincipal": "00000000-0000-0000-0000-000000000001"}, "pipelinePrincipal"),
        ("dev", {"pipelinePrincipal": "User:00000000-0000-0000-0000-000000000001"}, "pipelinePrincipal"),
        ("dev", {"dataScientists": '["Group:not-a-guid"]'}, "dataScientists"),
        (
            "dev",
            {"keyVaultSecretsOfficers": '["ServicePrincipal:00000000-0000-0000-0000-000000000001"]'},
            "keyVaultSecretsOfficers",
        ),
        (
            "dev",
            {"promotionIntoPrincipal": "ServicePrincipal:00000000-0000-0000-0000-000000000001"},
            "promotionIntoPrincipal",
        ),
        (
            "prod",
            {"promotionFromPrincipal": "ServicePrincipal:00000000-0000-0000-0000-000000000001"},
            "promotionFromPrincipal",
        ),
        ("prod", {"aksAdminGroupObjectIds": '["not-a-guid"]'}, "aksAdminGroupObjectIds"),
        ("dev", {"devTtlHours": "0"}, "devTtlHours"),
        ("prod", {"deployerPrincipalType": "Robot"}, "deployerPrincipalType"),
        ("dev", {"computeMaxNodes": "3.0"}, "computeMaxNodes"),  # int() refuses it, so does Pulumi
        ("dev", {"owner": "a/b"}, "owner"),
        ("dev", {"aksIngressHost": "not a host"}, "aksIngressHost"),
        ("dev", {"logRetentionDays": "731"}, "logRetentionDays"),
    ],
)
def test_bad_settings_are_refused_naming_the_key_in_the_one_message_shape(stack, overrides, key):
    with pytest.raises(ConfigError, match=rf"^property-price-platform:{key}\b") as raised:
        build(stack, **overrides)
    assert all(MESSAGE_SHAPE.match(line) for line in str(raised.value).splitlines()), str(raised.value)


def test_the_end_of_support_message_reads_as_the_issue_asks():
    with pytest.raises(ConfigError) as raised:
        settings_from_config(raw_settings("prod", aksKubernetesVersion="1.33").get, "prod", date(2026, 12, 2))
    assert str(raised.value) == (
        "property-price-platform:aksKubernetesVersion: '1.33' reached end of support on 2026-07-31; "
        "allowed: 1.35, 1.36, 1.37 (infra/aks_versions.yaml, read 2026-12-02)"
    )


def test_every_bad_key_of_a_stack_file_is_reported_at_once_one_line_each():
    with pytest.raises(ConfigError) as raised:
        build("dev", namePrefix="Price_Engine", computeMaxNodes="two", servingTarget="kubernetes", tags="[1]")
    assert [problem.key.partition(":")[2] for problem in raised.value.problems] == [
        "namePrefix",
        "tags",
        "computeMaxNodes",
        "servingTarget",
    ]
    assert str(raised.value).splitlines() == [str(problem) for problem in raised.value.problems]


def test_every_broken_rule_across_keys_is_reported_at_once():
    with pytest.raises(ConfigError) as raised:
        build(
            "prod",
            aksUserMinNodes="6",
            containerExpiry="true",
            aksKubernetesVersion="1.33",
            deployerPrincipalType="",
            repositoryUrl=PLACEHOLDER_REPOSITORY_URL,
        )
    assert [problem.key.partition(":")[2] for problem in raised.value.problems] == [
        "aksUserMinNodes",
        "containerExpiry",
        "aksKubernetesVersion",
        "deployerPrincipalType",
        "repositoryUrl",
    ]


@pytest.mark.parametrize("key", CONFIG_KEYS)
def test_a_missing_key_is_named_with_what_it_accepts(key):
    """Every key has an 'allowed' text: its type's description, or its choices."""
    values = raw_settings("prod")
    del values[key]
    with pytest.raises(ConfigError) as raised:
        settings_from_config(values.get, "prod", TODAY)
    (problem,) = raised.value.problems
    assert problem.key == f"property-price-platform:{key}"
    assert problem.wrong.startswith(
        "not set (no default in Pulumi.yaml, no value in environments/Pulumi.prod.yaml)"
    )
    assert len(problem.allowed) > len("one of ")


def test_a_missing_setting_points_at_the_project_and_stack_files():
    values = raw_settings("dev")
    del values["containerRegistryName"]
    with pytest.raises(ConfigError, match=r"containerRegistryName: not set .*Pulumi.yaml.*Pulumi.dev.yaml"):
        settings_from_config(values.get, "dev")


def test_environment_defaults_to_the_stack_name_and_can_be_set():
    assert build("qa").environment == "qa"
    assert build("qa", environment="dev", containerExpiry="false").environment == "dev"


def test_an_aks_stack_requires_the_deployer_type_and_says_how_to_set_it():
    """Item 2: the type is required, not defaulted to ServicePrincipal (a person's id would be refused by ARM)."""
    values = raw_settings("prod")
    del values["deployerPrincipalType"]
    values["deployerPrincipalType"] = ""
    with pytest.raises(ConfigError, match=r"deployerPrincipalType: not set.*User when a person runs"):
        settings_from_config(values.get, "prod", TODAY)
    assert (
        build("prod", deployerPrincipalType="ServicePrincipal").deployer_principal_type == "ServicePrincipal"
    )


def test_aci_stacks_need_no_deployer_type_and_no_repository():
    assert build("qa", deployerPrincipalType="", repositoryUrl=PLACEHOLDER_REPOSITORY_URL).environment == "qa"


def test_the_placeholder_repository_is_refused_for_prod_naming_the_key_and_the_fix():
    with pytest.raises(
        ConfigError, match=r"repositoryUrl: the placeholder .*pulumi config set repositoryUrl"
    ):
        build("prod", repositoryUrl=PLACEHOLDER_REPOSITORY_URL)


def test_a_kubernetes_minor_is_checked_against_the_deployment_day():
    assert build("prod").aks_kubernetes_version == "1.36"
    values = raw_settings("prod", aksKubernetesVersion="1.36")
    with pytest.raises(ConfigError, match=r"aksKubernetesVersion: '1.36' is not generally available"):
        settings_from_config(values.get, "prod", date(2026, 1, 15))
    with pytest.raises(ConfigError, match=r"'1.36' reached end of support on 2027-06-30"):
        settings_from_config(values.get, "prod", date(2027, 7, 1))


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_principals_are_parsed_with_their_types(stack):
    values = raw_settings(stack)
    for key, value in fixture_config(stack).items():
        values[key] = json.dumps(value) if isinstance(value, list) else str(value)
    settings = settings_from_config(values.get, stack, TODAY)
    assert settings.pipeline_principal is not None
    assert settings.pipeline_principal.principal_type == "ServicePrincipal"
    assert settings.data_scientists == (Principal("0000da7a-0000-4000-8000-000000000d01", "Group"),)
    assert (settings.promotion_into_principal is None) == (stack == "dev")
    assert (settings.promotion_from_principal is None) == (stack == "prod")
