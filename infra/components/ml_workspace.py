"""The Azure ML workspace and everything it is linked to, in one resource group.

Resource group, Log Analytics, workspace-based Application Insights, storage, key vault, container
registry, the workspace's own user-assigned identity with the roles it needs on those, and the workspace.

Storage shared keys are disabled, so the workspace reaches its system datastores with its identity
(``system_datastores_auth_mode``), and that identity gets its roles *before* the workspace is created, with
a wait for them to propagate: Azure ML checks its access to the linked resources at creation time. The one
role Azure ML documents on the workspace itself (Contributor for the workspace's user-assigned identity)
can only be granted once the workspace exists; ``identity_ready`` is the wait after it, for whatever makes
the workspace act as its identity (the training cluster).

The registry lets trusted Azure services through its network rules: Container Instances pulling with a
managed identity and ``az acr import`` between registries both rely on that bypass.
"""

from __future__ import annotations

import pulumi
from pulumi_azure_native import (
    applicationinsights,
    containerregistry,
    keyvault,
    machinelearningservices,
    managedidentity,
    operationalinsights,
    resources,
    storage,
)

from infra.naming import Naming
from infra.propagation import wait_for_grants
from infra.roles import BuiltInRole, assign_role
from infra.settings import Settings

COMPONENT_TYPE = "property-price-platform:infra:MlWorkspace"


def _access(enabled: bool) -> str:
    return "Enabled" if enabled else "Disabled"


