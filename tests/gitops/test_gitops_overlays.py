"""The overlays render, validate strictly against Kubernetes' schemas, honour the pin contract, and a
model bump changes exactly what it should."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from delivery.overlay_render import manifest_diff, parse_manifests, render_overlay
from model_contract.pins import (
    ENVIRONMENTS,
    ImagePin,
    ModelPin,
    kustomization_path,
    model_pin_path,
    parse_image_pin,
    parse_model_pin,
    replace_image_pin,
)
from tests.conftest import REPO_ROOT

# The Kubernetes minor the manifests must run on: the AKS version the infra program pins by default
# (Pulumi.yaml, aksKubernetesVersion), read from there so the two cannot drift apart. Fields newer than
# it, or APIs removed before it, fail validation.
KUBERNETES_VERSION = str(
    yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())["config"]["aksKubernetesVersion"]["default"]
)
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
EXPECTED_KINDS = {
    ("", "ServiceAccount"),
    ("", "ConfigMap"),
    ("", "Service"),
    ("apps", "Deployment"),
    ("autoscaling", "HorizontalPodAutoscaler"),
    ("policy", "PodDisruptionBudget"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("batch", "Job"),
}
# Prod runs the engine's pods through an Argo Rollout judged by AnalysisTemplates (tests/gitops/
# test_rollout_objects.py validates those against Argo Rollouts' CRDs; Kubernetes' schemas do not know them).
ROLLOUT_KINDS = {("argoproj.io", "Rollout"), ("argoproj.io", "AnalysisTemplate")}
EXPECTED_KINDS_BY_ENV = {"dev": EXPECTED_KINDS, "qa": EXPECTED_KINDS, "prod": EXPECTED_KINDS | ROLLOUT_KINDS}
ENGINE_PODS = {"app.kubernetes.io/name": "estimation-engine", "app.kubernetes.io/component": "server"}


def _one(objects: list[dict], kind: str, name: str | None = None) -> dict:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def _group_kind(manifest: dict) -> tuple[str, str]:
    return manifest["apiVersion"].rpartition("/")[0], manifest["kind"]


def _engine_container(objects: list[dict]) -> dict:
    return _one(objects, "Deployment", "estimation-engine")["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_overlay_renders_the_engine_in_its_namespace(env, rendered_objects):
    objects = rendered_objects[env]
    assert {_group_kind(o) for o in objects} == EXPECTED_KINDS_BY_ENV[env]
    assert {o["metadata"].get("namespace") for o in objects} == {"estimation-engine"}
    for kind in ("Deployment", "Service", "ServiceAccount"):
        _one(objects, kind, "estimation-engine")
    _one(objects, "Job", "estimation-engine-smoke-test")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_rendered_object_passes_strict_kubernetes_validation(env, rendered_objects):
    for manifest in rendered_objects[env]:
        if _group_kind(manifest) not in ROLLOUT_KINDS:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_strict_validation_rejects_a_misspelled_field(rendered_objects):
    deployment = copy.deepcopy(_one(rendered_objects["prod"], "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="'httpGett' was unexpected"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_model_pin_is_two_lines_the_pin_parser_accepts(env, repo_root):
    text = (repo_root / model_pin_path(env)).read_text()
    pin = parse_model_pin(text, str(model_pin_path(env)))
    assert pin.name == "ames-price"
    assert text == pin.render(), "model.env must be exactly MODEL_NAME and MODEL_VERSION lines"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_image_pin_follows_the_registry_contract_and_reaches_the_pods(env, repo_root, rendered_objects):
    source = kustomization_path(env)
    pin = parse_image_pin((repo_root / source).read_text(), str(source))
    assert pin.new_name == f"crpriceengine{env}.azurecr.io/estimation-engine"
    if env == "dev":
        assert (pin.new_tag, pin.digest) == ("0.1.0", None)
    else:
        assert pin.digest is not None and pin.new_tag is None, f"{env} must pin the image by digest"
    assert _engine_container(rendered_objects[env])["image"] == pin.reference


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_image_pin_can_be_rewritten_by_the_pin_tools(env, repo_root):
    source = kustomization_path(env)
    text = (repo_root / source).read_text()
    promoted = ImagePin(
        "estimation-engine", f"crpriceengine{env}.azurecr.io/estimation-engine", digest="sha256:" + "ab" * 32
    )
    rewritten = replace_image_pin(text, promoted, str(source))
    assert parse_image_pin(rewritten, str(source)) == promoted
    assert yaml.safe_load(rewritten)["patches"] == yaml.safe_load(text)["patches"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_model_bump_changes_only_the_model_configmap_and_the_references_to_it(env, repo_root, tmp_path):
    shutil.copytree(repo_root / "gitops", tmp_path / "gitops")
    before = render_overlay(tmp_path, env)
    (tmp_path / model_pin_path(env)).write_text(ModelPin("ames-price", 7).render())
    after = render_overlay(tmp_path, env)

    old_name, new_name = _model_configmap_name(before), _model_configmap_name(after)
    assert old_name != new_name and new_name.startswith("estimation-engine-model-")
    changed = [
        line.split(" ======")[0]
        for line in manifest_diff(before, after).splitlines()
        if line.startswith("=====")
    ]
    assert sorted(changed) == sorted(
        [
            f"===== /ConfigMap estimation-engine/{old_name}",
            f"===== /ConfigMap estimation-engine/{new_name}",
            "===== apps/Deployment estimation-engine/estimation-engine",
            # The PostSync smoke test reads the same pin, so it expects the new version.
            "===== batch/Job estimation-engine/estimation-engine-smoke-test",
        ]
    )
    # With the generated name put back, the only remaining difference is the pinned version itself.
    restored = parse_manifests(after.replace(new_name, old_name))
    original = parse_manifests(before)
    assert [o for o in restored if o["metadata"]["name"] != old_name] == [
        o for o in original if o["metadata"]["name"] != old_name
    ]
    assert _one(restored, "ConfigMap", old_name)["data"] == {"MODEL_NAME": "ames-price", "MODEL_VERSION": "7"}
    deployment = _one(parse_manifests(after), "Deployment")
    assert {"configMapRef": {"name": new_name}} in deployment["spec"]["template"]["spec"]["containers"][0][
        "envFrom"
    ]


def _model_configmap_name(rendered: str) -> str:
    names = [
        o["metadata"]["name"]
        for o in parse_manifests(rendered)
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("estimation-engine-model-")
    ]
    assert len(names) == 1
    return names[0]


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_pods_are_hardened(env, kind, rendered_objects):
    pod = _one(rendered_objects[env], kind)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (10001, 10001)
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"] + pod.get("initContainers", []):
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, container["name"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound]), f"{container['name']} {bound}"
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    assert "/tmp" in mounts and all("emptyDir" in volumes[name] for name in mounts.values())


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_engine_is_probed_on_its_health_routes_and_rolls_without_losing_capacity(env, rendered_objects):
    deployment = _one(rendered_objects[env], "Deployment")
    container = _engine_container(rendered_objects[env])
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    if env == "prod":
        # The Rollout runs the pods (its replicas are the HPA's); the Deployment only holds the template.
        assert deployment["spec"]["replicas"] == 0
        assert "replicas" not in _one(rendered_objects[env], "Rollout")["spec"]
    else:
        assert "replicas" not in deployment["spec"], "the HorizontalPodAutoscaler owns the replica count"
    settings = _settings(rendered_objects[env])
    assert settings["ENGINE_HOST"] == "0.0.0.0", "probes and the Service reach the pod's address"
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    drain = int(settings["ENGINE_SHUTDOWN_GRACE_SECONDS"])
    assert grace > container["lifecycle"]["preStop"]["sleep"]["seconds"] + drain


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_pods_use_the_environments_workload_identity(env, rendered_objects):
    objects = rendered_objects[env]
    account = _one(objects, "ServiceAccount", "estimation-engine")
    assert GUID.match(account["metadata"]["annotations"]["azure.workload.identity/client-id"])
    smoke = _one(objects, "ServiceAccount", "estimation-engine-smoke-test")
    assert "annotations" not in smoke["metadata"], "the smoke test must not carry the engine's identity"
    pod = _one(objects, "Deployment")["spec"]["template"]
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert pod["spec"]["serviceAccountName"] == "estimation-engine"


def test_each_environment_has_its_own_identity_and_registry(rendered_objects):
    client_ids = {
        _one(rendered_objects[env], "ServiceAccount", "estimation-engine")["metadata"]["annotations"][
            "azure.workload.identity/client-id"
        ]
        for env in ENVIRONMENTS
    }
    assert len(client_ids) == len(ENVIRONMENTS)
    for env in ENVIRONMENTS:
        settings = _settings(rendered_objects[env])
        assert settings["MLFLOW_TRACKING_URI"].startswith("azureml://")
        assert f"/workspaces/mlw-price-engine-{env}" in settings["MLFLOW_TRACKING_URI"]
        assert settings["ENGINE_PORT"] == "8080"
        assert settings["ENGINE_MODEL_CACHE_DIR"] == "/var/cache/estimation-engine"


def _settings(objects: list[dict]) -> dict[str, str]:
    [settings] = [o for o in objects if o["metadata"]["name"].startswith("estimation-engine-settings-")]
    return settings["data"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_network_is_denied_except_the_service_port_dns_and_https(env, rendered_objects):
    objects = rendered_objects[env]
    deny = _one(objects, "NetworkPolicy", "default-deny-all")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    engine = _one(objects, "NetworkPolicy", "estimation-engine")["spec"]
    assert engine["podSelector"]["matchLabels"] == ENGINE_PODS
    assert [rule["ports"] for rule in engine["ingress"]] == [[{"port": 8080, "protocol": "TCP"}]]
    egress_ports = sorted((p["port"], p["protocol"]) for rule in engine["egress"] for p in rule["ports"])
    assert egress_ports == [(53, "TCP"), (53, "UDP"), (443, "TCP")]
    https = next(rule for rule in engine["egress"] if rule["ports"][0]["port"] == 443)
    assert "169.254.169.254/32" in https["to"][0]["ipBlock"]["except"], "IMDS must stay unreachable"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_autoscaler_and_disruption_budget_target_the_engine(env, rendered_objects):
    objects = rendered_objects[env]
    hpa = _one(objects, "HorizontalPodAutoscaler")["spec"]
    workload = ("argoproj.io/v1alpha1", "Rollout") if env == "prod" else ("apps/v1", "Deployment")
    assert hpa["scaleTargetRef"] == {
        "apiVersion": workload[0],
        "kind": workload[1],
        "name": "estimation-engine",
    }
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]
    pdb = _one(objects, "PodDisruptionBudget")["spec"]
    assert pdb["selector"]["matchLabels"] == ENGINE_PODS
    if env == "prod":
        assert hpa["minReplicas"] >= 2, "prod must keep serving while one pod is disrupted"


def test_codeowners_gives_the_prod_overlay_to_the_platform_team(repo_root: Path):
    owners = {}
    for line in (repo_root / ".github/CODEOWNERS").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            pattern, *teams = line.split()
            owners[pattern] = teams
    for path in (
        "/gitops/apps/estimation-engine/overlays/prod/",
        "/gitops/apps/estimation-engine/base/",
        "/gitops/apps/estimation-engine/analysis/",
        "/gitops/prometheus/",
        "/gitops/argocd/",
    ):
        assert owners.get(path), f"CODEOWNERS has no owner for {path}"
    assert "/gitops/apps/estimation-engine/overlays/dev/" not in owners, "dev bumps need no platform review"
