"""Waiting for Azure role assignments to take effect before anything relies on them.

ARM accepts a role assignment at once, but the authorization caches of the services that enforce it catch
up later: Azure RBAC documents up to 10 minutes in general, AKS's Entra ID authorization up to 5 minutes
for a new assignment, and a just-defined custom role can be missing for a while too. Whatever uses a fresh
grant in the same `pulumi up` (Helm through the cluster-admin grant, ACI pulling with AcrPull, the
workspace's identity on its linked resources) therefore depends on a ``time.Sleep`` that itself depends on
the grants. The sleep runs again whenever one of the grants is replaced (its ``triggers`` are their ids), so
a changed principal gets the same wait.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumiverse_time

# Long enough for the documented propagation of a new assignment in the services used here, short
# enough not to dominate a first `pulumi up` (the AKS cluster alone takes longer).
ROLE_PROPAGATION = "180s"


def wait_for_grants(
    name: str, grants: Sequence[pulumi.Resource], *, parent: pulumi.Resource
) -> pulumiverse_time.Sleep:
    """A sleep that starts once every resource of ``grants`` exists; depend on it to use them."""
    ids = [pulumi.Output.from_input(grant.id) for grant in grants if isinstance(grant, pulumi.CustomResource)]
    return pulumiverse_time.Sleep(
        name,
        create_duration=ROLE_PROPAGATION,
        triggers=pulumi.Output.all(*ids).apply(lambda values: {"grants": ",".join(sorted(values))}),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(grants)),
    )
