"""The Pulumi program: which components one stack is made of and how they are wired together.

``define_stack`` is everything ``pulumi up`` runs, given the settings; ``run`` is the thin entry point that
builds the settings from the stack config and exports the outputs. The offline plan calls
``define_stack`` under mocks with an injected clock, repository root and key vault reader, so both go
through one code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_random
from pulumi_azure_native import authorization, operationalinsights

from infra.argocd_manifests import EngineConnection, StackSource, load_argocd_objects, with_engine_wiring
from infra.components.access import AccessGrants, StackScopes
from infra.components.aci_serving import AciServing, EngineWiring
from infra.components.aks_serving import AksServing
from infra.components.diagnostics import Diagnostics, DiagnosticTarget
from infra.components.identities import WorkloadIdentities
from infra.components.ml_workspace import MlWorkspace
from infra.components.prometheus import load_scrape_configs
from infra.components.training_compute import TrainingCompute
from infra.expiry import Clock, expiry_tag_value, utc_now
from infra.key_vault_secrets import SecretReader, read_key_vault_secret
from infra.naming import SUFFIX_LENGTH, Naming
from infra.overlay import (
    check_argocd_served,
    check_registry,
    read_engine_settings,
    read_serving_pin,
)
from infra.settings import PROJECT, Settings, settings_from_config
from infra.stack_config import REPOSITORY_ROOT
from model_contract.config_error import ConfigError

Outputs = dict[str, Any]


def run() -> None:
    """Entry point under the Pulumi engine (``pulumi up|preview --stack <env>``).

    Refused settings end the run as a ``pulumi.RunError``: the language host prints its message (one line
    per key) instead of a traceback of the program.
    """
    config = pulumi.Config(PROJECT)
    try:
        settings = settings_from_config(config.get, pulumi.get_stack())
    except ConfigError as error:
        raise pulumi.RunError(f"stack {pulumi.get_stack()}: refused settings\n{error}") from error
    for name, value in define_stack(settings).items():
        pulumi.export(name, value)


def define_stack(
    settings: Settings,
    *,
    clock: Clock = utc_now,
    repository_root: Path = REPOSITORY_ROOT,
    secret_reader: SecretReader = read_key_vault_secret,
) -> Outputs:
    """Declare every resource of the stack and return its outputs (by export name)."""
    pin = read_serving_pin(settings.environment, repository_root)
    check_registry(pin, settings.registry_login_server, f"{PROJECT}:containerRegistryName")
    naming = Naming(settings.name_prefix, settings.environment)
    client = authorization.get_client_config_output()
    # Kept in state: the same on every update, new after a destroy (see infra.naming).
    suffix = pulumi_random.RandomString("name-suffix", length=SUFFIX_LENGTH, special=False, upper=False)

    ml = MlWorkspace(
        "ml",
        settings=settings,
        naming=naming,
        name_suffix=suffix.result,
        tenant_id=client.tenant_id,
        subscription_id=client.subscription_id,
    )
    rg = ml.resource_group.name
    identities = WorkloadIdentities(
        "identities",
        settings=settings,
        naming=naming,
        resource_group_name=rg,
        subscription_id=client.subscription_id,
        registry_id=ml.registry.id,
        storage_account_id=ml.storage_account.id,
        workspace_id=ml.workspace.id,
        key_vault_id=ml.key_vault.id,
    )
    training = TrainingCompute(
        "training",
        settings=settings,
        resource_group_name=rg,
        workspace_name=ml.workspace.name,
        identity_id=identities.training.id,
        depends_on=[identities.training_ready, ml.identity_ready],
    )
    stack_label = suffix.result.apply(lambda value: f"{settings.environment}-{value}")
    AccessGrants(
        "access",
        settings=settings,
        scopes=StackScopes(
            resource_group_id=ml.resource_group.id,
            storage_account_id=ml.storage_account.id,
            workspace_id=ml.workspace.id,
            registry_id=ml.registry.id,
            key_vault_id=ml.key_vault.id,
        ),
        subscription_id=client.subscription_id,
        stack_label=stack_label,
    )
    diagnostic_targets = [
        DiagnosticTarget("workspace", ml.workspace.id),
        DiagnosticTarget("key-vault", ml.key_vault.id),
        DiagnosticTarget(
            "storage-blob",
            ml.storage_account.id.apply(lambda id_: f"{id_}/blobServices/default"),
            metric_category="Transaction",
        ),
        DiagnosticTarget("registry", ml.registry.id),
    ]
    outputs: Outputs = {
        "resourceGroupName": rg,
        "workspaceName": ml.workspace.name,
        "mlflowTrackingUri": ml.workspace.ml_flow_tracking_uri,
        "registryLoginServer": ml.registry.login_server,
        "containerRegistryName": ml.registry.name,
        "containerRegistryId": ml.registry.id,
        "storageAccountName": ml.storage_account.name,
        "trainingComputeName": training.cluster.name,
        "trainingClientId": identities.training.client_id,
        "engineClientId": identities.engine.client_id,
        "keyVaultName": ml.key_vault.name,
        "keyVaultUri": ml.key_vault.properties.vault_uri,
    }
    if settings.serving_target == "aci":
        outputs.update(
            _serve_from_aci(settings, naming, ml, identities, suffix.result, clock, repository_root)
        )
    else:
        check_argocd_served(pin, repository_root)
        reason = pin.not_deployable_reason
        if reason is not None:
            pulumi.log.warn(f"{reason}: Argo CD deploys {settings.environment} once a real image is pinned")
        serving = _serve_from_aks(
            settings,
            naming,
            ml,
            identities,
            _AksContext(client.subscription_id, client.object_id, stack_label, secret_reader),
            repository_root,
        )
        diagnostic_targets.append(DiagnosticTarget("cluster", serving.cluster.id, log_group="audit"))
        outputs.update(
            {
                "scoringUrl": serving.scoring_url,
                "clusterName": serving.cluster.name,
                "kubeconfig": serving.kubeconfig,
                "servedModel": None,
            }
        )
    Diagnostics("diagnostics", log_analytics_id=ml.log_analytics.id, targets=diagnostic_targets)
    return outputs


def _serve_from_aci(
    settings: Settings,
    naming: Naming,
    ml: MlWorkspace,
    identities: WorkloadIdentities,
    suffix: pulumi.Input[str],
    clock: Clock,
    repository_root: Path,
) -> Outputs:
    pin = read_serving_pin(settings.environment, repository_root)
    not_served = {"scoringUrl": None, "clusterName": None, "kubeconfig": None, "servedModel": None}
    reason = pin.not_deployable_reason
    if reason is not None:
        # A fresh repository pins nothing yet, and the first model needs this very workspace to be
        # trained in: deploy everything else and serve once the first bump PR is merged.
        pulumi.log.warn(f"{reason}: the stack is deployed without a container group (scoringUrl is null)")
        return not_served
    shared_keys = operationalinsights.get_shared_keys_output(
        resource_group_name=ml.resource_group.name, workspace_name=ml.log_analytics.name
    )
    wiring = EngineWiring(
        identity_id=identities.engine.id,
        identity_client_id=identities.engine.client_id,
        registry_login_server=ml.registry.login_server,
        mlflow_tracking_uri=ml.workspace.ml_flow_tracking_uri,
        log_analytics_customer_id=ml.log_analytics.customer_id,
        log_analytics_resource_id=ml.log_analytics.id,
        log_analytics_key=pulumi.Output.secret(shared_keys.primary_shared_key),
        dns_name_label=naming.dns_label(suffix),
    )
    expires_at = expiry_tag_value(clock(), settings.dev_ttl_hours) if settings.container_expiry else None
    serving = AciServing(
        "serving",
        settings=settings,
        container_group_name=naming.container_group(),
        resource_group_name=ml.resource_group.name,
        pin=pin,
        engine_settings=read_engine_settings(settings.environment, repository_root),
        wiring=wiring,
        expires_at=expires_at,
        depends_on=[identities.engine_ready],
    )
    return {**not_served, "scoringUrl": serving.scoring_url, "servedModel": pin.model.describe()}


@dataclass(frozen=True)
class _AksContext:
    """What the AKS stack needs besides the shared resources: who deploys, and how to read the vault."""

    subscription_id: pulumi.Input[str]
    deployer_object_id: pulumi.Input[str]
    stack_label: pulumi.Input[str]
    secret_reader: SecretReader


def _serve_from_aks(
    settings: Settings,
    naming: Naming,
    ml: MlWorkspace,
    identities: WorkloadIdentities,
    context: _AksContext,
    repository_root: Path,
) -> AksServing:
    source = StackSource(settings.repository_url, settings.repository_revision, settings.environment)
    wiring = pulumi.Output.all(identities.engine.client_id, ml.workspace.ml_flow_tracking_uri).apply(
        lambda values: EngineConnection(*values)
    )
    argocd_objects = [_wired(document, wiring) for document in load_argocd_objects(source, repository_root)]
    return AksServing(
        "serving",
        settings=settings,
        naming=naming,
        resource_group_name=ml.resource_group.name,
        resource_group_id=ml.resource_group.id,
        subscription_id=context.subscription_id,
        deployer_object_id=context.deployer_object_id,
        registry_id=ml.registry.id,
        log_analytics_id=ml.log_analytics.id,
        key_vault_id=ml.key_vault.id,
        key_vault_uri=ml.key_vault.properties.vault_uri,
        engine_identity=identities.engine,
        argocd_objects=argocd_objects,
        scrape_configs=load_scrape_configs(repository_root),
        secret_reader=context.secret_reader,
        stack_label=context.stack_label,
    )


def _wired(document: dict, wiring: pulumi.Output[EngineConnection]) -> dict:
    """The ApplicationSet's spec once the identity and workspace exist (other objects unchanged)."""
    if document["kind"] != "ApplicationSet":
        return document
    return {**document, "spec": wiring.apply(lambda values: with_engine_wiring(document, values)["spec"])}
