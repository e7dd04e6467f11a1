"""The Argo CD objects of ``gitops/argocd/``, made specific to one stack before the program applies them.

The files carry placeholders (the repository URL, the ``main`` revision) and list every AKS-served
environment's overlay in the ApplicationSet's git files generator. A cluster's Argo CD must sync only its own
environment from the stack's own repository and revision, so this module replaces exactly those fields and
leaves the rest (the selector that skips un-deployable pins, the template) as the gitops author wrote it. It
is pure (dicts in, dicts out) so the tests can read the result.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from infra.settings import PLACEHOLDER_REPOSITORY_URL
from infra.stack_config import REPOSITORY_ROOT
from model_contract.pins import kustomization_path

ARGOCD_DIR = PurePosixPath("gitops/argocd")
APP_PROJECT_FILE = "appproject.yaml"
APPLICATION_SET_FILE = "applicationset.yaml"
ARGOCD_NAMESPACE = "argocd"
PROJECT_NAME = "estimation-engine"


class ArgoCdManifestError(ValueError):
    """A file in gitops/argocd/ is missing or not the object the program expects; names file and field."""


@dataclass(frozen=True)
class StackSource:
    """Where this stack's Argo CD pulls from and which environment it serves."""

    repository_url: str
    revision: str
    environment: str


@dataclass(frozen=True)
class EngineConnection:
    """What only ``pulumi up`` knows about the engine's environment: its identity and its registry."""

    client_id: str
    mlflow_tracking_uri: str


ENGINE_NAME = "estimation-engine"
ENGINE_CONTAINER = "engine"


def load_argocd_objects(source: StackSource, root: Path = REPOSITORY_ROOT) -> list[dict[str, Any]]:
    """The AppProject and the ApplicationSet, patched for ``source``, in the order they must be applied."""
    project = _load(root / ARGOCD_DIR / APP_PROJECT_FILE, "AppProject")
    application_set = _load(root / ARGOCD_DIR / APPLICATION_SET_FILE, "ApplicationSet")
    return [
        patch_app_project(project, source, str(root / ARGOCD_DIR / APP_PROJECT_FILE)),
        patch_application_set(application_set, source, str(root / ARGOCD_DIR / APPLICATION_SET_FILE)),
    ]


def _load(path: Path, kind: str) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArgoCdManifestError(f"{path}: missing (the {kind} the AKS stack applies)") from None
    except yaml.YAMLError as error:
        raise ArgoCdManifestError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(document, dict) or document.get("kind") != kind:
        raise ArgoCdManifestError(f"{path}: expected one {kind} object")
    if not str(document.get("apiVersion", "")).startswith("argoproj.io/"):
        raise ArgoCdManifestError(f"{path}: apiVersion must be argoproj.io/<version>")
    if not isinstance(document.get("metadata"), dict) or not document["metadata"].get("name"):
        raise ArgoCdManifestError(f"{path}: metadata.name is missing")
    if not isinstance(document.get("spec"), dict):
        raise ArgoCdManifestError(f"{path}: spec is missing")
    return document


def _with_namespace(document: dict[str, Any]) -> dict[str, Any]:
    patched = copy.deepcopy(document)
    patched["metadata"].setdefault("namespace", ARGOCD_NAMESPACE)
    return patched


def patch_app_project(document: dict[str, Any], source: StackSource, origin: str) -> dict[str, Any]:
    """Allow the stack's repository in ``spec.sourceRepos`` instead of the placeholder."""
    patched = _with_namespace(document)
    repos = patched["spec"].get("sourceRepos")
    if not isinstance(repos, list):
        raise ArgoCdManifestError(f"{origin}: spec.sourceRepos must be a list of repository URLs")
    kept = [repo for repo in repos if repo not in (PLACEHOLDER_REPOSITORY_URL, source.repository_url)]
    patched["spec"]["sourceRepos"] = [source.repository_url, *kept]
    return patched


def patch_application_set(document: dict[str, Any], source: StackSource, origin: str) -> dict[str, Any]:
    """Point the template at the stack's repository and revision; generate only the stack's environment."""
    patched = _with_namespace(document)
    spec = patched["spec"]
    template_spec = spec.get("template", {}).get("spec")
    if not isinstance(template_spec, dict):
        raise ArgoCdManifestError(f"{origin}: spec.template.spec is missing")
    sources = [template_spec["source"]] if "source" in template_spec else template_spec.get("sources", [])
    if not sources:
        raise ArgoCdManifestError(f"{origin}: spec.template.spec has no source")
    # Multi-source templates may pull charts from elsewhere: only the placeholder entries are this repo's.
    ours = [item for item in sources if item.get("repoURL") == PLACEHOLDER_REPOSITORY_URL]
    if not ours and "source" in template_spec:
        ours = sources
    if not ours:
        raise ArgoCdManifestError(f"{origin}: no source of spec.template.spec uses the placeholder repoURL")
    for item in ours:
        item["repoURL"] = source.repository_url
        item["targetRevision"] = source.revision
    generators = [g for g in spec.get("generators", []) if isinstance(g, dict) and "git" in g]
    if not generators:
        raise ArgoCdManifestError(
            f"{origin}: spec.generators needs a git files generator over the overlays' kustomization.yaml"
        )
    for generator in generators:
        if not isinstance(generator.get("selector"), dict):
            raise ArgoCdManifestError(
                f"{origin}: the git generator needs its selector (it skips placeholder image pins)"
            )
        git = generator["git"]
        git["repoURL"] = source.repository_url
        git["revision"] = source.revision
        git["files"] = [{"path": str(kustomization_path(source.environment))}]
    return patched


def with_engine_wiring(document: dict[str, Any], wiring: EngineConnection) -> dict[str, Any]:
    """The ApplicationSet with Kustomize patches that give the engine this stack's identity and registry.

    The overlay in git cannot know the workspace's generated name or the identity's client id until the
    stack exists; Argo CD applies these patches on top of the overlay when it renders, so the pod runs
    as the federated identity and reads the stack's registry with no value copied by hand.
    """
    patched = copy.deepcopy(document)
    source = patched["spec"]["template"]["spec"]["source"]
    patches = source.setdefault("kustomize", {}).setdefault("patches", [])
    annotation = "/metadata/annotations/azure.workload.identity~1client-id"
    patches.append({
        "target": {"kind": "ServiceAccount", "name": ENGINE_NAME},
        "patch": json.dumps([{"op": "add", "path": annotation, "value": wiring.client_id}]),
    })  # fmt: skip
    registry = {"name": "MLFLOW_TRACKING_URI", "value": wiring.mlflow_tracking_uri}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": ENGINE_NAME},
        "spec": {"template": {"spec": {"containers": [{"name": ENGINE_CONTAINER, "env": [registry]}]}}},
    }
    patches.append(
        {"target": {"kind": "Deployment", "name": ENGINE_NAME}, "patch": yaml.safe_dump(deployment)}
    )
    return patched
