"""Per stack: the expected resources exist and are wired to each other, as the offline plan shows them.

The mocks answer with Azure's real output names, so a wire that reads a misspelt output would show up
here as a missing or empty value.
"""

from __future__ import annotations

import pytest
import yaml

from infra.argo_rollouts_release import PINNED as ARGO_ROLLOUTS
from infra.argocd_release import PINNED as ARGOCD
from infra.components.aci_serving import ENGINE_PORT
from infra.expiry import EXPIRY_TAG
from infra.plan import SECRET, Plan
from infra.plan_mocks import DEPLOYER_OBJECT_ID, stable_guid
from infra.prometheus_release import PINNED as PROMETHEUS
from infra.roles import BuiltInRole, role_of_definition_id
from infra.setting_values import Principal
from infra.stack_config import REPOSITORY_ROOT
from model_contract.pins import parse_image_pin, parse_model_pin
from tests.infra.conftest import FIXTURES, fixture_config

ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
SLEEP = "time:index/sleep:Sleep"

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
    """Role assignment of a stack identity -> (built-in role, principal's logical name, scope's logical name)."""
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
        "workspace-self-contributor": (BuiltInRole.CONTRIBUTOR, "workspace-identity", "workspace"),
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
def test_role_assignments_of_stack_identities_point_at_the_right_principals_and_scopes(pinned_plans, stack):
    plan = pinned_plans[stack]
    assignments = {r.name: r.inputs for r in plan.of_type(ROLE_ASSIGNMENT)}
    expected = expected_grants(plan)
    assert set(expected) <= set(assignments)
    for name, (role, principal, scope) in expected.items():
        inputs = assignments[name]
        assert role_of_definition_id(inputs["roleDefinitionId"]) is role, name
        assert inputs["roleDefinitionId"].startswith("/subscriptions/"), name
        assert inputs["principalId"] == principal_of(plan, principal), name
        deployer_type = "User" if stack == "prod" else "ServicePrincipal"  # Pulumi.prod.yaml: a person
        assert inputs["principalType"] == (deployer_type if principal == "deployer" else "ServicePrincipal")
        assert arm_name(inputs["scope"]) == azure_name(plan, scope), name


def depends_after_wait(plan: Plan, resource: str, grants: set[str]) -> bool:
    """``resource`` depends on a sleep that itself depends on every one of ``grants``."""
    sleeps = [plan.named(name) for name in plan.named(resource).dependencies]
    return any(s.type == SLEEP and grants <= set(s.dependencies) for s in sleeps)


@pytest.mark.parametrize("stack", ["dev", "qa", "prod"])
def test_identities_hold_their_roles_and_wait_for_them_before_they_are_used(pinned_plans, stack):
    plan = pinned_plans[stack]
    workspace_grants = {
        name
        for name in expected_grants(plan)
        if name.startswith("workspace-") and name != "workspace-self-contributor"
    }
    assert depends_after_wait(plan, "workspace", workspace_grants)
    training_grants = {"training-registry-pull", "training-storage-blob", "training-workspace"}
    assert depends_after_wait(plan, "training-cluster", training_grants)
    # Azure ML: the workspace's user-assigned identity needs Contributor on the workspace itself.
    assert depends_after_wait(plan, "training-cluster", {"workspace-self-contributor"})
    assert plan.named("workspace-identity-propagation").inputs["createDuration"] == "180s"


def grants_of(plan: Plan, object_id: str) -> dict[str, dict]:
    return {r.name: r.inputs for r in plan.of_type(ROLE_ASSIGNMENT) if r.inputs["principalId"] == object_id}


def role_name(plan: Plan, inputs: dict) -> str:
    built_in = role_of_definition_id(inputs["roleDefinitionId"])
    if built_in is not None:
        return built_in.display_name
    [definition] = [r for r in plan.of_type("azure-native:authorization:RoleDefinition")
                    if inputs["roleDefinitionId"].endswith(stable_guid(r.inputs["scope"], r.inputs["roleName"]))]  # fmt: skip
    return definition.name


def principal(stack: str, key: str) -> Principal:
    value = fixture_config(stack)[key]
    kind, _, object_id = (value[0] if isinstance(value, list) else value).partition(":")
    return Principal(object_id, kind)


