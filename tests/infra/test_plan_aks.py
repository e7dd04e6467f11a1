"""Prod: the AKS cluster is pinned and locked down, trusts the GitOps service account, sends its
container insights to Log Analytics and exports what the pipelines read (offline plan)."""

from __future__ import annotations

import yaml

from infra.plan import SECRET
from infra.plan_mocks import stable_guid
from infra.stack_config import REPOSITORY_ROOT
from tests.infra.plan_queries import arm_name


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


def test_prod_outputs_name_the_cluster_and_keep_the_kubeconfig_secret(pinned_plans):
    outputs = pinned_plans["prod"].outputs
    assert outputs["clusterName"] == "aks-price-engine-prod"
    assert outputs["kubeconfig"] == SECRET
    assert outputs["scoringUrl"] == "http://estimation-engine.estimation-engine.svc.cluster.local:8080"
    assert outputs["mlflowTrackingUri"].startswith(
        "azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/"
    )


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
