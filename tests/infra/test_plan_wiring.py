"""Per stack: the expected resources exist and are wired to each other, as the offline plan shows them.

The mocks answer with Azure's real output names, so a wire that reads a misspelt output would show up
here as a missing or empty value.
"""

from __future__ import annotations

import pytest
import yaml

from infra.components.aci_serving import ENGINE_PORT
from infra.expiry import EXPIRY_TAG
from infra.plan import SECRET, Plan
from infra.plan_mocks import DEPLOYER_OBJECT_ID, stable_guid
from infra.roles import BuiltInRole, role_of_definition_id
from infra.stack_config import REPOSITORY_ROOT
from tests.infra.conftest import FIXTURES
from training.pins import parse_image_pin, parse_model_pin

COMPONENTS = {
    "property-price-platform:infra:MlWorkspace",
    "property-price-platform:infra:WorkloadIdentities",
    "property-price-platform:infra:TrainingCompute",
    "property-price-platform:infra:Diagnostics",
}
CONTAINER_GROUP = "azure-native:containerinstance:ContainerGroup"
CLUSTER = "azure-native:containerservice:ManagedCluster"


def arm_name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def azure_name(plan: Plan, logical_name: str) -> str:
    inputs = plan.named(logical_name).inputs
    for key in ("accountName", "vaultName", "registryName", "workspaceName", "resourceName"):
        if key in inputs:
            return inputs[key]
    raise KeyError(logical_name)


@pytest.mark.parametrize("stack", ["dev", "qa", "prod"])
def test_each_stack_is_made_of_its_components(pinned_plans, stack):
    plan = pinned_plans[stack]
    types = {resource.type for resource in plan.resources}
    assert types >= COMPONENTS
    if stack == "prod":
        assert {"property-price-platform:infra:AksServing", "property-price-platform:infra:ArgoCd"} <= types
        assert CONTAINER_GROUP not in types
    else:
        assert "property-price-platform:infra:AciServing" in types
        assert CLUSTER not in types


@pytest.mark.parametrize("stack", ["dev", "qa", "prod"])
def test_components_own_their_resources(pinned_plans, stack):
    plan = pinned_plans[stack]
    assert {r.name for r in plan.resources if r.parent is None} >= {
        "ml",
        "identities",
        "training",
        "diagnostics",
    }
    assert plan.named("workspace").parent == "ml"
    assert plan.named("training-cluster").parent == "training"
    assert plan.named("engine-identity").parent == "identities"


@pytest.mark.parametrize("stack", ["dev", "qa", "prod"])
def test_workspace_links_its_own_storage_key_vault_registry_and_insights(pinned_plans, stack):
    plan = pinned_plans[stack]
    workspace = plan.named("workspace").inputs
    assert arm_name(workspace["storageAccount"]) == azure_name(plan, "storage")
    assert "/Microsoft.Storage/storageAccounts/" in workspace["storageAccount"]
    assert arm_name(workspace["keyVault"]) == azure_name(plan, "key-vault")
    assert arm_name(workspace["containerRegistry"]) == f"crpriceengine{stack}"
    assert arm_name(workspace["applicationInsights"]) == azure_name(plan, "app-insights")
    assert arm_name(workspace["primaryUserAssignedIdentity"]) == azure_name(plan, "workspace-identity")
    assert workspace["identity"]["userAssignedIdentities"] == [workspace["primaryUserAssignedIdentity"]]
    # Shared keys are off, so the workspace must reach its datastores with its identity.
    assert plan.named("storage").inputs["allowSharedKeyAccess"] is False
    assert workspace["systemDatastoresAuthMode"] == "Identity"
    assert workspace["v1LegacyMode"] is False
    insights = plan.named("app-insights").inputs
    assert arm_name(insights["workspaceResourceId"]) == f"log-price-engine-{stack}"


