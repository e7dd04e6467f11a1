"""The Prometheus the AKS stack installs for the canary analysis: the prometheus-community chart, pinned.

Settings refuse charts not listed here, so a stack runs a Prometheus whose values (infra/components/
prometheus.py) were written against that chart's values.yaml. The analysis queries use only PromQL that
Prometheus 2.x and 3.x evaluate alike (rate, increase, sum, histogram_quantile over classic histograms);
tests/analysis runs them on the Debian package's Prometheus.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PrometheusRelease:
    """A prometheus-community ``prometheus`` chart version and the Prometheus (``appVersion``) it runs."""

    chart_version: str
    app_version: str
    source: str


RELEASES: dict[str, PrometheusRelease] = {
    "29.27.0": PrometheusRelease(
        chart_version="29.27.0",
        app_version="v3.14.0",
        # Chart.yaml at the chart's release tag: `version: 29.27.0`, `appVersion: v3.14.0`.
        source="https://github.com/prometheus-community/helm-charts/blob/prometheus-29.27.0/charts/prometheus/Chart.yaml",
    ),
}
PINNED = RELEASES["29.27.0"]
