"""The one Argo Rollouts release the project runs: the Helm chart the AKS stack installs and the version it ships.

Two things must name the same Argo Rollouts: the chart ``infra/components/argo_rollouts.py`` installs (its
CRDs included) and the CRD schemas ``tests/gitops`` validates prod's Rollout and AnalysisTemplates against
(tests/data/schemas/argo-rollouts). A field the schemas know and the installed controller does not would be
dropped by the API server or ignored by the controller, so a drift between them is a real bug.
``tests/infra/test_argo_rollouts_release.py`` fails when they disagree.

Charts not listed here are refused by the settings, so a stack cannot install an Argo Rollouts the tests
have never seen.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArgoRolloutsRelease:
    """An argo-helm ``argo-rollouts`` chart version and the Argo Rollouts version (``appVersion``) it installs."""

    chart_version: str
    app_version: str
    source: str


RELEASES: dict[str, ArgoRolloutsRelease] = {
    "2.41.0": ArgoRolloutsRelease(
        chart_version="2.41.0",
        app_version="v1.9.0",
        # Chart.yaml at the chart's release tag: `version: 2.41.0`, `appVersion: v1.9.0`.
        source="https://github.com/argoproj/argo-helm/blob/argo-rollouts-2.41.0/charts/argo-rollouts/Chart.yaml",
    ),
}
PINNED = RELEASES["2.41.0"]