def expected_grants(plan: Plan) -> dict[str, tuple[BuiltInRole, str, str]]:
    """Role assignment -> (role, principal's logical name, scope's logical name)."""
    grants = {
        "workspace-storage-contributor": (BuiltInRole.CONTRIBUTOR, "workspace-identity", "storage"),
        "workspace-storage-blob": (
            BuiltInRole.STORAGE_BLOB_DATA_CONTRIBUTOR,
            "workspace-identity",
            "storage",
        ),
        "workspace-storage-file": (
            BuiltInRole.STORAGE_FILE_DATA_PRIVILEGED_CONTRIBUTOR,
            "workspace-identity",
            "storage",
        ),
        "workspace-key-vault-contributor": (BuiltInRole.CONTRIBUTOR, "workspace-identity", "key-vault"),
        "workspace-key-vault-admin": (BuiltInRole.KEY_VAULT_ADMINISTRATOR, "workspace-identity", "key-vault"),
        "workspace-registry-contributor": (BuiltInRole.CONTRIBUTOR, "workspace-identity", "registry"),
        "workspace-insights-contributor": (BuiltInRole.CONTRIBUTOR, "workspace-identity", "app-insights"),
        "training-registry-pull": (BuiltInRole.ACR_PULL, "training-identity", "registry"),
        "training-storage-blob": (BuiltInRole.STORAGE_BLOB_DATA_CONTRIBUTOR, "training-identity", "storage"),
        "training-workspace": (BuiltInRole.AZUREML_DATA_SCIENTIST, "training-identity", "workspace"),
        "training-key-vault-secrets": (BuiltInRole.KEY_VAULT_SECRETS_USER, "training-identity", "key-vault"),
        "engine-registry-pull": (BuiltInRole.ACR_PULL, "engine-identity", "registry"),
        "engine-workspace": (BuiltInRole.AZUREML_DATA_SCIENTIST, "engine-identity", "workspace"),
        "engine-storage-read": (BuiltInRole.STORAGE_BLOB_DATA_READER, "engine-identity", "storage"),
    }
    if plan.of_type(CLUSTER):
        grants["kubelet-registry-pull"] = (BuiltInRole.ACR_PULL, "aks-cluster", "registry")
        grants["deployer-cluster-admin"] = (BuiltInRole.AKS_RBAC_CLUSTER_ADMIN, "deployer", "aks-cluster")
    return grants


def principal_of(plan: Plan, logical_name: str) -> str:
    """The principal id the mocks gave an identity (or, for the cluster, its kubelet identity)."""
    if logical_name == "deployer":
        return DEPLOYER_OBJECT_ID
    resource = plan.named(logical_name)
    if resource.type == CLUSTER:
        return stable_guid("kubelet-object", resource.inputs["resourceName"])
    return stable_guid("principal", resource.inputs["resourceName"])


@pytest.mark.parametrize("stack", ["dev", "qa", "prod"])
def test_role_assignments_point_at_the_right_principals_and_scopes(pinned_plans, stack):
    plan = pinned_plans[stack]
    assignments = {r.name: r.inputs for r in plan.of_type("azure-native:authorization:RoleAssignment")}
    expected = expected_grants(plan)
    assert set(assignments) == set(expected)
    for name, (role, principal, scope) in expected.items():
        inputs = assignments[name]
        assert role_of_definition_id(inputs["roleDefinitionId"]) is role, name
        assert inputs["roleDefinitionId"].startswith("/subscriptions/"), name
        assert inputs["principalId"] == principal_of(plan, principal), name
        assert inputs["principalType"] == "ServicePrincipal", name  # deployerPrincipalType defaults to it
        assert arm_name(inputs["scope"]) == azure_name(plan, scope), name


@pytest.mark.parametrize("stack", ["dev", "qa", "prod"])
def test_identities_hold_their_roles_before_they_are_used(pinned_plans, stack):
    plan = pinned_plans[stack]
    workspace_grants = {name for name in expected_grants(plan) if name.startswith("workspace-")}
    assert workspace_grants <= set(plan.named("workspace").dependencies)
    training_grants = {"training-registry-pull", "training-storage-blob", "training-workspace"}
    assert training_grants <= set(plan.named("training-cluster").dependencies)


@pytest.mark.parametrize("stack", ["dev", "qa", "prod"])
def test_training_cluster_runs_as_the_training_identity(pinned_plans, stack):
    plan = pinned_plans[stack]
    compute = plan.named("training-cluster").inputs
    assert compute["workspaceName"] == azure_name(plan, "workspace")
    identities = compute["identity"]["userAssignedIdentities"]
    assert [arm_name(identity) for identity in identities] == [f"id-price-engine-{stack}-training"]
    assert compute["properties"]["properties"]["scaleSettings"]["minNodeCount"] == 0


