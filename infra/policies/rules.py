"""The stack's policy rules as plain functions over ``(type token, inputs)``.

The same functions run in two places: the CrossGuard pack (``pulumi preview --policy-pack infra/policies``)
on what the engine is about to create, and the tests on the offline plan of every stack. Inputs use the
engine's property names (camelCase), which is what both of them see.

Rules that depend on the environment (prod-only requirements, ACI outside prod) read it from the
resource's ``environment`` tag, which the tagging rule makes mandatory.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from infra.aks_versions import support_table

Inputs = Mapping[str, Any]
Check = Callable[[str, Inputs], Iterable[str]]

REQUIRED_TAGS = ("environment", "project", "owner", "managed-by")
# Azure resources whose API has no tags.
UNTAGGABLE_TYPES = (
    "azure-native:authorization:RoleAssignment",
    "azure-native:authorization:RoleDefinition",
    "azure-native:monitor:DataCollectionRuleAssociation",
    "azure-native:monitor:DiagnosticSetting",
    "azure-native:managedidentity:FederatedIdentityCredential",
)
SECRET_NAME = re.compile(
    r"(password|passwd|secret|token|api[_-]?key|access[_-]?key|shared[_-]?key|connection[_-]?string|credential)",
    re.I,
)


@dataclass(frozen=True)
class Rule:
    """One policy: a name for reports, what it protects, the types it looks at, and the check."""

    name: str
    description: str
    resource_types: tuple[str, ...] | None
    check: Check

    def applies_to(self, type_token: str) -> bool:
        return self.resource_types is None or type_token in self.resource_types

    def violations(self, type_token: str, inputs: Inputs) -> list[str]:
        return list(self.check(type_token, inputs)) if self.applies_to(type_token) else []


def _get(inputs: Inputs, path: str) -> Any:
    value: Any = inputs
    for key in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _environment(inputs: Inputs) -> str | None:
    tags = inputs.get("tags")
    return tags.get("environment") if isinstance(tags, Mapping) else None


def _storage(_type: str, inputs: Inputs) -> Iterable[str]:
    if inputs.get("minimumTlsVersion") != "TLS1_2":
        yield f"minimumTlsVersion is {inputs.get('minimumTlsVersion')!r}: storage must require TLS1_2"
    if inputs.get("enableHttpsTrafficOnly") is not True:
        yield "enableHttpsTrafficOnly must be true: no plain-HTTP access to storage"
    if inputs.get("allowBlobPublicAccess") is not False:
        yield "allowBlobPublicAccess must be false: no anonymous blob access"


def _key_vault(_type: str, inputs: Inputs) -> Iterable[str]:
    properties = inputs.get("properties") or {}
    if properties.get("enableRbacAuthorization") is not True:
        yield "properties.enableRbacAuthorization must be true: access through Azure RBAC, not access policies"
    if properties.get("enableSoftDelete") is False:
        yield "properties.enableSoftDelete must not be false"
    if _environment(inputs) == "prod" and properties.get("enablePurgeProtection") is not True:
        yield "properties.enablePurgeProtection must be true in prod: deleted secrets stay recoverable"


def _registry(_type: str, inputs: Inputs) -> Iterable[str]:
    if inputs.get("adminUserEnabled") is True:
        yield "adminUserEnabled must be false: pull and push with Entra identities, not the shared admin user"


def _workspace(_type: str, inputs: Inputs) -> Iterable[str]:
    if inputs.get("v1LegacyMode") is True:
        yield "v1LegacyMode must be false: v1 legacy mode disables the v2 APIs the pipeline uses"


def _compute(_type: str, inputs: Inputs) -> Iterable[str]:
    compute = inputs.get("properties") or {}
    if compute.get("computeType") != "AmlCompute":
        return
    if compute.get("disableLocalAuth") is not True:
        yield "properties.disableLocalAuth must be true: jobs authenticate with Entra identities only"
    cluster = compute.get("properties") or {}
    minimum = _get(cluster, "scaleSettings.minNodeCount")
    if minimum != 0:
        yield f"scaleSettings.minNodeCount is {minimum!r}: an idle cluster must scale to 0 nodes"
    if cluster.get("remoteLoginPortPublicAccess") != "Disabled":
        yield "properties.remoteLoginPortPublicAccess must be Disabled: no public SSH to training nodes"


def _aks(_type: str, inputs: Inputs) -> Iterable[str]:
    if _get(inputs, "oidcIssuerProfile.enabled") is not True:
        yield "oidcIssuerProfile.enabled must be true: workload identity federation needs the OIDC issuer"
    if _get(inputs, "securityProfile.workloadIdentity.enabled") is not True:
        yield "securityProfile.workloadIdentity.enabled must be true: pods get Entra tokens, not secrets"
    if _get(inputs, "aadProfile.enableAzureRBAC") is not True:
        yield "aadProfile.enableAzureRBAC must be true: cluster access is granted with Azure RBAC"
    if _environment(inputs) == "prod" and inputs.get("disableLocalAccounts") is not True:
        yield "disableLocalAccounts must be true in prod: no static cluster-admin credentials"


def _aks_version(_type: str, inputs: Inputs) -> Iterable[str]:
    minor = str(inputs.get("kubernetesVersion") or "")
    problem = support_table().problem(".".join(minor.split(".")[:2]), date.today())
    if problem is not None:
        yield f"kubernetesVersion {minor!r} is {problem}: AKS refuses to create clusters on it"


def _aci(_type: str, inputs: Inputs) -> Iterable[str]:
    if _environment(inputs) == "prod":
        yield "container groups are for dev/qa only: production serves from AKS"


def _tagged(type_token: str, inputs: Inputs) -> Iterable[str]:
    if not type_token.startswith("azure-native:") or type_token in UNTAGGABLE_TYPES:
        return
    tags = inputs.get("tags")
    missing = [tag for tag in REQUIRED_TAGS if not isinstance(tags, Mapping) or not tags.get(tag)]
    if missing:
        yield f"missing tags: {', '.join(missing)}"


def _role_assignment(_type: str, inputs: Inputs) -> Iterable[str]:
    if not inputs.get("principalType"):
        yield "principalType must be set: without it a new identity fails with PrincipalNotFound"
    if inputs.get("condition") and inputs.get("conditionVersion") != "2.0":
        yield "conditionVersion must be 2.0 with a condition: ARM refuses version 1.0 conditions on new assignments"


def _container_secrets(_type: str, inputs: Inputs) -> Iterable[str]:
    for container in inputs.get("containers") or []:
        for variable in container.get("environmentVariables") or []:
            name = str(variable.get("name", ""))
            if SECRET_NAME.search(name) and variable.get("value") not in (None, ""):
                yield f"environment variable {name} holds a plain value: use secureValue (or an identity)"


RULES: tuple[Rule, ...] = (
    Rule(
        "storage-secure-transport",
        "Storage accounts require TLS 1.2 and HTTPS and allow no anonymous blob access.",
        ("azure-native:storage:StorageAccount",),
        _storage,
    ),
    Rule(
        "key-vault-rbac-soft-delete",
        "Key vaults use Azure RBAC and soft delete; prod vaults are purge-protected.",
        ("azure-native:keyvault:Vault",),
        _key_vault,
    ),
    Rule(
        "registry-admin-user-off",
        "Container registries have the admin user disabled.",
        ("azure-native:containerregistry:Registry",),
        _registry,
    ),
    Rule(
        "workspace-not-v1-legacy",
        "Azure ML workspaces are not in v1 legacy mode.",
        ("azure-native:machinelearningservices:Workspace",),
        _workspace,
    ),
    Rule(
        "compute-locked-down",
        "AmlCompute clusters scale to zero and allow neither local auth nor public SSH.",
        ("azure-native:machinelearningservices:Compute",),
        _compute,
    ),
    Rule(
        "aks-identity-and-rbac",
        "AKS clusters run the OIDC issuer, workload identity and Azure RBAC; no local accounts in prod.",
        ("azure-native:containerservice:ManagedCluster",),
        _aks,
    ),
    Rule(
        "aks-supported-kubernetes-version",
        "AKS clusters pin a Kubernetes minor that infra/aks_versions.yaml says is supported today.",
        ("azure-native:containerservice:ManagedCluster",),
        _aks_version,
    ),
    Rule(
        "aci-outside-prod-only",
        "Container Instances serve dev and qa only.",
        ("azure-native:containerinstance:ContainerGroup",),
        _aci,
    ),
    Rule(
        "tagged",
        f"Every taggable Azure resource carries the tags {', '.join(REQUIRED_TAGS)}.",
        None,
        _tagged,
    ),
    Rule(
        "role-assignment-principal-type",
        "Role assignments name their principal type.",
        ("azure-native:authorization:RoleAssignment",),
        _role_assignment,
    ),
    Rule(
        "no-plain-secrets-in-containers",
        "Container environment variables with secret-looking names use secureValue.",
        ("azure-native:containerinstance:ContainerGroup",),
        _container_secrets,
    ),
)


def check_resource(type_token: str, inputs: Inputs) -> dict[str, list[str]]:
    """Every rule's violations for one resource, by rule name (rules without violations left out)."""
    found = {rule.name: rule.violations(type_token, inputs) for rule in RULES}
    return {name: messages for name, messages in found.items() if messages}


def plain_secrets_in_config(values: Mapping[str, Any], secure_keys: Iterable[str], source: str) -> list[str]:
    """Config keys that look like secrets but are stored in plain text (not ``pulumi config set --secret``).

    ``values`` maps ``<namespace>:<key>`` to the value as written; ``secure_keys`` are those encrypted.
    """
    secure = set(secure_keys)
    return [
        f"{source}: {key} looks like a secret but is stored in plain text; use `pulumi config set --secret`"
        for key, value in sorted(values.items())
        if SECRET_NAME.search(key.rpartition(":")[2]) and key not in secure and value not in (None, "", [])
    ]
