"""The estimation engine on Azure Container Instances (dev and qa).

The container group runs exactly what the environment's overlay pins: the model version from
``model.env`` and the image from ``kustomization.yaml``. It pulls from the registry and reads the model
registry as the engine's user-assigned identity (no registry password, no key), answers on a public DNS
label on port 8080, and is probed on the engine's health routes.

Expiring groups (dev) carry the ``expires-at`` tag: creation time + ``devTtlHours``. The tag is set when the
group is created and then ignored by later updates (``ignore_changes``); otherwise every ``pulumi up``
would move the expiry and show a diff. When the reaper has deleted the group, ``pulumi up --refresh``
notices and creates a new one with a new expiry.

Container Instances cannot change a running group's CPU or memory (ACI documents which properties need the
group deleted and recreated), so a change of ``aciCpuMillicores``/``aciMemoryMb`` replaces the group, and
because its name is fixed the old one is deleted first.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import containerinstance as aci

from infra.expiry import EXPIRY_TAG
from infra.overlay import ServingPin
from infra.settings import Settings

COMPONENT_TYPE = "property-price-platform:infra:AciServing"
ENGINE_PORT = 8080
CONTAINER_NAME = "estimation-engine"
# Properties ACI cannot update in place: changing them replaces the container group.
REPLACE_ON_CHANGES = ["containers[*].resources", "osType", "restartPolicy", "sku"]
# Set by the infrastructure; an overlay's settings.env cannot override them.
INFRA_OWNED_VARIABLES = (
    "MODEL_NAME",
    "MODEL_VERSION",
    "MLFLOW_TRACKING_URI",
    "AZURE_CLIENT_ID",
    "ENGINE_PORT",
    "ENGINE_HOST",
)


@dataclass(frozen=True)
class EngineWiring:
    """What the container needs from the rest of the stack."""

    identity_id: pulumi.Input[str]
    identity_client_id: pulumi.Input[str]
    registry_login_server: pulumi.Input[str]
    mlflow_tracking_uri: pulumi.Input[str]
    log_analytics_customer_id: pulumi.Input[str]
    log_analytics_resource_id: pulumi.Input[str]
    log_analytics_key: pulumi.Input[str]
    dns_name_label: pulumi.Input[str]


def engine_environment(
    pin: ServingPin, engine_settings: dict[str, str], wiring: EngineWiring
) -> list[aci.EnvironmentVariableArgs]:
    """The engine's environment: the overlay's settings, then the pins and the stack's own values."""
    values: dict[str, pulumi.Input[str]] = {
        key: value for key, value in engine_settings.items() if key not in INFRA_OWNED_VARIABLES
    }
    values.update(
        {
            "MODEL_NAME": pin.model.name,
            "MODEL_VERSION": str(pin.model.version),
            "MLFLOW_TRACKING_URI": wiring.mlflow_tracking_uri,
            "AZURE_CLIENT_ID": wiring.identity_client_id,
            "ENGINE_PORT": str(ENGINE_PORT),
            # The engine defaults to loopback; in a container group the probes come from outside it.
            "ENGINE_HOST": "0.0.0.0",
        }
    )
    return [aci.EnvironmentVariableArgs(name=key, value=values[key]) for key in sorted(values)]


def _probe(path: str, initial_delay_seconds: int) -> aci.ContainerProbeArgs:
    return aci.ContainerProbeArgs(
        http_get=aci.ContainerHttpGetArgs(path=path, port=ENGINE_PORT, scheme=aci.Scheme.HTTP),
        initial_delay_seconds=initial_delay_seconds,
        period_seconds=10,
        timeout_seconds=5,
        failure_threshold=3,
    )


class AciServing(pulumi.ComponentResource):
    """One container group running the pinned engine image and model."""

    def __init__(
        self,
        name: str,
        *,
        settings: Settings,
        container_group_name: str,
        resource_group_name: pulumi.Input[str],
        pin: ServingPin,
        engine_settings: dict[str, str],
        wiring: EngineWiring,
        expires_at: str | None,
        depends_on: list[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        tags = settings.resource_tags()
        if expires_at is not None:
            tags[EXPIRY_TAG] = expires_at
        self.container_group = aci.ContainerGroup(
            "engine-container-group",
            resource_group_name=resource_group_name,
            container_group_name=container_group_name,
            location=settings.location,
            os_type=aci.OperatingSystemTypes.LINUX,
            sku=aci.ContainerGroupSku.STANDARD,
            restart_policy=aci.ContainerGroupRestartPolicy.ALWAYS,
            identity=aci.ContainerGroupIdentityArgs(
                type=aci.ResourceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[wiring.identity_id],
            ),
            image_registry_credentials=[
                aci.ImageRegistryCredentialArgs(
                    server=wiring.registry_login_server, identity=wiring.identity_id
                )
            ],
            ip_address=aci.IpAddressArgs(
                type=aci.ContainerGroupIpAddressType.PUBLIC,
                dns_name_label=wiring.dns_name_label,
                ports=[aci.PortArgs(port=ENGINE_PORT, protocol=aci.ContainerGroupNetworkProtocol.TCP)],
            ),
            containers=[
                aci.ContainerArgs(
                    name=CONTAINER_NAME,
                    image=pin.image.reference,
                    ports=[
                        aci.ContainerPortArgs(port=ENGINE_PORT, protocol=aci.ContainerNetworkProtocol.TCP)
                    ],
                    environment_variables=engine_environment(pin, engine_settings, wiring),
                    resources=aci.ResourceRequirementsArgs(
                        requests=aci.ResourceRequestsArgs(
                            cpu=settings.aci_cpu_millicores / 1000,
                            memory_in_gb=round(settings.aci_memory_mb / 1024, 2),
                        )
                    ),
                    # Loading and verifying the model can take a while: readiness says when, liveness
                    # only restarts a process that stopped answering at all.
                    liveness_probe=_probe("/health/live", initial_delay_seconds=30),
                    readiness_probe=_probe("/health/ready", initial_delay_seconds=5),
                )
            ],
            diagnostics=aci.ContainerGroupDiagnosticsArgs(
                log_analytics=aci.LogAnalyticsArgs(
                    workspace_id=wiring.log_analytics_customer_id,
                    workspace_key=wiring.log_analytics_key,
                    workspace_resource_id=wiring.log_analytics_resource_id,
                    log_type=aci.LogAnalyticsLogType.CONTAINER_INSTANCE_LOGS,
                )
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                # The identity must be allowed to pull (and the grant have propagated) before the first pull.
                depends_on=depends_on,
                ignore_changes=[f'tags["{EXPIRY_TAG}"]'],
                replace_on_changes=REPLACE_ON_CHANGES,
                delete_before_replace=True,
            ),
        )
        self.fqdn = self.container_group.ip_address.apply(lambda address: address.fqdn if address else None)
        self.scoring_url = self.fqdn.apply(lambda fqdn: f"http://{fqdn}:{ENGINE_PORT}" if fqdn else None)
        self.register_outputs({"scoringUrl": self.scoring_url})
