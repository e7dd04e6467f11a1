"""The gitops/argocd objects are applied with the stack's repository, revision and environment."""

from __future__ import annotations

import copy

import pytest
import yaml

from infra.argocd_manifests import (
    PLACEHOLDER_REPOSITORY_URL,
    ArgoCdManifestError,
    StackSource,
    load_argocd_objects,
    patch_app_project,
    patch_application_set,
)
from infra.stack_config import REPOSITORY_ROOT

SOURCE = StackSource("https://dev.azure.com/org/project/_git/repo", "release/2025-01", "prod")


def test_real_files_get_the_stack_repository_revision_and_only_its_environment():
    project, application_set = load_argocd_objects(SOURCE)
    assert project["kind"] == "AppProject"
    assert project["spec"]["sourceRepos"][0] == SOURCE.repository_url
    assert PLACEHOLDER_REPOSITORY_URL not in project["spec"]["sourceRepos"]
    template = application_set["spec"]["template"]["spec"]
    assert template["source"]["repoURL"] == SOURCE.repository_url
    assert template["source"]["targetRevision"] == "release/2025-01"
    [generator] = application_set["spec"]["generators"]
    assert generator["git"] == {
        "repoURL": SOURCE.repository_url,
        "revision": "release/2025-01",
        "files": [{"path": "gitops/apps/estimation-engine/overlays/prod/kustomization.yaml"}],
    }
    assert generator["selector"]["matchExpressions"]  # the placeholder guard travels with it
    assert {project["metadata"]["namespace"], application_set["metadata"]["namespace"]} == {"argocd"}


def test_files_are_not_modified_on_disk():
    before = (REPOSITORY_ROOT / "gitops/argocd/applicationset.yaml").read_text()
    load_argocd_objects(SOURCE)
    assert (REPOSITORY_ROOT / "gitops/argocd/applicationset.yaml").read_text() == before


def test_another_environment_reads_its_own_overlay():
    document = yaml.safe_load((REPOSITORY_ROOT / "gitops/argocd/applicationset.yaml").read_text())
    patched = patch_application_set(document, StackSource(SOURCE.repository_url, "main", "qa"), "x")
    assert patched["spec"]["generators"][0]["git"]["files"] == [
        {"path": "gitops/apps/estimation-engine/overlays/qa/kustomization.yaml"}
    ]


def test_a_generator_without_its_selector_is_refused():
    document = yaml.safe_load((REPOSITORY_ROOT / "gitops/argocd/applicationset.yaml").read_text())
    del document["spec"]["generators"][0]["selector"]
    with pytest.raises(ArgoCdManifestError, match=r"x.yaml: the git generator needs its selector"):
        patch_application_set(copy.deepcopy(document), SOURCE, "x.yaml")


def test_other_sources_of_a_multi_source_template_are_left_alone():
    chart = {"repoURL": "https://charts.example.com", "chart": "x", "targetRevision": "1.2.3"}
    document = {
        "metadata": {"name": "x"},
        "spec": {
            "generators": [{"git": {"files": []}, "selector": {"matchLabels": {}}}],
            "template": {"spec": {"sources": [dict(chart), {"repoURL": PLACEHOLDER_REPOSITORY_URL}]}},
        },
    }
    sources = patch_application_set(document, SOURCE, "x")["spec"]["template"]["spec"]["sources"]
    assert sources == [chart, {"repoURL": SOURCE.repository_url, "targetRevision": "release/2025-01"}]


def test_broken_objects_are_refused_with_the_file_and_field():
    with pytest.raises(ArgoCdManifestError, match=r"f.yaml: spec.sourceRepos"):
        patch_app_project({"metadata": {"name": "x"}, "spec": {}}, SOURCE, "f.yaml")
    with pytest.raises(ArgoCdManifestError, match=r"g.yaml: spec.generators needs a git files generator"):
        patch_application_set(
            {"metadata": {"name": "x"}, "spec": {"template": {"spec": {"source": {}}}}}, SOURCE, "g.yaml"
        )


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ArgoCdManifestError, match=r"gitops/argocd/appproject.yaml: missing"):
        load_argocd_objects(SOURCE, tmp_path)
