"""Per stack: the Azure ML workspace is wired to its own storage, key vault, registry and insights, and
its training cluster runs as the training identity (offline plan, Azure's real output names)."""

from __future__ import annotations

import pytest

from tests.infra.plan_queries import arm_name, azure_name


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


@pytest.mark.parametrize("stack", ["dev", "qa", "prod"])
def test_training_cluster_runs_as_the_training_identity(pinned_plans, stack):
    plan = pinned_plans[stack]
    compute = plan.named("training-cluster").inputs
    assert compute["workspaceName"] == azure_name(plan, "workspace")
    identities = compute["identity"]["userAssignedIdentities"]
    assert [arm_name(identity) for identity in identities] == [f"id-price-engine-{stack}-training"]
    assert compute["properties"]["properties"]["scaleSettings"]["minNodeCount"] == 0


@pytest.mark.parametrize("stack", ["dev", "qa", "prod"])
def test_registries_are_premium_and_let_trusted_services_through(pinned_plans, stack):
    """ACI pulls with a managed identity only from Premium registries with trusted services allowed."""
    registry = pinned_plans[stack].named("registry").inputs
    assert (registry["sku"]["name"], registry["networkRuleBypassOptions"]) == ("Premium", "AzureServices")
