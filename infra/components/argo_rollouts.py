"""Argo Rollouts on the cluster: the controller that runs prod's engine as a canary (gitops/apps/
estimation-engine/overlays/prod/rollout.yaml) and judges it with the AnalysisTemplates.

Installed from argo-helm's ``argo-rollouts`` chart at the pinned version (infra/argo_rollouts_release.py),
CRDs included and kept on uninstall (deleting the CRDs would delete prod's Rollout and its pods). It must
exist before Argo CD syncs a Rollout: the AKS component makes Argo CD's ApplicationSet wait for it.

Values (read against the chart's values.yaml at argo-rollouts-2.41.0): no dashboard (kubectl argo rollouts
and Argo CD show the state), and no RBAC for traffic routers (Istio, SMI, ...) the canary does not use.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.components.helm_chart import SYSTEM_POOL_TOLERATIONS, PinnedChart, install_chart

COMPONENT_TYPE = "property-price-platform:infra:ArgoRollouts"
CHART_REPOSITORY = "https://argoproj.github.io/argo-helm"
CHART_NAME = "argo-rollouts"
RELEASE_NAME = "argo-rollouts"
NAMESPACE = "argo-rollouts"

CHART_VALUES: dict[str, Any] = {
    "installCRDs": True,
    "keepCRDs": True,
    "controller": {
        "tolerations": SYSTEM_POOL_TOLERATIONS,
        "resources": {
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"memory": "512Mi"},
        },
    },
    "dashboard": {"enabled": False},
    "providerRBAC": {"enabled": False},
}


class ArgoRollouts(pulumi.ComponentResource):
    """The Helm release of Argo Rollouts (controller and CRDs)."""

    def __init__(
        self,
        name: str,
        *,
        chart_version: str,
        provider: k8s.Provider,
        depends_on: list[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        chart = PinnedChart(RELEASE_NAME, CHART_NAME, chart_version, CHART_REPOSITORY, NAMESPACE)
        self.release = install_chart(
            "argo-rollouts-release",
            chart,
            CHART_VALUES,
            pulumi.ResourceOptions(parent=self, provider=provider, depends_on=depends_on),
        )
        self.register_outputs({"namespace": NAMESPACE, "chartVersion": chart_version})
