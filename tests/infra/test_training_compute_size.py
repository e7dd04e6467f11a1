"""The training cluster's size is a stack setting: VM size, priority, node range and idle scale-down.

Beyond one machine, training runs on this cluster (`python -m training submit`, README "Training at
scale"), so each stack states how big it may grow and how soon idle nodes go. What a stack says must be
what the cluster gets, and a value Azure would refuse is refused first, naming the key.
"""

from __future__ import annotations

import pytest

from model_contract.config_error import ConfigError
from tests.infra.conftest import plan_with_fixtures
from tests.infra.test_settings import MESSAGE_SHAPE, build

# What environments/Pulumi.<stack>.yaml and Pulumi.yaml's defaults give each stack today.
SIZES = {
    "dev": ("Standard_DS2_v2", "LowPriority", 0, 1, "PT15M"),
    "qa": ("Standard_DS3_v2", "Dedicated", 0, 2, "PT15M"),
    "prod": ("Standard_DS4_v2", "Dedicated", 0, 4, "PT15M"),
}


def _cluster(plan) -> tuple:
    properties = plan.named("training-cluster").inputs["properties"]["properties"]
    scale = properties["scaleSettings"]
    return (properties["vmSize"], properties["vmPriority"], scale["minNodeCount"], scale["maxNodeCount"],
            scale["nodeIdleTimeBeforeScaleDown"])  # fmt: skip


@pytest.mark.parametrize("stack", SIZES)
def test_each_stack_s_cluster_has_the_size_its_settings_say(pinned_plans, stack):
    settings = build(stack)
    assert _cluster(pinned_plans[stack]) == SIZES[stack] == (
        settings.compute_vm_size, settings.compute_vm_priority, settings.compute_min_nodes,
        settings.compute_max_nodes, f"PT{settings.compute_idle_minutes_before_scale_down}M",
    )  # fmt: skip


def test_a_bigger_cluster_is_one_setting_away():
    plan = plan_with_fixtures(
        "qa", computeVmSize="Standard_E8s_v5", computeMaxNodes="6", computeIdleMinutesBeforeScaleDown="5"
    )
    assert _cluster(plan) == ("Standard_E8s_v5", "Dedicated", 0, 6, "PT5M")


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"computeMinNodes": "-1"}, "computeMinNodes: -1 is below 0; allowed: an integer of at least 0"),
        ({"computeMaxNodes": "0"}, "computeMaxNodes: 0 is below 1; allowed: an integer of at least 1"),
        (
            {"computeIdleMinutesBeforeScaleDown": "0"},
            "computeIdleMinutesBeforeScaleDown: 0 is below 1; allowed: an integer from 1 to 1440",
        ),
        (
            {"computeIdleMinutesBeforeScaleDown": "1441"},
            "computeIdleMinutesBeforeScaleDown: 1441 is above 1440; allowed: an integer from 1 to 1440",
        ),
        (
            {"computeMinNodes": "2", "computeMaxNodes": "1"},
            "computeMinNodes: 2 exceeds computeMaxNodes (1); allowed: at most 1",
        ),
        (
            {"computeVmPriority": "Spot"},
            "computeVmPriority: 'Spot' is not one of the choices; allowed: one of Dedicated, LowPriority",
        ),
    ],
)
def test_a_cluster_size_azure_would_refuse_is_refused_naming_the_key(overrides, line):
    with pytest.raises(ConfigError) as raised:
        build("dev", **overrides)
    assert str(raised.value) == f"property-price-platform:{line}"
    assert MESSAGE_SHAPE.match(str(raised.value))
