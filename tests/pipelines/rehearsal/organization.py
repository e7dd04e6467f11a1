"""What the rehearsal's Azure DevOps project and Azure tenant hold: the things `.pipelines/README.md` asks a
platform engineer to create by hand, and the grants the infra stacks give the pipelines' principals.

The pipelines may use only what is here. A pipeline naming a variable group, service connection or
environment the README does not ask for fails its run, as it would on first contact; the tests check
that the README names everything defined here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TENANT_ID = "72f988bf-0000-0000-0000-0000000000aa"
SUBSCRIPTIONS = {
    "dev": "11111111-0000-0000-0000-0000000000de",
    "qa": "22222222-0000-0000-0000-0000000000ca",
    "prod": "33333333-0000-0000-0000-0000000000f0",
}
STATE_BACKEND = "azblob://pulumi-state?storage_account=stpriceenginestate"


@dataclass(frozen=True)
class Secret:
    """A variable group value marked secret: not mapped into scripts' environment unless a step maps it."""

    value: str


@dataclass(frozen=True)
class ServiceConnection:
    """An Azure Resource Manager service connection with workload identity federation."""

    name: str
    client_id: str
    subscription_id: str
    tenant_id: str = TENANT_ID


@dataclass(frozen=True)
class KubernetesGrant:
    """Azure RBAC for Kubernetes: what a principal may do, on which resource, in which namespace."""

    verbs: frozenset[str]
    resource: str
    namespace: str


@dataclass
class Organization:
    variable_groups: dict[str, dict[str, str | Secret]]
    service_connections: dict[str, ServiceConnection]
    environments: set[str]
    kubernetes_grants: dict[str, list[KubernetesGrant]] = field(default_factory=dict)


READ = frozenset({"get", "list", "watch"})


def _group(env: str) -> dict[str, str | Secret]:
    return {
        "AZURE_SUBSCRIPTION_ID": SUBSCRIPTIONS[env],
        "PULUMI_BACKEND_URL": STATE_BACKEND,
        "PULUMI_CONFIG_PASSPHRASE": Secret(f"passphrase-of-{env}-not-for-logs"),
    }


def default_organization() -> Organization:
    """The project as `.pipelines/README.md` describes it."""
    connections = {
        f"price-engine-{env}": ServiceConnection(
            f"price-engine-{env}", f"{index}0000000-aaaa-0000-0000-00000000d3p1", SUBSCRIPTIONS[env]
        )
        for index, env in enumerate(("dev", "qa", "prod"), start=1)
    }
    connections |= {
        f"price-engine-promote-{target}": ServiceConnection(
            f"price-engine-promote-{target}",
            f"{index}0000000-bbbb-0000-0000-0000000pr0m0",
            SUBSCRIPTIONS[target],
        )
        for index, target in enumerate(("qa", "prod"), start=4)
    }
    return Organization(
        variable_groups={f"price-engine-{env}": _group(env) for env in ("dev", "qa", "prod")},
        service_connections=connections,
        environments={"price-engine-dev", "price-engine-qa", "price-engine-prod"},
        # The prod stack grants the prod pipeline principal read on Argo CD's Applications, nothing more.
        kubernetes_grants={
            connections["price-engine-prod"].client_id: [
                KubernetesGrant(READ, "applications.argoproj.io", "argocd")
            ]
        },
    )