def gitops_service_account_subject() -> str:
    overlay = yaml.safe_load(
        (REPOSITORY_ROOT / "gitops/apps/estimation-engine/overlays/prod/kustomization.yaml").read_text()
    )
    account = yaml.safe_load(
        (REPOSITORY_ROOT / "gitops/apps/estimation-engine/base/serviceaccount.yaml").read_text()
    )
    return f"system:serviceaccount:{overlay['namespace']}:{account['metadata']['name']}"


def test_federated_credential_trusts_the_gitops_service_account_on_this_cluster(pinned_plans):
    plan = pinned_plans["prod"]
    credential = plan.named("engine-federation").inputs
    assert credential["subject"] == gitops_service_account_subject()
    assert credential["audiences"] == ["api://AzureADTokenExchange"]
    assert credential["resourceName"] == "id-price-engine-prod-engine"
    cluster_name = plan.named("aks-cluster").inputs["resourceName"]
    assert credential["issuer"].startswith("https://westeurope.oic.prod-aks.azure.com/")
    assert stable_guid("oidc", cluster_name) in credential["issuer"]


def test_prod_cluster_is_pinned_locked_down_and_pools_are_separate(pinned_plans):
    plan = pinned_plans["prod"]
    cluster = plan.named("aks-cluster").inputs
    assert cluster["kubernetesVersion"] == "1.33"
    assert cluster["disableLocalAccounts"] is True
    assert cluster["oidcIssuerProfile"] == {"enabled": True}
    assert cluster["securityProfile"]["workloadIdentity"] == {"enabled": True}
    assert cluster["aadProfile"]["enableAzureRBAC"] is True
    assert [pool["name"] for pool in cluster["agentPoolProfiles"]] == ["system"]
    pool = plan.named("aks-engine-pool").inputs
    assert pool["resourceName"] == cluster["resourceName"]
    assert (pool["enableAutoScaling"], pool["minCount"], pool["maxCount"], pool["mode"]) == (
        True,
        2,
        5,
        "User",
    )


def test_argocd_is_installed_from_the_pinned_chart_and_syncs_this_environment(pinned_plans):
    plan = pinned_plans["prod"]
    release = plan.named("argocd-release").inputs
    assert (release["chart"], release["version"]) == ("argo-cd", "9.1.0")
    assert release["repositoryOpts"]["repo"] == "https://argoproj.github.io/argo-helm"
    application_set = plan.named("applicationset-estimation-engine")
    assert "argocd-release" in application_set.dependencies
    assert "deployer-cluster-admin" in plan.named("argocd-release").dependencies
    assert "argocd-release" in plan.named("appproject-estimation-engine").dependencies
    spec = application_set.inputs["spec"]
    assert spec["generators"][0]["list"]["elements"] == [{"env": "prod"}]
    assert spec["template"]["spec"]["source"]["targetRevision"] == "main"
    assert spec["template"]["spec"]["source"]["repoURL"].startswith("https://")
    provider = plan.named("aks-kubernetes").inputs
    assert provider["kubeconfig"] == SECRET


def test_prod_outputs_name_the_cluster_and_keep_the_kubeconfig_secret(pinned_plans):
    outputs = pinned_plans["prod"].outputs
    assert outputs["clusterName"] == "aks-price-engine-prod"
    assert outputs["kubeconfig"] == SECRET
    assert outputs["scoringUrl"] == "http://estimation-engine.estimation-engine.svc.cluster.local:8080"
    assert outputs["mlflowTrackingUri"].startswith(
        "azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/"
    )


def env_vars(plan: Plan) -> dict[str, str]:
    container = plan.named("engine-container-group").inputs["containers"][0]
    return {variable["name"]: variable["value"] for variable in container["environmentVariables"]}


