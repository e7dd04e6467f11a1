"""The prod stack gives the engine its identity and registry through Argo CD, with nothing copied by hand.

The ApplicationSet the program applies carries Kustomize patches with the engine identity's client id and
the workspace's MLflow URI (values only `pulumi up` knows). Rendering the prod overlay with those patches,
as Argo CD does, must yield a ServiceAccount federated to that identity and a Deployment reading that
registry; and the patched object must still satisfy the ApplicationSet CRD strictly.
"""

import shutil
import subprocess

import yaml

from delivery.overlay_render import find_kubectl, parse_manifests
from tests.conftest import REPO_ROOT
from tests.gitops.test_argocd_objects import schema_problems


def patched_application_set(plan) -> dict:
    inputs = plan.named("applicationset-estimation-engine").inputs
    return {key: inputs[key] for key in ("apiVersion", "kind", "metadata", "spec")}


def render_as_argocd(tmp_path, application_set: dict) -> list[dict]:
    """kubectl kustomize over the prod overlay plus the Application's kustomize patches."""
    shutil.copytree(REPO_ROOT / "gitops", tmp_path / "gitops")
    source = application_set["spec"]["template"]["spec"]["source"]
    wrapper = tmp_path / "argocd-render"
    wrapper.mkdir()
    kustomization = {
        "resources": ["../gitops/apps/estimation-engine/overlays/prod"],
        "patches": source["kustomize"]["patches"],
    }
    (wrapper / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    rendered = subprocess.run(
        [str(find_kubectl()), "kustomize", str(wrapper)], capture_output=True, text=True, check=True
    )
    return parse_manifests(rendered.stdout)


def test_the_rendered_prod_engine_runs_as_the_stack_identity_and_reads_the_stack_registry(
    repo_plans, tmp_path
):
    plan = repo_plans["prod"]
    objects = render_as_argocd(tmp_path, patched_application_set(plan))
    account = next(o for o in objects if o["kind"] == "ServiceAccount")
    assert (
        account["metadata"]["annotations"]["azure.workload.identity/client-id"]
        == plan.outputs["engineClientId"]
    )
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "engine")
    # A container's env wins over its envFrom ConfigMaps, so the overlay's placeholder URI is overridden.
    assert {"name": "MLFLOW_TRACKING_URI", "value": plan.outputs["mlflowTrackingUri"]} in container["env"]
    assert container["envFrom"]  # the pin and the settings still come from the generated ConfigMaps


def test_the_patched_application_set_still_matches_its_crd_strictly(repo_plans):
    assert schema_problems(patched_application_set(repo_plans["prod"])) == []
