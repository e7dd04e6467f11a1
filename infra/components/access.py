"""What the people and pipelines named in stack config may do on this stack's resources.

Every principal comes from a setting (``<principalType>:<objectId>``), so each role assignment carries the
right principal type, and each gets the least that lets it do its job:

* ``pipelinePrincipal`` (the Azure DevOps service connection): submits Azure ML jobs. The workspace storage
  allows no shared keys and the datastores use identities, so job submission (uploading the code snapshot
  and inputs, reading outputs) needs Storage Blob Data Contributor and Storage File Data Privileged
  Contributor on the workspace storage; without them Azure ML answers 403.
* ``dataScientists``: the same storage roles, and AzureML Data Scientist on the workspace (submit jobs,
  register models; no compute or workspace changes).
* ``keyVaultSecretsOfficers``: write this stack's key vault secrets (the vault uses Azure RBAC, so not even
  a subscription Owner can write a secret without a data-plane role).
* ``promotionFromPrincipal`` (reads here, writes the next environment): MLflow model reader on the workspace,
  Storage Blob Data Reader on its storage (model artifacts, read with the caller's identity), and Reader on
  the registry, which ``az acr import`` needs on the source registry.
* ``promotionIntoPrincipal`` (reads the previous environment, writes here): MLflow model registrar on the
  workspace, Storage Blob Data Contributor on its storage (artifact upload), and the importImage action on
  the registry.

Custom roles are defined here, assignable only within this stack's resource group, where no built-in role is
the least that works (see infra.roles); assignments to them wait for the definitions to propagate.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.propagation import wait_for_grants
from infra.roles import (
    ACR_IMPORTER,
    MLFLOW_MODEL_READER,
    MLFLOW_MODEL_REGISTRAR,
    BuiltInRole,
    CustomRole,
    assign_role,
    define_custom_role,
)
from infra.setting_values import Principal
from infra.settings import Settings

COMPONENT_TYPE = "property-price-platform:infra:AccessGrants"


@dataclass(frozen=True)
class StackScopes:
    """The resources principals are granted roles on, by ARM id."""

    resource_group_id: pulumi.Input[str]
    storage_account_id: pulumi.Input[str]
    workspace_id: pulumi.Input[str]
    registry_id: pulumi.Input[str]
    key_vault_id: pulumi.Input[str]


@dataclass(frozen=True)
class _Grant:
    name: str
    role: BuiltInRole | CustomRole
    principal: Principal
    scope: pulumi.Input[str]
    purpose: str


class AccessGrants(pulumi.ComponentResource):
    """Role assignments (and the custom roles they need) for the principals of the stack config."""

    def __init__(
        self,
        name: str,
        *,
        settings: Settings,
        scopes: StackScopes,
        subscription_id: pulumi.Input[str],
        stack_label: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        grants = _grants(settings, scopes)
        custom = sorted({g.role for g in grants if isinstance(g.role, CustomRole)}, key=lambda r: r.key)
        self.definitions = {
            role.key: define_custom_role(
                role,
                stack_label=stack_label,
                subscription_id=subscription_id,
                assignable_scopes=[scopes.resource_group_id],
                parent=self,
            )
            for role in custom
        }
        defined = (
            [wait_for_grants("custom-roles-propagation", list(self.definitions.values()), parent=self)]
            if self.definitions
            else []
        )
        self.assignments = [
            assign_role(
                grant.name,
                grant.role if isinstance(grant.role, BuiltInRole) else self.definitions[grant.role.key],
                principal_id=grant.principal.object_id,
                principal_type=grant.principal.principal_type,
                scope=grant.scope,
                subscription_id=subscription_id,
                purpose=grant.purpose,
                parent=self,
                after=[] if isinstance(grant.role, BuiltInRole) else defined,
            )
            for grant in grants
        ]
        self.register_outputs({"assignments": len(self.assignments)})


def _grants(settings: Settings, scopes: StackScopes) -> list[_Grant]:
    grants: list[_Grant] = []
    storage_data = (
        (BuiltInRole.STORAGE_BLOB_DATA_CONTRIBUTOR, "blob"),
        (BuiltInRole.STORAGE_FILE_DATA_PRIVILEGED_CONTRIBUTOR, "file"),
    )
    if settings.pipeline_principal is not None:
        grants += [
            _Grant(f"pipeline-storage-{kind}", role, settings.pipeline_principal, scopes.storage_account_id,
                   "Azure DevOps pipeline submitting Azure ML jobs (identity-based datastores)")
            for role, kind in storage_data
        ]  # fmt: skip
    for index, person in enumerate(settings.data_scientists):
        grants += [
            _Grant(f"data-scientists-{index}-storage-{kind}", role, person, scopes.storage_account_id,
                   "data scientists submitting Azure ML jobs (identity-based datastores)")
            for role, kind in storage_data
        ]  # fmt: skip
        grants.append(
            _Grant(f"data-scientists-{index}-workspace", BuiltInRole.AZUREML_DATA_SCIENTIST, person,
                   scopes.workspace_id, "data scientists running experiments and registering models")
        )  # fmt: skip
    for index, officer in enumerate(settings.key_vault_secrets_officers):
        grants.append(
            _Grant(f"key-vault-officers-{index}", BuiltInRole.KEY_VAULT_SECRETS_OFFICER, officer,
                   scopes.key_vault_id, "writing the stack's secrets (gitops-token, Argo CD repository token)")
        )  # fmt: skip
    source = settings.promotion_from_principal
    if source is not None:
        purpose = "promotion out of this environment (source side)"
        grants += [
            _Grant("promotion-from-workspace", MLFLOW_MODEL_READER, source, scopes.workspace_id, purpose),
            _Grant("promotion-from-storage", BuiltInRole.STORAGE_BLOB_DATA_READER, source,
                   scopes.storage_account_id, purpose),
            _Grant("promotion-from-registry", BuiltInRole.READER, source, scopes.registry_id, purpose),
        ]  # fmt: skip
    target = settings.promotion_into_principal
    if target is not None:
        purpose = "promotion into this environment (target side)"
        grants += [
            _Grant("promotion-into-workspace", MLFLOW_MODEL_REGISTRAR, target, scopes.workspace_id, purpose),
            _Grant("promotion-into-storage", BuiltInRole.STORAGE_BLOB_DATA_CONTRIBUTOR, target,
                   scopes.storage_account_id, purpose),
            _Grant("promotion-into-registry", ACR_IMPORTER, target, scopes.registry_id, purpose),
        ]  # fmt: skip
    return grants
