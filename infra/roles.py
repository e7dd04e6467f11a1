"""The Azure roles the stack assigns: built-in ones by their fixed ids, and the few custom ones it defines.

A custom role is defined only where no built-in role is the least that works (each says why); every
assignment carries its principal type (see ``assign_role``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import pulumi
from pulumi_azure_native import authorization


class BuiltInRole(Enum):
    """Built-in roles by name; the value is the role definition's GUID."""

    CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
    READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
    ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
    ACR_PUSH = "8311e382-0749-4cb8-b61a-304f252e45ec"
    STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
    STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
    STORAGE_FILE_DATA_PRIVILEGED_CONTRIBUTOR = "69566ab7-960f-475b-8e7c-b3118f30c6bd"
    KEY_VAULT_ADMINISTRATOR = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
    KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
    KEY_VAULT_SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
    AZUREML_DATA_SCIENTIST = "f6c7c914-8db3-469d-8ca1-694a8f32e121"
    AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
    AKS_CLUSTER_USER = "4abbcc35-e782-43d8-92c5-2d3f1bd2253f"

    @property
    def display_name(self) -> str:
        return _DISPLAY_NAMES[self]

    def definition_id(self, subscription_id: pulumi.Input[str]) -> pulumi.Output[str]:
        """The ARM id ``RoleAssignment.role_definition_id`` expects."""
        return pulumi.Output.from_input(subscription_id).apply(
            lambda sub: f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{self.value}"
        )


_DISPLAY_NAMES = {
    BuiltInRole.CONTRIBUTOR: "Contributor",
    BuiltInRole.READER: "Reader",
    BuiltInRole.ACR_PULL: "AcrPull",
    BuiltInRole.ACR_PUSH: "AcrPush",
    BuiltInRole.STORAGE_BLOB_DATA_CONTRIBUTOR: "Storage Blob Data Contributor",
    BuiltInRole.STORAGE_BLOB_DATA_READER: "Storage Blob Data Reader",
    BuiltInRole.STORAGE_FILE_DATA_PRIVILEGED_CONTRIBUTOR: "Storage File Data Privileged Contributor",
    BuiltInRole.KEY_VAULT_ADMINISTRATOR: "Key Vault Administrator",
    BuiltInRole.KEY_VAULT_SECRETS_USER: "Key Vault Secrets User",
    BuiltInRole.KEY_VAULT_SECRETS_OFFICER: "Key Vault Secrets Officer",
    BuiltInRole.AZUREML_DATA_SCIENTIST: "AzureML Data Scientist",
    BuiltInRole.AKS_RBAC_CLUSTER_ADMIN: "Azure Kubernetes Service RBAC Cluster Admin",
    BuiltInRole.AKS_CLUSTER_USER: "Azure Kubernetes Service Cluster User Role",
}


@dataclass(frozen=True)
class CustomRole:
    """A custom role definition: what it allows and why no built-in role would do."""

    key: str
    title: str
    why: str
    actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()


_ML = "Microsoft.MachineLearningServices/workspaces"

# Reading a model version and the run it came from through MLflow (the promotion's source side). The
# built-in Reader would do, but it reads every asset of the workspace; these are the read operations Azure ML
# documents for MLflow ("Manage access to Azure Machine Learning workspaces", MLflow operations).
MLFLOW_MODEL_READER = CustomRole(
    key="mlflow-model-reader",
    title="MLflow model reader",
    why="read a registered model version, its run and the run's artifacts through MLflow, nothing else",
    actions=(
        f"{_ML}/read",
        f"{_ML}/experiments/read",
        f"{_ML}/experiments/runs/read",
        f"{_ML}/jobs/read",
        f"{_ML}/metadata/artifacts/read",
        f"{_ML}/models/read",
        f"{_ML}/models/*/read",
    ),
)

# Registering a copied model version (the promotion's target side): a run to hold the artifacts, their
# upload, and the model version. AzureML Data Scientist would also let the principal submit jobs on the
# compute, delete models and write datastores; this is the MLflow subset.
MLFLOW_MODEL_REGISTRAR = CustomRole(
    key="mlflow-model-registrar",
    title="MLflow model registrar",
    why="create an experiment run, log its artifacts and register a model version through MLflow",
    actions=(
        *MLFLOW_MODEL_READER.actions,
        f"{_ML}/experiments/write",
        f"{_ML}/experiments/runs/write",
        f"{_ML}/jobs/write",
        f"{_ML}/metadata/artifacts/write",
        f"{_ML}/models/write",
        f"{_ML}/models/*/write",
    ),
)