@pytest.mark.parametrize("stack", ["dev", "qa", "prod"])
def test_the_pipeline_principal_may_submit_jobs_to_identity_based_datastores(pinned_plans, stack):
    """Item 4: without both data-plane roles on the workspace storage, job submission answers 403."""
    plan = pinned_plans[stack]
    pipeline = principal(stack, "pipelinePrincipal")
    grants = grants_of(plan, pipeline.object_id)
    storage = {
        role_name(plan, g) for g in grants.values() if arm_name(g["scope"]) == azure_name(plan, "storage")
    }
    assert storage == {"Storage Blob Data Contributor", "Storage File Data Privileged Contributor"}
    assert {g["principalType"] for g in grants.values()} == {"ServicePrincipal"}
    scientists = grants_of(plan, principal(stack, "dataScientists").object_id)
    assert {g["principalType"] for g in scientists.values()} == {"Group"}
    assert {role_name(plan, g) for g in scientists.values()} == {
        "Storage Blob Data Contributor", "Storage File Data Privileged Contributor", "AzureML Data Scientist"
    }  # fmt: skip


@pytest.mark.parametrize("stack", ["dev", "qa", "prod"])
def test_named_officers_can_write_the_key_vault_secrets_the_readme_asks_for(pinned_plans, stack):
    plan = pinned_plans[stack]
    for entry in fixture_config(stack)["keyVaultSecretsOfficers"]:
        kind, _, object_id = entry.partition(":")
        [grant] = grants_of(plan, object_id).values()
        assert role_name(plan, grant) == "Key Vault Secrets Officer"
        assert (grant["principalType"], arm_name(grant["scope"])) == (kind, azure_name(plan, "key-vault"))


def test_prod_pipeline_reads_only_argocd_applications_in_the_argocd_namespace(pinned_plans):
    """Item 5: no built-in AKS role covers a CRD; a custom role with the custom-resources read action,
    scoped to the namespace and conditioned on argoproj.io/applications."""
    plan = pinned_plans["prod"]
    pipeline = principal("prod", "pipelinePrincipal")
    grants = grants_of(plan, pipeline.object_id)
    cluster = plan.named("aks-cluster").inputs["resourceName"]
    on_cluster = {name: g for name, g in grants.items() if cluster in g["scope"]}
    assert set(on_cluster) == {"pipeline-cluster-user", "pipeline-argocd-applications"}
    assert (
        role_name(plan, on_cluster["pipeline-cluster-user"]) == "Azure Kubernetes Service Cluster User Role"
    )
    reader = on_cluster["pipeline-argocd-applications"]
    assert reader["scope"].endswith(f"/managedClusters/{cluster}/namespaces/argocd")
    assert reader["conditionVersion"] == "2.0"
    assert "'argoproj.io'" in reader["condition"] and "'applications'" in reader["condition"]
    definition = plan.named(role_name(plan, reader)).inputs
    assert definition["permissions"] == [
        {"actions": [], "dataActions": ["Microsoft.ContainerService/managedClusters/customresources/read"],
         "notActions": []}
    ]  # fmt: skip
    assert [arm_name(scope) for scope in definition["assignableScopes"]] == ["rg-price-engine-prod"]


def test_promotion_principals_read_the_source_and_write_the_target_with_the_least_roles(pinned_plans):
    """Issue 11: dev -> qa -> prod; the source side reads (MLflow, blobs, registry), the target side writes."""
    source = grants_of(pinned_plans["dev"], principal("dev", "promotionFromPrincipal").object_id)
    target = grants_of(pinned_plans["qa"], principal("qa", "promotionIntoPrincipal").object_id)
    assert principal("dev", "promotionFromPrincipal") == principal("qa", "promotionIntoPrincipal")
    roles = {name: role_name(pinned_plans["dev"], g) for name, g in source.items()}
    assert roles == {
        "promotion-from-workspace": "mlflow-model-reader-role",
        "promotion-from-storage": "Storage Blob Data Reader",
        "promotion-from-registry": "Reader",
    }
    roles = {name: role_name(pinned_plans["qa"], g) for name, g in target.items()}
    assert roles == {
        "promotion-into-workspace": "mlflow-model-registrar-role",
        "promotion-into-storage": "Storage Blob Data Contributor",
        "promotion-into-registry": "acr-importer-role",
    }
    importer = pinned_plans["qa"].named("acr-importer-role").inputs["permissions"][0]["actions"]
    assert "Microsoft.ContainerRegistry/registries/importImage/action" in importer
    reader = pinned_plans["dev"].named("mlflow-model-reader-role").inputs["permissions"][0]["actions"]
    assert not [action for action in reader if not action.endswith("/read")]
    assert "promotion-into-workspace" not in {r.name for r in pinned_plans["dev"].resources}
    assert "promotion-from-workspace" not in {r.name for r in pinned_plans["prod"].resources}


