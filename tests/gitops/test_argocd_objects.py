"""gitops/argocd/ against Argo CD's own CRD schemas (v3.4.4, the installed release), plus a strict check for unknown keys.

The CRD schemas leave additionalProperties unset almost everywhere, so a plain JSON-schema validation
lets a misspelled key through: ``selfHeel: true`` would validate, and Argo CD would silently ignore it.
The strict walk below rejects any key the schema does not declare, wherever the schema does not
explicitly allow unknown fields.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from model_contract.pins import ENVIRONMENTS, overlay_path

SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "schemas" / "argocd"
CRD_FILES = {
    "Application": "application-crd.yaml",
    "ApplicationSet": "applicationset-crd.yaml",
    "AppProject": "appproject-crd.yaml",
}
PLACEHOLDER_REPO = "https://github.com/your-org/property-price-platform.git"
IN_CLUSTER = "https://kubernetes.default.svc"
GO_TEMPLATE_VARIABLE = re.compile(r"\{\{\s*\.([\w.]+)\s*\}\}")


@cache
def crd_schema(kind: str) -> dict[str, Any]:
    # The ApplicationSet CRD is 1.4 MB of YAML: the C loader reads it in a fraction of the pure-Python time.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load((SCHEMAS / CRD_FILES[kind]).read_text(), Loader=loader)
    assert crd["spec"]["names"]["kind"] == kind
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


@cache
def object_meta_fields() -> frozenset[str]:
    """ObjectMeta's fields, from the Kubernetes schemas kubernetes-validate ships (the CRDs leave it opaque)."""
    folder = resources.files("kubernetes_validate") / "kubernetes-json-schema" / "v1.33.0-local-strict"
    definitions = json.loads((folder / "_definitions.json").read_text())["$defs"]
    return frozenset(definitions["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"])


def unknown_keys(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    """Paths of keys in ``value`` that ``schema`` does not declare and does not explicitly allow."""
    if isinstance(value, list):
        item_schema = schema.get("items", {})
        return [
            problem
            for i, item in enumerate(value)
            for problem in unknown_keys(item, item_schema, f"{path}[{i}]")
        ]
    if not isinstance(value, dict):
        return []
    declared = schema.get("properties")
    extra = schema.get("additionalProperties")
    open_ended = schema.get("x-kubernetes-preserve-unknown-fields") or extra is not None or declared is None
    problems = []
    for key, child in value.items():
        if declared and key in declared:
            problems += unknown_keys(child, declared[key], f"{path}.{key}")
        elif isinstance(extra, dict):
            problems += unknown_keys(child, extra, f"{path}.{key}")
        elif not open_ended:
            problems.append(f"{path}.{key}")
    return problems


def schema_problems(manifest: dict[str, Any]) -> list[str]:
    """Everything wrong with an Argo CD object: JSON-schema errors, then keys the schema does not know."""
    schema = crd_schema(manifest["kind"])
    validator = jsonschema.Draft7Validator(schema)
    problems = [
        f"{'.'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(manifest)
    ]
    problems += [f"metadata.{key}" for key in manifest["metadata"] if key not in object_meta_fields()]
    problems += unknown_keys(manifest, schema, "")
    return problems


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
    allowed = {(entry["group"], entry["kind"]) for entry in app_project["spec"]["namespaceResourceWhitelist"]}
    for env, objects in rendered_objects.items():
        rendered = {(o["apiVersion"].rpartition("/")[0], o["kind"]) for o in objects}
        assert rendered == allowed, env


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
