"""gitops/argocd/ against Argo CD's own CRD schemas (v3.4.4, the installed release), plus a strict check for
unknown keys (tests/gitops/crd_schemas.py): a misspelled ``selfHeel`` passes the schema, not the check."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from model_contract.pins import ENVIRONMENTS, overlay_path
from tests.gitops.crd_schemas import crd_schema, schema_problems

PLACEHOLDER_REPO = "https://github.com/your-org/property-price-platform.git"
IN_CLUSTER = "https://kubernetes.default.svc"
GO_TEMPLATE_VARIABLE = re.compile(r"\{\{\s*\.([\w.]+)\s*\}\}")


def load(repo_root: Path, name: str) -> dict[str, Any]:
    return yaml.safe_load((repo_root / "gitops" / "argocd" / name).read_text())


def git_file_params(env: str) -> dict[str, Any]:
    """The ``path`` parameters the git files generator gives the overlay's kustomization.yaml (Argo CD
    applicationset/generators/git.go, goTemplate mode)."""
    directory = str(overlay_path(env))
    return {"path": {"path": directory, "basename": env, "filename": "kustomization.yaml"}}


def lookup(params: dict[str, Any], dotted: str) -> str:
    value: Any = params
    for key in dotted.split("."):
        value = value[key]
    return str(value)


def generate_application(application_set: dict[str, Any], element: dict[str, Any]) -> dict[str, Any]:
    """What the ApplicationSet controller makes of one generator result (the Go templates used here are
    plain ``{{ .a.b }}`` substitutions; anything else would be left behind and fail the tests)."""

    def substitute(node: Any) -> Any:
        if isinstance(node, dict):
            return {substitute(k): substitute(v) for k, v in node.items()}
        if isinstance(node, list):
            return [substitute(v) for v in node]
        if isinstance(node, str):
            return GO_TEMPLATE_VARIABLE.sub(lambda match: lookup(element, match.group(1)), node)
        return node

    template = substitute(copy.deepcopy(application_set["spec"]["template"]))
    metadata = {"namespace": application_set["metadata"]["namespace"], **template["metadata"]}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": metadata,
        "spec": template["spec"],
    }


@pytest.fixture(scope="module")
def app_project(repo_root) -> dict[str, Any]:
    return load(repo_root, "appproject.yaml")


@pytest.fixture(scope="module")
def application_set(repo_root) -> dict[str, Any]:
    return load(repo_root, "applicationset.yaml")


@pytest.mark.parametrize("name", ["appproject.yaml", "applicationset.yaml"])
def test_argocd_objects_match_the_crd_schemas_strictly(name, repo_root):
    assert schema_problems(load(repo_root, name)) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_application_generated_for_each_environment_matches_its_crd_strictly(env, application_set):
    application = generate_application(application_set, git_file_params(env))
    assert "{{" not in json.dumps(application), "a template expression was left unrendered"
    assert schema_problems(application) == []
    assert application["metadata"]["name"] == f"estimation-engine-{env}"
    assert application["spec"]["source"]["path"] == str(overlay_path(env))


def test_a_misspelled_key_passes_the_crd_schema_but_not_the_strict_check(application_set):
    broken = copy.deepcopy(application_set)
    automated = broken["spec"]["template"]["spec"]["syncPolicy"]["automated"]
    automated["selfHeel"] = automated.pop("selfHeal")
    assert list(jsonschema.Draft7Validator(crd_schema("ApplicationSet")).iter_errors(broken)) == []
    assert schema_problems(broken) == [".spec.template.spec.syncPolicy.automated.selfHeel"]


def test_strict_check_covers_metadata_and_list_items(app_project):
    broken = copy.deepcopy(app_project)
    broken["metadata"]["label"] = {"a": "b"}
    broken["spec"]["destinations"][0]["namepsace"] = "x"
    assert schema_problems(broken) == ["metadata.label", ".spec.destinations[0].namepsace"]


def test_strict_check_reports_schema_type_errors(app_project):
    broken = copy.deepcopy(app_project)
    broken["spec"]["syncWindows"][0]["manualSync"] = "yes"
    assert schema_problems(broken) == ["spec.syncWindows.0.manualSync: 'yes' is not of type 'boolean'"]


def test_project_confines_applications_to_one_repository_and_namespace(app_project, application_set):
    spec = app_project["spec"]
    template = application_set["spec"]["template"]["spec"]
    assert spec["sourceRepos"] == [PLACEHOLDER_REPO] == [template["source"]["repoURL"]]
    assert template["source"]["targetRevision"] == "main"
    assert spec["destinations"] == [{"server": IN_CLUSTER, "namespace": "estimation-engine"}]
    assert template["destination"] == {"server": IN_CLUSTER, "namespace": "estimation-engine"}
    assert template["project"] == app_project["metadata"]["name"] == "estimation-engine"
    assert spec["clusterResourceWhitelist"] == [
        {"group": "", "kind": "Namespace", "name": "estimation-engine"}
    ]


def test_project_allows_exactly_the_kinds_the_overlays_render(app_project, rendered_objects):
    """Each overlay renders only allowed kinds, and every allowed kind is rendered by some overlay (prod's
    Rollout and AnalysisTemplates are prod's alone)."""
    allowed = {(entry["group"], entry["kind"]) for entry in app_project["spec"]["namespaceResourceWhitelist"]}
    rendered = {
        env: {(o["apiVersion"].rpartition("/")[0], o["kind"]) for o in objects}
        for env, objects in rendered_objects.items()
    }
    assert {env: kinds - allowed for env, kinds in rendered.items()} == {env: set() for env in rendered}
    assert set().union(*rendered.values()) == allowed


def test_applications_sync_automatically_prune_self_heal_and_retry_with_backoff(application_set):
    policy = application_set["spec"]["template"]["spec"]["syncPolicy"]
    assert policy["automated"] == {"enabled": True, "prune": True, "selfHeal": True}
    assert {"CreateNamespace=true", "ServerSideApply=true", "PruneLast=true"} <= set(policy["syncOptions"])
    assert policy["retry"]["limit"] > 0
    assert policy["retry"]["backoff"]["factor"] > 1
    assert policy["managedNamespaceMetadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_prod_has_a_deny_window_that_still_allows_manual_syncs(app_project, application_set):
    prod = generate_application(application_set, git_file_params("prod"))["metadata"]["name"]
    windows = app_project["spec"]["syncWindows"]
    assert [w["applications"] for w in windows] == [[prod]]
    assert windows[0]["kind"] == "deny" and windows[0]["manualSync"] is True


def test_refreshes_are_limited_to_the_overlay_and_the_base_it_builds_on(application_set):
    for env in ENVIRONMENTS:
        application = generate_application(application_set, git_file_params(env))
        paths = application["metadata"]["annotations"]["argocd.argoproj.io/manifest-generate-paths"].split(
            ";"
        )
        assert paths == [f"/{overlay_path(env)}", "/gitops/apps/estimation-engine/base"]


def test_generator_reads_overlay_kustomizations_and_skips_placeholder_images(application_set):
    [generator] = application_set["spec"]["generators"]
    paths = [item["path"] for item in generator["git"]["files"]]
    assert paths and all(
        path in {f"{overlay_path(env)}/kustomization.yaml" for env in ENVIRONMENTS} for path in paths
    )
    assert generator["git"]["repoURL"] == PLACEHOLDER_REPO
    expressions = {
        (e["key"], e["operator"]): e.get("values") for e in generator["selector"]["matchExpressions"]
    }
    assert expressions[("images.0.digest", "NotIn")] == ["sha256:" + "0" * 64]
    assert ("images.0.digest", "Exists") in expressions
    assert application_set["spec"]["goTemplate"] is True
    assert "missingkey=error" in application_set["spec"]["goTemplateOptions"]
