"""Dev and qa: the engine's container group runs what the overlay pins, as the engine identity, with
probes, and is replaced (not patched) when its size changes (offline plan)."""

from __future__ import annotations

import pytest

from infra.components.aci_serving import ENGINE_PORT
from infra.expiry import EXPIRY_TAG
from infra.plan import SECRET, Plan
from infra.stack_config import REPOSITORY_ROOT
from model_contract.pins import parse_image_pin, parse_model_pin
from tests.infra.conftest import FIXTURES
from tests.infra.plan_queries import CONTAINER_GROUP, arm_name, depends_after_wait


def env_vars(plan: Plan) -> dict[str, str]:
    container = plan.named("engine-container-group").inputs["containers"][0]
    return {variable["name"]: variable["value"] for variable in container["environmentVariables"]}


@pytest.mark.parametrize("stack", ["dev", "qa"])
def test_container_group_runs_exactly_what_the_overlay_pins(pinned_plans, stack):
    plan = pinned_plans[stack]
    overlay = FIXTURES / "gitops/apps/estimation-engine/overlays" / stack
    model = parse_model_pin((overlay / "model.env").read_text(), "model.env")
    image = parse_image_pin((overlay / "kustomization.yaml").read_text(), "kustomization.yaml")
    group = plan.named("engine-container-group").inputs
    container = group["containers"][0]
    variables = env_vars(plan)
    assert container["image"] == image.reference
    assert (variables["MODEL_NAME"], variables["MODEL_VERSION"]) == (model.name, str(model.version))
    assert variables["MLFLOW_TRACKING_URI"] == plan.outputs["mlflowTrackingUri"]
    assert variables["AZURE_CLIENT_ID"] == plan.outputs["engineClientId"]
    assert variables["ENGINE_PORT"] == "8080"
    assert variables["ENGINE_HOST"] == "0.0.0.0"  # probes reach the container from outside
    assert variables["ENGINE_LOG_LEVEL"] == ("DEBUG" if stack == "dev" else "INFO")
    assert plan.outputs["servedModel"] == model.describe()


@pytest.mark.parametrize("stack", ["dev", "qa"])
def test_container_group_pulls_and_runs_as_the_engine_identity_with_probes(pinned_plans, stack):
    plan = pinned_plans[stack]
    group = plan.named("engine-container-group").inputs
    engine_id = group["identity"]["userAssignedIdentities"][0]
    assert arm_name(engine_id) == f"id-price-engine-{stack}-engine"
    assert group["imageRegistryCredentials"] == [
        {"identity": engine_id, "server": f"crpriceengine{stack}.azurecr.io"}
    ]
    assert depends_after_wait(plan, "engine-container-group", {"engine-registry-pull"})
    container = group["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert {container["livenessProbe"]["httpGet"]["port"], container["ports"][0]["port"]} == {ENGINE_PORT}
    assert group["ipAddress"]["dnsNameLabel"].startswith(f"price-engine-{stack}-")
    # The Log Analytics key is a secret, and Pulumi keeps the whole property that holds it secret.
    assert group["diagnostics"] == SECRET
    fqdn = f"{group['ipAddress']['dnsNameLabel']}.westeurope.azurecontainer.io"
    assert plan.outputs["scoringUrl"] == f"http://{fqdn}:8080"


def test_only_dev_container_group_expires_ttl_hours_after_the_clock(pinned_plans):
    assert (
        pinned_plans["dev"].named("engine-container-group").inputs["tags"][EXPIRY_TAG]
        == "2026-12-02T12:00:00Z"
    )
    assert EXPIRY_TAG not in pinned_plans["qa"].named("engine-container-group").inputs["tags"]


@pytest.mark.parametrize("stack", ["dev", "qa"])
def test_stacks_follow_the_real_overlays_whatever_they_pin_today(repo_plans, stack):
    """With the repository's own gitops/ files: serve the pin, or deploy without serving while none."""
    plan = repo_plans[stack]
    overlay = REPOSITORY_ROOT / "gitops/apps/estimation-engine/overlays" / stack
    model = parse_model_pin((overlay / "model.env").read_text(), "model.env")
    image = parse_image_pin((overlay / "kustomization.yaml").read_text(), "kustomization.yaml")
    if model.version is None or image.digest == "sha256:" + "0" * 64:
        assert not plan.of_type(CONTAINER_GROUP)
        assert plan.outputs["scoringUrl"] is None
        assert any(
            str(overlay) in warning and "without a container group" in warning for warning in plan.warnings
        )
    else:
        assert env_vars(plan)["MODEL_VERSION"] == str(model.version)
        assert plan.named("engine-container-group").inputs["containers"][0]["image"] == image.reference
    assert plan.named("workspace")  # the rest of the stack is deployed either way


@pytest.mark.parametrize("stack", ["dev", "qa"])
def test_a_cpu_or_memory_change_replaces_the_container_group(pinned_plans, stack):
    options = pinned_plans[stack].named("engine-container-group").options
    assert "containers[*].resources" in options["replaceOnChanges"]
    assert options["deleteBeforeReplace"] is True  # the group's name is fixed