@pytest.mark.parametrize("stack", ["dev", "qa", "prod"])
def test_assignments_to_custom_roles_wait_for_their_definitions(pinned_plans, stack):
    plan = pinned_plans[stack]
    definitions = {r.name for r in plan.of_type("azure-native:authorization:RoleDefinition")}
    assert definitions
    for assignment in plan.of_type(ROLE_ASSIGNMENT):
        used = definitions & set(assignment.dependencies)
        if used:
            assert depends_after_wait(plan, assignment.name, used), assignment.name


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
    assert cluster["kubernetesVersion"] == "1.36"
    assert cluster["disableLocalAccounts"] is True
    assert cluster["oidcIssuerProfile"] == {"enabled": True}
    assert cluster["securityProfile"]["workloadIdentity"] == {"enabled": True}
    assert cluster["aadProfile"]["enableAzureRBAC"] is True
    assert [pool["name"] for pool in cluster["agentPoolProfiles"]] == ["system"]
    # ARM lists the separate engine pool among agentPoolProfiles too: without this every up would drop it.
    assert plan.named("aks-cluster").options["ignoreChanges"] == ["agentPoolProfiles"]
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
    assert (release["chart"], release["version"]) == ("argo-cd", ARGOCD.chart_version)
    assert release["repositoryOpts"]["repo"] == "https://argoproj.github.io/argo-helm"
    application_set = plan.named("applicationset-estimation-engine")
    assert "argocd-release" in application_set.dependencies
    # The Helm release talks to the API server as the deployer: after the grant has propagated.
    assert depends_after_wait(plan, "argocd-release", {"deployer-cluster-admin"})
    assert "argocd-release" in plan.named("appproject-estimation-engine").dependencies
    spec = application_set.inputs["spec"]
    assert spec["generators"][0]["git"]["files"] == [
        {"path": "gitops/apps/estimation-engine/overlays/prod/kustomization.yaml"}
    ]
    assert spec["template"]["spec"]["source"]["targetRevision"] == "main"
    assert spec["template"]["spec"]["source"]["repoURL"].startswith("https://")
    provider = plan.named("aks-kubernetes").inputs
    assert provider["kubeconfig"] == SECRET


def test_argo_rollouts_and_prometheus_run_before_argo_cd_syncs_the_rollout(pinned_plans):
    """The ApplicationSet makes Argo CD sync prod's Rollout at once: its CRDs (Argo Rollouts) and the
    Prometheus its analysis queries must already be installed, from the pinned charts."""
    plan = pinned_plans["prod"]
    rollouts = plan.named("argo-rollouts-release").inputs
    assert (rollouts["chart"], rollouts["version"], rollouts["namespace"]) == (
        "argo-rollouts",
        ARGO_ROLLOUTS.chart_version,
        "argo-rollouts",
    )
    assert rollouts["repositoryOpts"]["repo"] == "https://argoproj.github.io/argo-helm"
    assert rollouts["values"]["installCRDs"] is True and rollouts["values"]["keepCRDs"] is True
    prometheus = plan.named("prometheus-release").inputs
    assert (prometheus["chart"], prometheus["version"], prometheus["namespace"]) == (
        "prometheus",
        PROMETHEUS.chart_version,
        "monitoring",
    )
    assert prometheus["repositoryOpts"]["repo"] == "https://prometheus-community.github.io/helm-charts"
    gitops_jobs = yaml.safe_load((FIXTURES / "gitops/prometheus/scrape-configs.yaml").read_text())
    values = prometheus["values"]
    assert values["serverFiles"]["prometheus.yml"]["scrape_configs"] == gitops_jobs["scrape_configs"]
    assert not any(job["enabled"] for job in values["scrapeConfigs"].values()), "chart defaults stay off"
    assert values["server"]["fullnameOverride"] == "prometheus-server"
    for release in ("argo-rollouts-release", "prometheus-release"):
        assert depends_after_wait(plan, release, {"deployer-cluster-admin"}), release
        assert release in plan.named("applicationset-estimation-engine").dependencies, release
        assert plan.named(release).parent in {"argo-rollouts", "prometheus"}


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
    assert depends_after_wait(plan, "engine-container-group", {"engine-registry-pull"})
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
        == "2026-12-02T12:00:00Z"
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
    assert application_set["spec"]["generators"][0]["git"]["files"] == [
        {"path": "gitops/apps/estimation-engine/overlays/prod/kustomization.yaml"}
    ]