# `az acr import` into this registry: the importImage action on the target (ACR documents it as the custom
# role "AcrImport"; the built-in alternative is Contributor on the registry, which can delete it).
ACR_IMPORTER = CustomRole(
    key="acr-importer",
    title="Container registry importer",
    why="import an image by digest into this registry (az acr import), nothing else",
    actions=(
        "Microsoft.ContainerRegistry/registries/read",
        "Microsoft.ContainerRegistry/registries/pull/read",
        "Microsoft.ContainerRegistry/registries/push/write",
        "Microsoft.ContainerRegistry/registries/importImage/action",
    ),
)

# Reading Argo CD Applications through Azure RBAC for Kubernetes. No built-in AKS role covers custom
# resources: AKS maps every CRD to the single data action below ("Use Microsoft Entra ID authorization for
# the Kubernetes API": custom resources need a custom role, narrowed by an ABAC condition on the group and
# kind), and the assignment is scoped to the argocd namespace.
ARGOCD_APPLICATION_READER = CustomRole(
    key="argocd-application-reader",
    title="Argo CD Application reader",
    why="get, list and watch Argo CD Applications in the argocd namespace, nothing else",
    data_actions=("Microsoft.ContainerService/managedClusters/customresources/read",),
)
CUSTOM_RESOURCE_READ = ARGOCD_APPLICATION_READER.data_actions[0]


def custom_resource_condition(group: str, resource: str) -> str:
    """The ABAC condition limiting custom-resource reads to one API group and resource (AKS, version 2.0)."""
    return (
        f"((!(ActionMatches{{'{CUSTOM_RESOURCE_READ}'}})) OR "
        f"(@Request[Microsoft.ContainerService/managedClusters/customResources:group] StringEqualsIgnoreCase "
        f"'{group}' AND @Request[Microsoft.ContainerService/managedClusters/customResources:kind] "
        f"StringEqualsIgnoreCase '{resource}'))"
    )


def define_custom_role(
    role: CustomRole,
    *,
    stack_label: str,
    subscription_id: pulumi.Input[str],
    assignable_scopes: Sequence[pulumi.Input[str]],
    parent: pulumi.Resource,
) -> authorization.RoleDefinition:
    """Define ``role`` in the subscription, assignable only within ``assignable_scopes``.

    Role names are unique per tenant, so the name carries the stack's label (environment and name suffix).
    """
    return authorization.RoleDefinition(
        f"{role.key}-role",
        scope=pulumi.Output.from_input(subscription_id).apply(lambda sub: f"/subscriptions/{sub}"),
        role_name=pulumi.Output.from_input(stack_label).apply(
            lambda label: f"property-price-platform {role.title} ({label})"
        ),
        description=f"Can {role.why}.",
        role_type="CustomRole",
        permissions=[
            authorization.PermissionArgs(
                actions=list(role.actions), data_actions=list(role.data_actions), not_actions=[]
            )
        ],
        assignable_scopes=list(assignable_scopes),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def role_of_definition_id(definition_id: str) -> BuiltInRole | None:
    """Which built-in role an ARM role definition id names (for tests and policies)."""
    guid = definition_id.rstrip("/").rsplit("/", 1)[-1]
    return next((role for role in BuiltInRole if role.value == guid), None)


def assign_role(
    resource_name: str,
    role: BuiltInRole | authorization.RoleDefinition,
    *,
    principal_id: pulumi.Input[str],
    scope: pulumi.Input[str],
    subscription_id: pulumi.Input[str],
    purpose: str,
    parent: pulumi.Resource,
    principal_type: str = authorization.PrincipalType.SERVICE_PRINCIPAL,
    condition: str | None = None,
    after: Sequence[pulumi.Resource] = (),
) -> authorization.RoleAssignment:
    """Grant ``role`` (built-in, or a custom definition of this stack) on ``scope``.

    ``principal_type`` is always set (``ServicePrincipal`` for managed identities): without it ARM looks
    the principal up in Entra ID, and a just-created identity that has not replicated yet fails the
    deployment with ``PrincipalNotFound``; a wrong one fails with ``UnmatchedPrincipalType``. The
    assignment's own name (a GUID) is left to the provider's autonaming.
    """
    if isinstance(role, BuiltInRole):
        definition_id: pulumi.Input[str] = role.definition_id(subscription_id)
        title: pulumi.Input[str] = role.display_name
        depends_on: list[pulumi.Resource] = []
    else:
        definition_id, title, depends_on = role.id, role.role_name, [role]
    return authorization.RoleAssignment(
        resource_name,
        principal_id=principal_id,
        principal_type=principal_type,
        role_definition_id=definition_id,
        scope=scope,
        description=pulumi.Output.from_input(title).apply(lambda name: f"{name}: {purpose}"),
        condition=condition,
        condition_version="2.0" if condition else None,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[*depends_on, *after]),
    )
