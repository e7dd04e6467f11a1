"""Azure built-in role definitions the stack assigns, by their fixed ids (identical in every tenant)."""

from __future__ import annotations

from enum import Enum

import pulumi
from pulumi_azure_native import authorization


class BuiltInRole(Enum):
    """Built-in roles by name; the value is the role definition's GUID."""

    CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
    ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
    ACR_PUSH = "8311e382-0749-4cb8-b61a-304f252e45ec"
    STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
    STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
    STORAGE_FILE_DATA_PRIVILEGED_CONTRIBUTOR = "69566ab7-960f-475b-8e7c-b3118f30c6bd"
    KEY_VAULT_ADMINISTRATOR = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
    KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
    AZUREML_DATA_SCIENTIST = "f6c7c914-8db3-469d-8ca1-694a8f32e121"
    AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"

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
    BuiltInRole.ACR_PULL: "AcrPull",
    BuiltInRole.ACR_PUSH: "AcrPush",
    BuiltInRole.STORAGE_BLOB_DATA_CONTRIBUTOR: "Storage Blob Data Contributor",
    BuiltInRole.STORAGE_BLOB_DATA_READER: "Storage Blob Data Reader",
    BuiltInRole.STORAGE_FILE_DATA_PRIVILEGED_CONTRIBUTOR: "Storage File Data Privileged Contributor",
    BuiltInRole.KEY_VAULT_ADMINISTRATOR: "Key Vault Administrator",
    BuiltInRole.KEY_VAULT_SECRETS_USER: "Key Vault Secrets User",
    BuiltInRole.AZUREML_DATA_SCIENTIST: "AzureML Data Scientist",
    BuiltInRole.AKS_RBAC_CLUSTER_ADMIN: "Azure Kubernetes Service RBAC Cluster Admin",
}


def role_of_definition_id(definition_id: str) -> BuiltInRole | None:
    """Which built-in role an ARM role definition id names (for tests and policies)."""
    guid = definition_id.rstrip("/").rsplit("/", 1)[-1]
    return next((role for role in BuiltInRole if role.value == guid), None)


def assign_role(
    resource_name: str,
    role: BuiltInRole,
    *,
    principal_id: pulumi.Input[str],
    scope: pulumi.Input[str],
    subscription_id: pulumi.Input[str],
    purpose: str,
    parent: pulumi.Resource,
    principal_type: str = authorization.PrincipalType.SERVICE_PRINCIPAL,
) -> authorization.RoleAssignment:
    """Grant a managed identity ``role`` on ``scope``.

    ``principal_type`` is always set (``ServicePrincipal`` for managed identities): without it ARM looks
    the principal up in Entra ID, and a just-created identity that has not replicated yet fails the
    deployment with ``PrincipalNotFound``. The assignment's own name (a GUID) is left to the
    provider's autonaming.
    """
    return authorization.RoleAssignment(
        resource_name,
        principal_id=principal_id,
        principal_type=principal_type,
        role_definition_id=role.definition_id(subscription_id),
        scope=scope,
        description=f"{role.display_name}: {purpose}",
        opts=pulumi.ResourceOptions(parent=parent),
    )
