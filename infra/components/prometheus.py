"""Prometheus in the cluster, scraping what gitops/prometheus/scrape-configs.yaml says: the data the canary
analysis of prod's Rollout is judged on (gitops/apps/estimation-engine/analysis/).

Why in the cluster rather than Azure Monitor managed Prometheus: Argo Rollouts' Prometheus provider
authenticates with SigV4 or OAuth2 client credentials only, and the Azure Monitor workspace's query API
accepts Microsoft Entra client credentials, so the analysis would need an app registration's client secret
in a Kubernetes Secret (no workload identity), and it would judge the canary on data that reaches the
workspace after an ingestion delay. An in-cluster Prometheus is queried over the cluster network with no
credential, sees a scrape as soon as it happens, and its whole configuration is in this repository.

Chart: prometheus-community ``prometheus`` at the pinned version (infra/prometheus_release.py); values read
against its values.yaml. Only the server runs (no Alertmanager, node exporter, kube-state-metrics or
Pushgateway); the chart's default scrape jobs are all disabled and replaced by the gitops file's; the
Service is named ``prometheus-server`` whatever the release is called, because the AnalysisTemplates'
default ``prometheus-address`` names it. Samples persist on a volume for 15 days, so a restart mid-canary
loses nothing the analysis reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra.components.helm_chart import SYSTEM_POOL_TOLERATIONS, PinnedChart, install_chart

COMPONENT_TYPE = "property-price-platform:infra:Prometheus"
CHART_REPOSITORY = "https://prometheus-community.github.io/helm-charts"
CHART_NAME = "prometheus"
RELEASE_NAME = "prometheus"
NAMESPACE = "monitoring"
SERVER_NAME = "prometheus-server"
SCRAPE_CONFIGS_FILE = Path("gitops/prometheus/scrape-configs.yaml")
# The chart's own scrape jobs (values.yaml `scrapeConfigs` of prometheus-29.27.0), all turned off.
CHART_DEFAULT_JOBS = (
    "prometheus",
    "kubernetes-api-servers",
    "kubernetes-nodes",
    "kubernetes-nodes-cadvisor",
    "kubernetes-service-endpoints",
    "kubernetes-service-endpoints-slow",
    "prometheus-pushgateway",
    "kubernetes-services",
    "kubernetes-pods",
    "kubernetes-pods-slow",
)


class ScrapeConfigError(ValueError):
    """The gitops scrape configuration is not a list of Prometheus scrape jobs."""


def load_scrape_configs(root: Path) -> list[dict[str, Any]]:
    """The ``scrape_configs`` of gitops/prometheus/scrape-configs.yaml, checked for their shape."""
    path = root / SCRAPE_CONFIGS_FILE
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ScrapeConfigError(f"{path}: cannot be read as YAML: {error}") from error
    jobs = document.get("scrape_configs") if isinstance(document, dict) else None
    if not isinstance(jobs, list) or not jobs:
        raise ScrapeConfigError(f"{path}: needs a non-empty `scrape_configs` list")
    names = [job.get("job_name") if isinstance(job, dict) else None for job in jobs]
    if not all(isinstance(name, str) and name for name in names) or len(set(names)) != len(names):
        raise ScrapeConfigError(f"{path}: every scrape job needs its own job_name, got {names}")
    return jobs


def chart_values(scrape_configs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "alertmanager": {"enabled": False},
        "kube-state-metrics": {"enabled": False},
        "prometheus-node-exporter": {"enabled": False},
        "prometheus-pushgateway": {"enabled": False},
        "scrapeConfigs": {job: {"enabled": False} for job in CHART_DEFAULT_JOBS},
        "serverFiles": {"prometheus.yml": {"scrape_configs": scrape_configs}},
        "server": {
            "fullnameOverride": SERVER_NAME,
            "retention": "15d",
            "persistentVolume": {"enabled": True, "size": "8Gi"},
            "tolerations": SYSTEM_POOL_TOLERATIONS,
            "resources": {
                "requests": {"cpu": "100m", "memory": "512Mi"},
                "limits": {"memory": "2Gi"},
            },
        },
    }


class Prometheus(pulumi.ComponentResource):
    """The Helm release of the Prometheus server the canary analysis queries."""

    def __init__(
        self,
        name: str,
        *,
        chart_version: str,
        scrape_configs: list[dict[str, Any]],
        provider: k8s.Provider,
        depends_on: list[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        chart = PinnedChart(RELEASE_NAME, CHART_NAME, chart_version, CHART_REPOSITORY, NAMESPACE)
        self.release = install_chart(
            "prometheus-release",
            chart,
            chart_values(scrape_configs),
            pulumi.ResourceOptions(parent=self, provider=provider, depends_on=depends_on),
        )
        self.query_url = f"http://{SERVER_NAME}.{NAMESPACE}.svc.cluster.local"
        self.register_outputs({"namespace": NAMESPACE, "queryUrl": self.query_url})
