"""Policy rules: each passes on a compliant resource and fails on a broken one; every stack's plan passes."""

from __future__ import annotations

import copy
import runpy
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from infra.policies.rules import RULES, check_resource, plain_secrets_in_config
from infra.stack_config import load_stack_config
from model_contract.pins import ENVIRONMENTS

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
TAGS = {"environment": "prod", "project": "p", "owner": "o", "managed-by": "pulumi"}

# rule name -> (type token, compliant inputs, a change that breaks it)
CASES = {
    "storage-secure-transport": (
        "azure-native:storage:StorageAccount",
        {"minimumTlsVersion": "TLS1_2", "enableHttpsTrafficOnly": True, "allowBlobPublicAccess": False},
        {"minimumTlsVersion": "TLS1_0"},
    ),
    "key-vault-rbac-soft-delete": (
        "azure-native:keyvault:Vault",
        {
            "properties": {
                "enableRbacAuthorization": True,
                "enableSoftDelete": True,
                "enablePurgeProtection": True,
            }
        },
        {
            "properties": {"enableRbacAuthorization": True, "enableSoftDelete": True}
        },  # prod without purge protection
    ),
    "registry-admin-user-off": (
        "azure-native:containerregistry:Registry",
        {"adminUserEnabled": False},
        {"adminUserEnabled": True},
    ),
    "workspace-not-v1-legacy": (
        "azure-native:machinelearningservices:Workspace",
        {"v1LegacyMode": False},
        {"v1LegacyMode": True},
    ),
    "compute-locked-down": (
        "azure-native:machinelearningservices:Compute",
        {
            "properties": {
                "computeType": "AmlCompute",
                "disableLocalAuth": True,
                "properties": {
                    "scaleSettings": {"minNodeCount": 0},
                    "remoteLoginPortPublicAccess": "Disabled",
                },
            }
        },
        {
            "properties": {
                "computeType": "AmlCompute",
                "disableLocalAuth": True,
                "properties": {
                    "scaleSettings": {"minNodeCount": 1},
                    "remoteLoginPortPublicAccess": "Enabled",
                },
            }
        },
    ),
    "aks-identity-and-rbac": (
        "azure-native:containerservice:ManagedCluster",
        {
            "oidcIssuerProfile": {"enabled": True},
            "securityProfile": {"workloadIdentity": {"enabled": True}},
            "aadProfile": {"enableAzureRBAC": True},
            "disableLocalAccounts": True,
        },
        {"disableLocalAccounts": False},
    ),
    "aks-supported-kubernetes-version": (
        "azure-native:containerservice:ManagedCluster",
        {"kubernetesVersion": "1.36"},
        {"kubernetesVersion": "1.33"},  # past its end of life (July 2026)
    ),
    "aci-outside-prod-only": (
        "azure-native:containerinstance:ContainerGroup",
        {"tags": {**TAGS, "environment": "qa"}},
        {"tags": TAGS},
    ),
    "tagged": ("azure-native:resources:ResourceGroup", {}, {"tags": {"environment": "prod"}}),
    "role-assignment-principal-type": (
        "azure-native:authorization:RoleAssignment",
        {"principalType": "ServicePrincipal", "condition": "(x)", "conditionVersion": "2.0"},
        {"principalType": None, "conditionVersion": None},
    ),
    "no-plain-secrets-in-containers": (
        "azure-native:containerinstance:ContainerGroup",
        {"containers": [{"environmentVariables": [{"name": "API_KEY", "secureValue": "[secret]"}]}]},
        {"containers": [{"environmentVariables": [{"name": "API_KEY", "value": "hunter2"}]}]},
    ),
}


def test_every_rule_has_a_case():
    assert set(CASES) == {rule.name for rule in RULES}


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_rule_passes_a_compliant_resource_and_fails_a_broken_one(rule):
    type_token, good, breaking = CASES[rule.name]
    compliant = {"tags": TAGS, **copy.deepcopy(good)}
    assert rule.violations(type_token, compliant) == []
    broken = {**compliant, **copy.deepcopy(breaking)}
    messages = rule.violations(type_token, broken)
    assert messages and all(isinstance(message, str) and message for message in messages)


