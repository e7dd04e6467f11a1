"""Per stack: the plan is made of the components that stack needs, each owning its resources.

The plan is the offline one (Pulumi mocks); the same inputs always give the same plan.
"""

from __future__ import annotations

import pytest

from tests.infra.plan_queries import CLUSTER, CONTAINER_GROUP

COMPONENTS = {
    "property-price-platform:infra:MlWorkspace",
    "property-price-platform:infra:WorkloadIdentities",
    "property-price-platform:infra:TrainingCompute",
    "property-price-platform:infra:Diagnostics",
}


@pytest.mark.parametrize("stack", ["dev", "qa", "prod"])
def test_each_stack_is_made_of_its_components(pinned_plans, stack):
    plan = pinned_plans[stack]
    types = {resource.type for resource in plan.resources}
    assert types >= COMPONENTS
    if stack == "prod":
        assert {"property-price-platform:infra:AksServing", "property-price-platform:infra:ArgoCd"} <= types
        assert CONTAINER_GROUP not in types
    else:
        assert "property-price-platform:infra:AciServing" in types
        assert CLUSTER not in types


@pytest.mark.parametrize("stack", ["dev", "qa", "prod"])
def test_components_own_their_resources(pinned_plans, stack):
    plan = pinned_plans[stack]
    assert {r.name for r in plan.resources if r.parent is None} >= {
        "ml",
        "identities",
        "training",
        "diagnostics",
    }
    assert plan.named("workspace").parent == "ml"
    assert plan.named("training-cluster").parent == "training"
    assert plan.named("engine-identity").parent == "identities"


def test_plans_are_deterministic(pinned_plans):
    from tests.infra.conftest import plan_with_fixtures

    assert plan_with_fixtures("dev").to_json() == pinned_plans["dev"].to_json()
