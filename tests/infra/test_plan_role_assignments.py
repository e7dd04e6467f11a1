"""Per stack: who holds which role on what, and that nothing uses a grant before it has propagated.

Every identity of the stack, the pipeline and promotion principals, the data scientists and the key vault
officers; built-in roles by their definition ids, custom roles by their definitions (offline plan).
"""

from __future__ import annotations

import pytest

from infra.plan import Plan
from infra.plan_mocks import DEPLOYER_OBJECT_ID, stable_guid
from infra.roles import BuiltInRole, role_of_definition_id
from infra.setting_values import Principal
from tests.infra.conftest import fixture_config
from tests.infra.plan_queries import CLUSTER, ROLE_ASSIGNMENT, arm_name, azure_name, depends_after_wait


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