def test_rules_only_look_at_their_resource_types():
    admin_on = {"tags": TAGS, "adminUserEnabled": True}
    assert "registry-admin-user-off" in check_resource("azure-native:containerregistry:Registry", admin_on)
    storage = {**admin_on, **CASES["storage-secure-transport"][1]}
    assert check_resource("azure-native:storage:StorageAccount", storage) == {}


def test_untaggable_and_non_azure_resources_need_no_tags():
    assert check_resource("azure-native:monitor:DiagnosticSetting", {}) == {}
    assert check_resource("kubernetes:helm.sh/v3:Release", {}) == {}


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_every_resource_of_every_stack_passes_every_rule(pinned_plans, repo_plans, stack):
    for plan in (pinned_plans[stack], repo_plans[stack]):
        violations = {
            resource.name: found
            for resource in plan.resources
            if (found := check_resource(resource.type, resource.inputs))
        }
        assert violations == {}


def test_plain_secrets_in_config_are_refused_and_encrypted_ones_accepted():
    values = {"p:databasePassword": "hunter2", "p:location": "westeurope", "p:apiToken": "v1:abc"}
    messages = plain_secrets_in_config(values, ["p:apiToken"], "Pulumi.dev.yaml")
    assert messages == [
        "Pulumi.dev.yaml: p:databasePassword looks like a secret but is stored in plain text; "
        "use `pulumi config set --secret`"
    ]


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_no_stack_keeps_a_secret_in_plain_config(stack):
    config = load_stack_config(stack)
    values = {key: item.value for key, item in config.values.items()}
    assert plain_secrets_in_config(values, config.secret_keys(), stack) == []


def test_the_crossguard_pack_runs_the_same_rules(monkeypatch):
    import pulumi_policy

    packs = []
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: packs.append(kwargs))
    runpy.run_path(str(REPOSITORY_ROOT / "infra/policies/__main__.py"))
    (pack,) = packs
    assert pack["enforcement_level"] == pulumi_policy.EnforcementLevel.MANDATORY
    policies = {policy.name: policy for policy in pack["policies"]}
    assert set(policies) == {rule.name for rule in RULES} | {"no-plain-secrets-in-config"}
    reported = []
    args = SimpleNamespace(
        resource_type="azure-native:containerregistry:Registry",
        props={"adminUserEnabled": True, "tags": TAGS},
        urn="urn:x",
    )
    policies["registry-admin-user-off"].validate(args, lambda message, urn=None: reported.append(message))
    assert reported and "adminUserEnabled" in reported[0]
    reported.clear()
    policies["no-plain-secrets-in-config"].validate(
        SimpleNamespace(), lambda message, urn=None: reported.append(message)
    )
    assert reported == []


def test_the_crossguard_config_policy_reports_a_plain_password_in_a_stack_file(monkeypatch, tmp_path):
    """The pack reads the stack files beside it, so a copy of it in a scratch repository reads those."""
    import pulumi_policy

    packs = []
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: packs.append(kwargs))
    monkeypatch.setattr(sys, "path", [*sys.path])  # the pack puts its repository on sys.path
    shutil.copy(REPOSITORY_ROOT / "Pulumi.yaml", tmp_path)
    shutil.copytree(REPOSITORY_ROOT / "environments", tmp_path / "environments")
    pack_file = tmp_path / "infra/policies/__main__.py"
    pack_file.parent.mkdir(parents=True)
    shutil.copy(REPOSITORY_ROOT / "infra/policies/__main__.py", pack_file)
    with (tmp_path / "environments/Pulumi.qa.yaml").open("a", encoding="utf-8") as stack_file:
        stack_file.write("  property-price-platform:databasePassword: hunter2\n")
    runpy.run_path(str(pack_file))
    (config_policy,) = [p for p in packs[0]["policies"] if p.name == "no-plain-secrets-in-config"]
    reported = []
    config_policy.validate(SimpleNamespace(), lambda message, urn=None: reported.append(message))
    assert reported == [
        "environments/Pulumi.qa.yaml: property-price-platform:databasePassword looks like a secret "
        "but is stored in plain text; use `pulumi config set --secret`"
    ]
