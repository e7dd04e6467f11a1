"""Prod: Argo CD, Argo Rollouts and Prometheus come from their pinned charts, in the order the sync
needs, and Argo CD reads the private repository with a token from the stack's key vault (offline plan)."""

from __future__ import annotations

import yaml

from infra.argo_rollouts_release import PINNED as ARGO_ROLLOUTS
from infra.argocd_release import PINNED as ARGOCD
from infra.plan import SECRET
from infra.prometheus_release import PINNED as PROMETHEUS
from infra.roles import BuiltInRole, role_of_definition_id
from tests.infra.conftest import FIXTURES, fixture_config
from tests.infra.plan_queries import depends_after_wait


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


def test_prod_with_the_real_gitops_files_applies_the_real_argocd_objects(repo_plans):
    plan = repo_plans["prod"]
    application_set = plan.named("applicationset-estimation-engine").inputs
    assert application_set["spec"]["generators"][0]["git"]["files"] == [
        {"path": "gitops/apps/estimation-engine/overlays/prod/kustomization.yaml"}
    ]


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
