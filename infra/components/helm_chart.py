"""A pinned Helm chart installed as a ``helm.v3.Release``, the way every cluster add-on of the stack is.

``helm.v3.Release`` rather than ``helm.v4.Chart``: the charts use Helm hooks, which ``helm.v4.Chart`` skips.
Atomic with cleanup: a release that does not become ready within the timeout is rolled back, so a failed
`pulumi up` leaves no half-installed add-on behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

RELEASE_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class PinnedChart:
    """Which chart, at which version, from which repository, installed as which release where."""

    release: str
    chart: str
    version: str
    repository: str
    namespace: str


def install_chart(
    logical_name: str, chart: PinnedChart, values: dict[str, Any], opts: pulumi.ResourceOptions
) -> k8s.helm.v3.Release:
    return k8s.helm.v3.Release(
        logical_name,
        k8s.helm.v3.ReleaseArgs(
            name=chart.release,
            chart=chart.chart,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
            namespace=chart.namespace,
            create_namespace=True,
            atomic=True,
            cleanup_on_fail=True,
            timeout=RELEASE_TIMEOUT_SECONDS,
            values=values,
        ),
        opts=opts,
    )


# Cluster add-ons run on the system pool like AKS's own (its nodes carry the CriticalAddonsOnly taint
# when it is tainted; the toleration is harmless when it is not).
SYSTEM_POOL_TOLERATIONS: list[dict[str, str]] = [
    {"key": "CriticalAddonsOnly", "operator": "Exists", "effect": "NoSchedule"}
]