@pytest.mark.parametrize("stack", ["dev", "qa"])
def test_container_group_runs_exactly_what_the_overlay_pins(pinned_plans, stack):
    plan = pinned_plans[stack]
    overlay = FIXTURES / "gitops/apps/estimation-engine/overlays" / stack
    model = parse_model_pin((overlay / "model.env").read_text(), "model.env")
    image = parse_image_pin((overlay / "kustomization.yaml").read_text(), "kustomization.yaml")
    group = plan.named("engine-container-group").inputs
    container = group["containers"][0]
    variables = env_vars(plan)
    assert container["image"] == image.reference
    assert (variables["MODEL_NAME"], variables["MODEL_VERSION"]) == (model.name, str(model.version))
    assert variables["MLFLOW_TRACKING_URI"] == plan.outputs["mlflowTrackingUri"]
    assert variables["AZURE_CLIENT_ID"] == plan.outputs["engineClientId"]
    assert variables["ENGINE_PORT"] == "8080"
    assert variables["ENGINE_HOST"] == "0.0.0.0"  # probes reach the container from outside
    assert variables["ENGINE_LOG_LEVEL"] == ("DEBUG" if stack == "dev" else "INFO")
    assert plan.outputs["servedModel"] == model.describe()


@pytest.mark.parametrize("stack", ["dev", "qa"])
def test_container_group_pulls_and_runs_as_the_engine_identity_with_probes(pinned_plans, stack):
    plan = pinned_plans[stack]
    group = plan.named("engine-container-group").inputs
    engine_id = group["identity"]["userAssignedIdentities"][0]
    assert arm_name(engine_id) == f"id-price-engine-{stack}-engine"
    assert group["imageRegistryCredentials"] == [
        {"identity": engine_id, "server": f"crpriceengine{stack}.azurecr.io"}
    ]
    assert "engine-registry-pull" in plan.named("engine-container-group").dependencies
    container = group["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert {container["livenessProbe"]["httpGet"]["port"], container["ports"][0]["port"]} == {ENGINE_PORT}
    assert group["ipAddress"]["dnsNameLabel"].startswith(f"price-engine-{stack}-")
    # The Log Analytics key is a secret, and Pulumi keeps the whole property that holds it secret.
    assert group["diagnostics"] == SECRET
    fqdn = f"{group['ipAddress']['dnsNameLabel']}.westeurope.azurecontainer.io"
    assert plan.outputs["scoringUrl"] == f"http://{fqdn}:8080"


def test_only_dev_container_group_expires_ttl_hours_after_the_clock(pinned_plans):
    assert (
        pinned_plans["dev"].named("engine-container-group").inputs["tags"][EXPIRY_TAG]
        == "2025-01-02T12:00:00Z"
    )
    assert EXPIRY_TAG not in pinned_plans["qa"].named("engine-container-group").inputs["tags"]


@pytest.mark.parametrize("stack", ["dev", "qa"])
def test_stacks_follow_the_real_overlays_whatever_they_pin_today(repo_plans, stack):
    """With the repository's own gitops/ files: serve the pin, or deploy without serving while none."""
    plan = repo_plans[stack]
    overlay = REPOSITORY_ROOT / "gitops/apps/estimation-engine/overlays" / stack
    model = parse_model_pin((overlay / "model.env").read_text(), "model.env")
    image = parse_image_pin((overlay / "kustomization.yaml").read_text(), "kustomization.yaml")
    if model.version is None or image.digest == "sha256:" + "0" * 64:
        assert not plan.of_type(CONTAINER_GROUP)
        assert plan.outputs["scoringUrl"] is None
        assert any(
            str(overlay) in warning and "without a container group" in warning for warning in plan.warnings
        )
    else:
        assert env_vars(plan)["MODEL_VERSION"] == str(model.version)
        assert plan.named("engine-container-group").inputs["containers"][0]["image"] == image.reference
    assert plan.named("workspace")  # the rest of the stack is deployed either way


def test_prod_with_the_real_gitops_files_applies_the_real_argocd_objects(repo_plans):
    plan = repo_plans["prod"]
    application_set = plan.named("applicationset-estimation-engine").inputs
    assert application_set["spec"]["generators"][0]["list"]["elements"] == [{"env": "prod"}]


def test_plans_are_deterministic(pinned_plans):
    from tests.infra.conftest import plan_with_fixtures

    assert plan_with_fixtures("dev").to_json() == pinned_plans["dev"].to_json()
