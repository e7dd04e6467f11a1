"""The one Argo CD release the project runs: the Helm chart the AKS stack installs and the app it ships.

Three things must name the same Argo CD: the chart ``infra/components/argocd.py`` installs, the ``argocd`` CLI
the pipelines download, and the CRD schemas ``tests/gitops`` validates ``gitops/argocd/`` against. A field
that a newer Argo CD knows and the installed one does not (``clusterResourceWhitelist[].name`` before v3.3)
is dropped silently by the API server, so a drift between them is a real bug, not a cosmetic one.
``tests/infra/test_argocd_release.py`` fails when the three disagree.

The chart -> app version mapping is read from the chart's own ``Chart.yaml``; charts not listed here are
refused by the settings, so a stack cannot install an Argo CD the tests have never seen.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArgoCdRelease:
    """An argo-helm ``argo-cd`` chart version and the Argo CD version (``appVersion``) it installs."""

    chart_version: str
    app_version: str
    source: str


RELEASES: dict[str, ArgoCdRelease] = {
    "10.1.1": ArgoCdRelease(
        chart_version="10.1.1",
        app_version="v3.4.4",
        # Chart.yaml of the chart's release tag: `version: 10.1.1`, `appVersion: v3.4.4`.
        source="https://github.com/argoproj/argo-helm/blob/argo-cd-10.1.1/charts/argo-cd/Chart.yaml",
    ),
}
PINNED = RELEASES["10.1.1"]
