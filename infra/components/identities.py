"""The identities of the workloads and what each may touch.

Two user-assigned identities, each with the narrowest built-in roles that let it do its job:

* ``training``: the compute cluster's identity. Reads the training data and writes run outputs (blob data
  contributor), pulls environment images (AcrPull), logs runs and registers models (AzureML Data Scientist
  on the workspace), and reads the gitops token the bump step opens pull requests with (Key Vault Secrets
  User on the workspace's key vault).
* ``engine``: the estimation engine's identity, on ACI directly and on AKS through workload identity.
  Pulls its image (AcrPull), reads registered models through MLflow (AzureML Data Scientist on the
  workspace, blob data *reader* on the storage holding the artifacts). It can write nothing.
"""

from __future__ import annotations

import pulumi
from pulumi_azure_native import managedidentity

from infra.naming import Naming
from infra.propagation import wait_for_grants
from infra.roles import BuiltInRole, assign_role
from infra.settings import Settings

COMPONENT_TYPE = "property-price-platform:infra:WorkloadIdentities"


class WorkloadIdentities(pulumi.ComponentResource):
    """The training and engine identities with their role assignments."""

    def __init__(
        self,
        name: str,
        *,
        settings: Settings,
        naming: Naming,
        resource_group_name: pulumi.Input[str],
        subscription_id: pulumi.Input[str],
        registry_id: pulumi.Input[str],
        storage_account_id: pulumi.Input[str],
        workspace_id: pulumi.Input[str],
        key_vault_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        tags = settings.resource_tags()

        def identity(purpose: str) -> managedidentity.UserAssignedIdentity:
            return managedidentity.UserAssignedIdentity(
                f"{purpose}-identity",
                resource_group_name=resource_group_name,
                resource_name_=naming.identity(purpose),
                location=settings.location,
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self),
            )

        def grant(
            resource_name: str,
            role: BuiltInRole,
            who: managedidentity.UserAssignedIdentity,
            scope: pulumi.Input[str],
            purpose: str,
        ) -> pulumi.Resource:
            return assign_role(
                resource_name,
                role,
                principal_id=who.principal_id,
                scope=scope,
                subscription_id=subscription_id,
                purpose=purpose,
                parent=self,
            )

        self.training = identity("training")
        self.engine = identity("engine")
        self.training_grants = [
            grant(
                "training-registry-pull", BuiltInRole.ACR_PULL, self.training, registry_id, "training images"
            ),
            grant(
                "training-storage-blob",
                BuiltInRole.STORAGE_BLOB_DATA_CONTRIBUTOR,
                self.training,
                storage_account_id,
                "training data and run outputs",
            ),
            grant(
                "training-workspace",
                BuiltInRole.AZUREML_DATA_SCIENTIST,
                self.training,
                workspace_id,
                "runs, metrics and model registration",
            ),
            grant(
                "training-key-vault-secrets",
                BuiltInRole.KEY_VAULT_SECRETS_USER,
                self.training,
                key_vault_id,
                "the gitops token (secret gitops-token) the bump step opens pull requests with",
            ),
        ]
        self.engine_registry_pull = grant(
            "engine-registry-pull", BuiltInRole.ACR_PULL, self.engine, registry_id, "the engine image"
        )
        self.engine_grants = [
            self.engine_registry_pull,
            grant(
                "engine-workspace",
                BuiltInRole.AZUREML_DATA_SCIENTIST,
                self.engine,
                workspace_id,
                "reading the pinned model version through MLflow",
            ),
            grant(
                "engine-storage-read",
                BuiltInRole.STORAGE_BLOB_DATA_READER,
                self.engine,
                storage_account_id,
                "downloading model artifacts",
            ),
        ]
        # What relies on a fresh grant in the same `pulumi up` waits for it to propagate (infra.propagation).
        self.training_ready = wait_for_grants(
            "training-identity-propagation", self.training_grants, parent=self
        )
        self.engine_ready = wait_for_grants("engine-identity-propagation", self.engine_grants, parent=self)
        self.register_outputs(
            {"trainingClientId": self.training.client_id, "engineClientId": self.engine.client_id}
        )