def test_plans_are_deterministic(pinned_plans):
    from tests.infra.conftest import plan_with_fixtures

    assert plan_with_fixtures("dev").to_json() == pinned_plans["dev"].to_json()


def test_container_insights_has_its_data_collection_rule_and_association(pinned_plans):
    """With useAADAuth the monitoring agent sends only what a data collection rule associated with the
    cluster tells it to; without them nothing reaches Log Analytics."""
    plan = pinned_plans["prod"]
    cluster = plan.named("aks-cluster").inputs
    assert cluster["addonProfiles"]["omsagent"]["config"]["useAADAuth"] == "true"
    rule = plan.named("container-insights-rule").inputs
    [extension] = rule["dataSources"]["extensions"]
    assert (extension["extensionName"], extension["streams"]) == (
        "ContainerInsights", ["Microsoft-ContainerInsights-Group-Default"]
    )  # fmt: skip
    assert rule["dataFlows"] == [
        {"destinations": ["ciworkspace"], "streams": ["Microsoft-ContainerInsights-Group-Default"]}
    ]
    workspace = rule["destinations"]["logAnalytics"][0]["workspaceResourceId"]
    assert workspace == cluster["addonProfiles"]["omsagent"]["config"]["logAnalyticsWorkspaceResourceID"]
    association = plan.named("container-insights-association").inputs
    assert arm_name(association["resourceUri"]) == cluster["resourceName"]
    assert arm_name(association["dataCollectionRuleId"]) == rule["dataCollectionRuleName"]


@pytest.mark.parametrize("stack", ["dev", "qa"])
def test_a_cpu_or_memory_change_replaces_the_container_group(pinned_plans, stack):
    options = pinned_plans[stack].named("engine-container-group").options
    assert "containers[*].resources" in options["replaceOnChanges"]
    assert options["deleteBeforeReplace"] is True  # the group's name is fixed


@pytest.mark.parametrize("stack", ["dev", "qa", "prod"])
def test_registries_are_premium_and_let_trusted_services_through(pinned_plans, stack):
    """ACI pulls with a managed identity only from Premium registries with trusted services allowed."""
    registry = pinned_plans[stack].named("registry").inputs
    assert (registry["sku"]["name"], registry["networkRuleBypassOptions"]) == ("Premium", "AzureServices")


def test_argocd_reads_a_private_repository_with_a_token_from_key_vault(pinned_plans):
    plan = pinned_plans["prod"]
    secret = plan.named("argocd-repository")
    assert secret.inputs["metadata"]["labels"] == {"argocd.argoproj.io/secret-type": "repository"}
    assert secret.inputs["metadata"]["namespace"] == "argocd"
    # The whole stringData is secret in state because it holds the token.
    assert secret.inputs["stringData"] == SECRET
    assert depends_after_wait(plan, "argocd-repository", {"deployer-key-vault-read"})
    grant = plan.named("deployer-key-vault-read").inputs
    assert (role_of_definition_id(grant["roleDefinitionId"]), grant["principalType"]) == (
        BuiltInRole.KEY_VAULT_SECRETS_USER, "User"
    )  # fmt: skip
    assert "argocd-repository" in plan.named("applicationset-estimation-engine").dependencies


def test_the_repository_secret_carries_the_token_read_from_the_stack_key_vault():
    from tests.infra.conftest import plan_with_fixtures

    reads = []

    def reader(vault_uri: str, name: str) -> str:
        reads.append((vault_uri, name))
        return "pat-from-vault"

    plan = build_plan_with_reader(reader)
    vault = plan.named("key-vault").inputs["vaultName"]
    assert reads == [(f"https://{vault}.vault.azure.net/", "argocd-repository-token")]
    assert plan_with_fixtures("prod", argocdRepositorySecret="").of_type("kubernetes:core/v1:Secret") == []


def build_plan_with_reader(reader):
    from infra.plan import build_plan
    from tests.infra.conftest import FIXED_NOW

    return build_plan(
        "prod", clock=lambda: FIXED_NOW, gitops_root=FIXTURES, config_values=fixture_config("prod"),
        secret_reader=reader,
    )  # fmt: skip
