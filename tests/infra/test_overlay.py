"""ACI stacks read their pins from the overlay; bad or missing files fail naming the file and problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infra.overlay import OverlayError, read_engine_settings, read_serving_pin
from tests.infra.conftest import FIXTURES


@pytest.fixture
def gitops_copy(tmp_path) -> Path:
    shutil.copytree(FIXTURES / "gitops", tmp_path / "gitops")
    return tmp_path


def overlay(root: Path, env: str) -> Path:
    return root / "gitops/apps/estimation-engine/overlays" / env


def test_fixture_pins_are_deployable():
    pin = read_serving_pin("qa", FIXTURES)
    assert pin.model.version == 2
    assert pin.image.reference.startswith("crpriceengineqa.azurecr.io/estimation-engine@sha256:")
    assert pin.not_deployable_reason is None
    assert pin.registry_host == "crpriceengineqa.azurecr.io"


def test_a_missing_pin_file_names_the_path(gitops_copy):
    (overlay(gitops_copy, "dev") / "model.env").unlink()
    with pytest.raises(OverlayError, match=r"overlays/dev/model.env: missing"):
        read_serving_pin("dev", gitops_copy)


def test_a_malformed_pin_file_names_the_path_and_the_problem(gitops_copy):
    (overlay(gitops_copy, "dev") / "model.env").write_text("MODEL_NAME=ames-price\nMODEL_VERSION=latest\n")
    with pytest.raises(OverlayError, match=r"overlays/dev/model.env: MODEL_VERSION 'latest'"):
        read_serving_pin("dev", gitops_copy)


def test_a_kustomization_without_the_engine_image_is_refused(gitops_copy):
    (overlay(gitops_copy, "qa") / "kustomization.yaml").write_text("images: []\n")
    with pytest.raises(OverlayError, match=r"overlays/qa/kustomization.yaml: 'images:' has no entry"):
        read_serving_pin("qa", gitops_copy)


def test_no_model_and_no_image_yet_are_reported_as_not_deployable(gitops_copy):
    (overlay(gitops_copy, "qa") / "model.env").write_text("MODEL_NAME=ames-price\nMODEL_VERSION=\n")
    assert "pins no model version yet" in read_serving_pin("qa", gitops_copy).not_deployable_reason
    (overlay(gitops_copy, "qa") / "model.env").write_text("MODEL_NAME=ames-price\nMODEL_VERSION=4\n")
    kustomization = overlay(gitops_copy, "qa") / "kustomization.yaml"
    text = kustomization.read_text()
    digest = text.split("digest: ")[1].split()[0]
    kustomization.write_text(text.replace(digest, "sha256:" + "0" * 64))
    assert "all-zero digest" in read_serving_pin("qa", gitops_copy).not_deployable_reason


def test_engine_settings_are_optional_and_checked(gitops_copy):
    assert read_engine_settings("dev", gitops_copy)["ENGINE_LOG_LEVEL"] == "DEBUG"
    (overlay(gitops_copy, "dev") / "settings.env").unlink()
    assert read_engine_settings("dev", gitops_copy) == {}
    (overlay(gitops_copy, "qa") / "settings.env").write_text("engine log level\n")
    with pytest.raises(OverlayError, match=r"overlays/qa/settings.env:1"):
        read_engine_settings("qa", gitops_copy)


@pytest.mark.parametrize("stack", ["dev", "qa", "prod"])
def test_each_real_overlay_pulls_from_its_stacks_registry(stack):
    """The invariant promotion relies on (it names a registry by the overlay's host), for every stack,
    checked on the committed files: a stack file and its overlay that disagree cannot be merged."""
    from infra.plan import settings_for
    from infra.stack_config import load_stack_config
    from tests.infra.conftest import REQUIRED_BY_STACK

    settings = settings_for(load_stack_config(stack).with_values(REQUIRED_BY_STACK.get(stack, {})))
    assert read_serving_pin(stack).registry_host == f"{settings.container_registry_name}.azurecr.io"
