"""Prod's Rollout and the AnalysisTemplates: Argo Rollouts v1.9's CRD schemas (strict), and the wiring the
controller would only report at run time (an arg it cannot resolve, an override it silently ignores, a
Rollout that references another workload than the one kustomize renders)."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import pytest
import yaml

from delivery.overlay_render import manifest_diff, render_overlay
from model_contract.pins import ModelPin, model_pin_path, overlay_path
from tests.analysis.argo_analysis import AnalysisError, merge_args, resolve_metric, undeclared_args
from tests.gitops.crd_schemas import schema_problems

PREVIOUS_MODEL_FILE = "previous-model.env"
SHADOW_CONFIGMAP = "estimation-engine-shadow"
ARG_TAG = re.compile(r"\{\{\s*args\.([\w-]+)\s*\}\}")


def _one(objects: list[dict], kind: str, name: str = "estimation-engine") -> dict:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


@pytest.fixture(scope="module")
def prod(rendered_objects) -> list[dict]:
    return rendered_objects["prod"]


@pytest.fixture(scope="module")
def templates(prod) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in prod if o["kind"] == "AnalysisTemplate"}


def _analysis_steps(rollout: dict) -> list[dict]:
    return [step["analysis"] for step in rollout["spec"]["strategy"]["canary"]["steps"] if "analysis" in step]


def test_the_rollout_and_analysis_templates_match_the_crd_schemas_strictly(prod, templates):
    assert schema_problems(_one(prod, "Rollout")) == []
    assert sorted(templates) == ["estimation-engine-serving", "estimation-engine-shadow"]
    for template in templates.values():
        assert schema_problems(template) == [], template["metadata"]["name"]


def test_the_strict_check_catches_what_the_rollout_crd_lets_through(prod):
    rollout = copy.deepcopy(_one(prod, "Rollout"))
    rollout["spec"]["progressDeadlineAbrot"] = True
    rollout["spec"]["strategy"]["canary"]["steps"][1]["analysis"]["templates"][0]["templateNmae"] = "x"
    assert sorted(schema_problems(rollout)) == [
        ".spec.progressDeadlineAbrot",
        ".spec.strategy.canary.steps[1].analysis.templates[0].templateNmae",
    ]


def test_the_rollout_runs_the_pods_of_the_rendered_deployment_which_runs_none(prod):
    rollout, deployment = _one(prod, "Rollout")["spec"], _one(prod, "Deployment")["spec"]
    assert rollout["workloadRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "estimation-engine",
        "scaleDown": "never",
    }
    assert rollout["selector"] == deployment["selector"]
    assert deployment["replicas"] == 0, "no pod may run outside the canary's control"
    assert "template" not in rollout and "replicas" not in rollout
    hpa = _one(prod, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (hpa["kind"], hpa["name"]) == ("Rollout", "estimation-engine")
    spread = deployment["template"]["spec"]["topologySpreadConstraints"]
    assert {key for rule in spread for key in rule["matchLabelKeys"]} == {"rollouts-pod-template-hash"}


def test_the_canary_climbs_in_steps_each_judged_by_both_templates_on_the_canarys_pods(prod):
    canary = _one(prod, "Rollout")["spec"]["strategy"]["canary"]
    steps = canary["steps"]
    weights = [step["setWeight"] for step in steps if "setWeight" in step]
    assert weights == sorted(weights) and 0 < weights[0] <= 25 and weights[-1] < 100
    assert "analysis" in steps[-1], "the last weight is judged before the implicit promotion to 100 %"
    for index, step in enumerate(steps):
        if "setWeight" in step:
            assert "analysis" in steps[index + 1], f"weight {step['setWeight']} is not judged"
    for analysis in _analysis_steps(_one(prod, "Rollout")):
        assert [t["templateName"] for t in analysis["templates"]] == [
            "estimation-engine-serving",
            "estimation-engine-shadow",
        ]
        [hash_arg] = [arg for arg in analysis["args"] if arg["name"] == "canary-hash"]
        assert hash_arg["valueFrom"] == {"podTemplateHashValue": "Latest"}
    assert canary["maxUnavailable"] == 0
    assert "trafficRouting" not in canary and "dynamicStableScale" not in canary


def test_every_step_arg_is_declared_and_every_template_resolves_with_the_steps_args(prod, templates):
    for analysis in _analysis_steps(_one(prod, "Rollout")):
        used = [templates[t["templateName"]] for t in analysis["templates"]]
        declared = [arg for template in used for arg in template["spec"]["args"]]
        assert undeclared_args(declared, analysis["args"]) == [], "the controller ignores undeclared args"
        # The controller fills valueFrom args from the cluster; here a stand-in hash does.
        incoming = [
            {"name": a["name"], "value": "abc123"} if "valueFrom" in a else a for a in analysis["args"]
        ]
        for template in used:
            args = merge_args(template["spec"]["args"], incoming)
            for metric in template["spec"]["metrics"]:
                resolved = resolve_metric(metric, args)
                assert "{{" not in yaml.safe_dump(resolved), metric["name"]
                assert 'rollouts_pod_template_hash="abc123"' in resolved["provider"]["prometheus"]["query"]


def test_a_misspelled_override_or_a_missing_arg_is_caught(templates):
    serving = templates["estimation-engine-serving"]["spec"]
    assert undeclared_args(serving["args"], [{"name": "max-eror-rate", "value": "0.5"}]) == ["max-eror-rate"]
    with pytest.raises(AnalysisError, match=r"args\.canary-hash was not resolved"):
        merge_args(serving["args"], [])
    broken = copy.deepcopy(serving["metrics"][0])
    broken["successCondition"] = "result[0] <= {{args.max-error-rat}}"
    with pytest.raises(AnalysisError, match=r"failed to resolve \{\{args.max-error-rat\}\}"):
        resolve_metric(broken, merge_args(serving["args"], [{"name": "canary-hash", "value": "h"}]))


def test_every_metric_is_prometheus_judged_with_bounded_retries(templates):
    for template in templates.values():
        for metric in template["spec"]["metrics"]:
            assert set(metric["provider"]) == {"prometheus"}, metric["name"]
            assert metric["provider"]["prometheus"]["address"] == "{{args.prometheus-address}}"
            assert metric["successCondition"], metric["name"]
            assert int(metric.get("failureLimit", 0)) <= 1, "a bad canary must abort within two measurements"


def test_the_shadow_version_reaches_the_pods_from_previous_model_env(prod, repo_root):
    text = (repo_root / overlay_path("prod") / PREVIOUS_MODEL_FILE).read_text()
    assert re.fullmatch(r"SHADOW_MODEL_VERSION=\d*\n", text), "one line: the previous pinned version or empty"
    [configmap] = [o for o in prod if o["metadata"]["name"].startswith(f"{SHADOW_CONFIGMAP}-")]
    assert configmap["data"] == {"SHADOW_MODEL_VERSION": ""}
    container = _one(prod, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    sources = [ref["configMapRef"]["name"] for ref in container["envFrom"]]
    assert configmap["metadata"]["name"] in sources


def test_dev_and_qa_run_no_rollout_and_no_shadow(rendered_objects, repo_root):
    for env in ("dev", "qa"):
        kinds = {o["kind"] for o in rendered_objects[env]}
        assert not kinds & {"Rollout", "AnalysisTemplate"}, env
        assert not (repo_root / overlay_path(env) / PREVIOUS_MODEL_FILE).exists(), env


def test_a_model_bump_with_its_previous_pin_changes_only_the_pin_configmaps_and_the_template(
    repo_root: Path, tmp_path: Path
):
    """The Rollout itself does not change: the controller sees the Deployment's new template through
    workloadRef, so the canary starts from the same object Argo CD last applied."""
    shutil.copytree(repo_root / "gitops", tmp_path / "gitops")
    before = render_overlay(tmp_path, "prod")
    (tmp_path / model_pin_path("prod")).write_text(ModelPin("ames-price", "8").render())
    (tmp_path / overlay_path("prod") / PREVIOUS_MODEL_FILE).write_text("SHADOW_MODEL_VERSION=7\n")
    diff = manifest_diff(before, render_overlay(tmp_path, "prod"))
    # "===== <group>/<kind> <namespace>/<name> ======"; generated ConfigMap names without their hash.
    changed = set()
    for line in diff.splitlines():
        if line.startswith("====="):
            kind, name = line.split()[1], line.split()[2].split("/")[1]
            changed.add(f"{kind} {name.rsplit('-', 1)[0] if kind == '/ConfigMap' else name}")
    assert changed == {
        "/ConfigMap estimation-engine-model",
        f"/ConfigMap {SHADOW_CONFIGMAP}",
        "apps/Deployment estimation-engine",
        "batch/Job estimation-engine-smoke-test",
    }


def _seconds(duration: str | int) -> int:
    match = re.fullmatch(r"(\d+)([smh]?)", str(duration))
    assert match, duration
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def test_deploy_prod_waits_longer_than_the_canary_takes(prod, templates, repo_root):
    """deploy-prod reads the verdict within timeoutSeconds: a canary that takes longer would end every
    prod deployment as a timeout. Course: each analysis step's longest metric (its first measurement after
    initialDelay, then count - 1 intervals) plus, per step, a canary pod's start (startup probe budget and
    minReadySeconds), and the PostSync smoke test's wait."""
    rollout = _one(prod, "Rollout")["spec"]
    pod = _one(prod, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    start = pod["startupProbe"]["periodSeconds"] * pod["startupProbe"]["failureThreshold"]
    course = 0
    for analysis in _analysis_steps(_one(prod, "Rollout")):
        durations = []
        for template in analysis["templates"]:
            spec = templates[template["templateName"]]["spec"]
            args = merge_args(spec["args"], [{"name": "canary-hash", "value": "h"}])
            for metric in spec["metrics"]:
                resolved = resolve_metric(metric, args)
                gaps = (int(resolved.get("count", 1)) - 1) * _seconds(resolved.get("interval", "0"))
                durations.append(_seconds(resolved.get("initialDelay", "0")) + gaps)
        step = max(durations) + start + rollout["minReadySeconds"]
        # The progress deadline runs on while a step's analysis does (utils/conditions RolloutTimedOut: only
        # a pause or an abort stops it), and with progressDeadlineAbort it would abort a sound canary.
        assert step < rollout["progressDeadlineSeconds"], "an analysis step outlasts the progress deadline"
        course += step
    smoke = _one(prod, "Job", "estimation-engine-smoke-test")["spec"]["template"]["spec"]["containers"][0]
    course += int(smoke["args"][smoke["args"].index("--wait") + 1])
    pipeline = yaml.safe_load((repo_root / ".pipelines/deploy-prod.yml").read_text())
    [timeout] = [p["default"] for p in pipeline["parameters"] if p["name"] == "timeoutSeconds"]
    assert course * 1.5 <= timeout, f"the canary takes up to {course}s; deploy-prod waits {timeout}s"