class MlWorkspace(pulumi.ComponentResource):
    """The workspace with its storage, key vault, registry, monitoring and identity."""

    def __init__(
        self,
        name: str,
        *,
        settings: Settings,
        naming: Naming,
        name_suffix: pulumi.Input[str],
        tenant_id: pulumi.Input[str],
        subscription_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self._settings = settings
        self._tags = settings.resource_tags()
        self._child = pulumi.ResourceOptions(parent=self)
        location = settings.location

        self.resource_group = resources.ResourceGroup(
            "resource-group",
            resource_group_name=naming.resource_group(),
            location=location,
            tags=self._tags,
            opts=self._child,
        )
        rg = self.resource_group.name
        self.log_analytics = operationalinsights.Workspace(
            "log-analytics",
            resource_group_name=rg,
            workspace_name=naming.log_analytics(),
            location=location,
            sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=settings.log_retention_days,
            tags=self._tags,
            opts=self._child,
        )
        self.app_insights = applicationinsights.Component(
            "app-insights",
            resource_group_name=rg,
            resource_name_=naming.app_insights(),
            location=location,
            kind="web",
            application_type="web",
            ingestion_mode="LogAnalytics",
            workspace_resource_id=self.log_analytics.id,
            tags=self._tags,
            opts=self._child,
        )
        self.storage_account = self._storage(rg, naming.storage_account(name_suffix))
        self.key_vault = self._key_vault(rg, naming.key_vault(name_suffix), tenant_id)
        self.registry = containerregistry.Registry(
            "registry",
            resource_group_name=rg,
            registry_name=settings.container_registry_name,
            location=location,
            sku=containerregistry.SkuArgs(name=settings.container_registry_sku),
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            network_rule_bypass_options=containerregistry.NetworkRuleBypassOptions.AZURE_SERVICES,
            public_network_access=_access(settings.public_network_access),
            tags=self._tags,
            opts=self._child,
        )
        self.identity = managedidentity.UserAssignedIdentity(
            "workspace-identity",
            resource_group_name=rg,
            resource_name_=naming.identity("workspace"),
            location=location,
            tags=self._tags,
            opts=self._child,
        )
        grants = self._workspace_identity_grants(subscription_id)
        grants_propagated = wait_for_grants("workspace-identity-propagation", grants, parent=self)
        self.workspace = machinelearningservices.Workspace(
            "workspace",
            resource_group_name=rg,
            workspace_name=naming.ml_workspace(name_suffix),
            location=location,
            kind="Default",
            sku=machinelearningservices.SkuArgs(name="Basic", tier="Basic"),
            friendly_name=f"Property price estimation ({settings.environment})",
            description="Training, experiment tracking and the MLflow model registry of the price engine.",
            identity=machinelearningservices.ManagedServiceIdentityArgs(
                type=machinelearningservices.ManagedServiceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[self.identity.id],
            ),
            primary_user_assigned_identity=self.identity.id,
            storage_account=self.storage_account.id,
            key_vault=self.key_vault.id,
            container_registry=self.registry.id,
            application_insights=self.app_insights.id,
            system_datastores_auth_mode=machinelearningservices.SystemDatastoresAuthMode.IDENTITY,
            v1_legacy_mode=False,
            public_network_access=_access(settings.public_network_access),
            tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[grants_propagated]),
        )
        self.workspace_contributor = assign_role(
            "workspace-self-contributor",
            BuiltInRole.CONTRIBUTOR,
            principal_id=self.identity.principal_id,
            scope=self.workspace.id,
            subscription_id=subscription_id,
            purpose="the Azure ML workspace identity on its own workspace (identity-based service authentication)",
            parent=self,
        )
        self.identity_ready = wait_for_grants(
            "workspace-identity-ready", [self.workspace_contributor], parent=self
        )
        self.register_outputs(
            {
                "resourceGroupName": rg,
                "workspaceName": self.workspace.name,
                "mlflowTrackingUri": self.workspace.ml_flow_tracking_uri,
                "registryLoginServer": self.registry.login_server,
            }
        )

    def _storage(self, rg: pulumi.Input[str], account_name: pulumi.Input[str]) -> storage.StorageAccount:
        return storage.StorageAccount(
            "storage",
            resource_group_name=rg,
            account_name=account_name,
            location=self._settings.location,
            kind=storage.Kind.STORAGE_V2,
            sku=storage.SkuArgs(name="Standard_ZRS" if self._settings.is_production else "Standard_LRS"),
            access_tier=storage.AccessTier.HOT,
            minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
            enable_https_traffic_only=True,
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            public_network_access=_access(self._settings.public_network_access),
            tags=self._tags,
            opts=self._child,
        )

    def _key_vault(
        self, rg: pulumi.Input[str], vault_name: pulumi.Input[str], tenant_id: pulumi.Input[str]
    ) -> keyvault.Vault:
        production = self._settings.is_production
        return keyvault.Vault(
            "key-vault",
            resource_group_name=rg,
            vault_name=vault_name,
            location=self._settings.location,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=tenant_id,
                sku=keyvault.SkuArgs(family=keyvault.SkuFamily.A, name=keyvault.SkuName.STANDARD),
                enable_rbac_authorization=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=90 if production else 7,
                # ARM refuses an explicit false here; purge protection is irreversible, so prod only.
                enable_purge_protection=True if production else None,
                public_network_access=_access(self._settings.public_network_access),
            ),
            tags=self._tags,
            opts=self._child,
        )

    def _workspace_identity_grants(self, subscription_id: pulumi.Input[str]) -> list[pulumi.Resource]:
        """The roles Azure ML documents for a workspace's user-assigned identity."""
        principal = self.identity.principal_id
        grants = [
            ("workspace-storage-contributor", BuiltInRole.CONTRIBUTOR, self.storage_account.id),
            ("workspace-storage-blob", BuiltInRole.STORAGE_BLOB_DATA_CONTRIBUTOR, self.storage_account.id),
            (
                "workspace-storage-file",
                BuiltInRole.STORAGE_FILE_DATA_PRIVILEGED_CONTRIBUTOR,
                self.storage_account.id,
            ),
            ("workspace-key-vault-contributor", BuiltInRole.CONTRIBUTOR, self.key_vault.id),
            ("workspace-key-vault-admin", BuiltInRole.KEY_VAULT_ADMINISTRATOR, self.key_vault.id),
            ("workspace-registry-contributor", BuiltInRole.CONTRIBUTOR, self.registry.id),
            ("workspace-insights-contributor", BuiltInRole.CONTRIBUTOR, self.app_insights.id),
        ]
        return [
            assign_role(
                resource_name,
                role,
                principal_id=principal,
                scope=scope,
                subscription_id=subscription_id,
                purpose="the Azure ML workspace identity on a linked resource",
                parent=self,
            )
            for resource_name, role, scope in grants
        ]
