"""The AmlCompute cluster the training pipeline runs on.

It scales to zero when idle (``computeMinNodes`` 0 by default), accepts no keys or passwords (local auth
off), exposes no SSH port, and acts as the training identity, so jobs reach storage, the registry and the
workspace without any secret.
"""

from __future__ import annotations

import pulumi
from pulumi_azure_native import machinelearningservices as ml

from infra.naming import compute_name
from infra.settings import Settings

COMPONENT_TYPE = "property-price-platform:infra:TrainingCompute"
TRAINING_COMPUTE_NAME = compute_name("train-cpu")


class TrainingCompute(pulumi.ComponentResource):
    """An autoscaling CPU cluster in the workspace."""

    def __init__(
        self,
        name: str,
        *,
        settings: Settings,
        resource_group_name: pulumi.Input[str],
        workspace_name: pulumi.Input[str],
        identity_id: pulumi.Input[str],
        depends_on: list[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        minutes = settings.compute_idle_minutes_before_scale_down
        self.cluster = ml.Compute(
            "training-cluster",
            resource_group_name=resource_group_name,
            workspace_name=workspace_name,
            compute_name=TRAINING_COMPUTE_NAME,
            location=settings.location,
            identity=ml.ManagedServiceIdentityArgs(
                type=ml.ManagedServiceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[identity_id],
            ),
            properties=ml.AmlComputeArgs(
                compute_type="AmlCompute",
                description="Training cluster of the price estimation pipeline",
                disable_local_auth=True,
                properties=ml.AmlComputePropertiesArgs(
                    vm_size=settings.compute_vm_size,
                    vm_priority=settings.compute_vm_priority,
                    os_type=ml.OsType.LINUX,
                    remote_login_port_public_access=ml.RemoteLoginPortPublicAccess.DISABLED,
                    scale_settings=ml.ScaleSettingsArgs(
                        min_node_count=settings.compute_min_nodes,
                        max_node_count=settings.compute_max_nodes,
                        node_idle_time_before_scale_down=f"PT{minutes}M",
                    ),
                ),
            ),
            tags=settings.resource_tags(),
            # The identity must hold its roles before the first job starts on a fresh node.
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
        self.register_outputs({"computeName": self.cluster.name})
