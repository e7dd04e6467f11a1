"""Questions the infra tests ask of an offline plan: a resource's Azure name, whether it waits for grants.

The mocks answer with Azure's real output names, so a wire that reads a misspelt output would show up
in the tests that use these as a missing or empty value.
"""

from __future__ import annotations

from infra.plan import Plan

ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
SLEEP = "time:index/sleep:Sleep"
CONTAINER_GROUP = "azure-native:containerinstance:ContainerGroup"
CLUSTER = "azure-native:containerservice:ManagedCluster"


def arm_name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def azure_name(plan: Plan, logical_name: str) -> str:
    inputs = plan.named(logical_name).inputs
    for key in ("accountName", "vaultName", "registryName", "workspaceName", "resourceName"):
        if key in inputs:
            return inputs[key]
    raise KeyError(logical_name)


def depends_after_wait(plan: Plan, resource: str, grants: set[str]) -> bool:
    """``resource`` depends on a sleep that itself depends on every one of ``grants``."""
    sleeps = [plan.named(name) for name in plan.named(resource).dependencies]
    return any(s.type == SLEEP and grants <= set(s.dependencies) for s in sleeps)
