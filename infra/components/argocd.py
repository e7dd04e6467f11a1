"""Argo CD on the cluster, and the objects that make it deploy the estimation engine.

Argo CD comes from its Helm chart at a pinned version (``infra.components.helm_chart``). The AppProject and ApplicationSet are the files of
``gitops/argocd/`` with the stack's repository, revision and environment put in (see
``infra.argocd_manifests``), applied only once the release, and so Argo CD's CRDs, exist.

For a private repository, the release is joined by Argo CD's repository Secret (label
``argocd.argoproj.io/secret-type: repository``, Argo CD's declarative setup), whose token comes from the
stack's key vault at `up` (``infra.key_vault_secrets``) and is kept secret in Pulumi's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.argocd_manifests import ARGOCD_NAMESPACE
from infra.components.helm_chart import SYSTEM_POOL_TOLERATIONS, PinnedChart, install_chart

COMPONENT_TYPE = "property-price-platform:infra:ArgoCd"
CHART_REPOSITORY = "https://argoproj.github.io/argo-helm"
CHART_NAME = "argo-cd"
RELEASE_NAME = "argocd"

# Small, deliberate departures from the chart defaults: no Dex (people sign in through the cluster's
# Entra ID RBAC and the CLI's port-forward), the API server stays internal, and the controllers run on
# the system pool's tolerations like other cluster add-ons.
CHART_VALUES: dict[str, Any] = {
    "dex": {"enabled": False},
    "server": {"service": {"type": "ClusterIP"}},
    "global": {"tolerations": SYSTEM_POOL_TOLERATIONS},
}


REPOSITORY_SECRET_NAME = "repo-property-price-platform"
REPOSITORY_SECRET_LABEL = {"argocd.argoproj.io/secret-type": "repository"}


@dataclass(frozen=True)
class RepositoryCredentials:
    """HTTPS credentials Argo CD clones ``url`` with, limited to one AppProject."""

    url: str
    username: str
    token: pulumi.Output[str]
    project: str


def repository_secret_data(credentials: RepositoryCredentials) -> dict[str, pulumi.Input[str]]:
    """The Secret's ``stringData`` in Argo CD's repository format (type, url, username, password, project)."""
    return {
        "type": "git",
        "url": credentials.url,
        "username": credentials.username,
        "password": pulumi.Output.secret(credentials.token),
        "project": credentials.project,
    }


class ArgoCd(pulumi.ComponentResource):
    """The Helm release of Argo CD plus the engine's AppProject and ApplicationSet.

    ``objects_depend_on``: what must run before Argo CD may sync the engine (Argo Rollouts, whose CRDs the
    prod overlay's Rollout needs, and the Prometheus its analysis queries).
    """

    def __init__(
        self,
        name: str,
        *,
        chart_version: str,
        provider: k8s.Provider,
        argocd_objects: list[dict[str, Any]],
        depends_on: list[pulumi.Resource],
        objects_depend_on: list[pulumi.Resource] | None = None,
        repository: RepositoryCredentials | None = None,
        repository_depends_on: list[pulumi.Resource] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        chart = PinnedChart(RELEASE_NAME, CHART_NAME, chart_version, CHART_REPOSITORY, ARGOCD_NAMESPACE)
        self.release = install_chart(
            "argocd-release",
            chart,
            CHART_VALUES,
            pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=depends_on)),
        )
        after_release = pulumi.ResourceOptions.merge(
            on_cluster, pulumi.ResourceOptions(depends_on=[self.release, *(repository_depends_on or [])])
        )
        self.repository_secret = (
            k8s.core.v1.Secret(
                "argocd-repository",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=REPOSITORY_SECRET_NAME, namespace=ARGOCD_NAMESPACE, labels=REPOSITORY_SECRET_LABEL
                ),
                type="Opaque",
                string_data=repository_secret_data(repository),
                opts=after_release,
            )
            if repository is not None
            else None
        )
        credentials = [self.repository_secret] if self.repository_secret is not None else []
        self.objects = [
            k8s.apiextensions.CustomResource(
                f"{document['kind'].lower()}-{document['metadata']['name']}",
                api_version=document["apiVersion"],
                kind=document["kind"],
                metadata=document["metadata"],
                spec=document["spec"],
                opts=pulumi.ResourceOptions.merge(
                    on_cluster,
                    pulumi.ResourceOptions(
                        depends_on=[self.release, *credentials, *(objects_depend_on or [])]
                    ),
                ),
            )
            for document in argocd_objects
        ]
        self.register_outputs({"namespace": ARGOCD_NAMESPACE, "chartVersion": chart_version})
