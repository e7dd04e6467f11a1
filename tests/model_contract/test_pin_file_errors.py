"""Pin files refused or described precisely: the file, the line, the key, and what is allowed."""

import pytest

from model_contract.pins import (
    ENVIRONMENTS,
    ModelPin,
    PinError,
    kustomization_path,
    model_pin_path,
    overlay_path,
    parse_image_pin,
    parse_model_pin,
)


def test_a_pin_describes_its_version_or_that_there_is_none_yet():
    assert ModelPin("ames-price", 7).describe() == "ames-price v7"
    assert ModelPin("ames-price", None).describe() == "ames-price (no version pinned yet)"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_environment_has_its_pin_files_in_its_own_overlay(env):
    folder = f"gitops/apps/estimation-engine/overlays/{env}"
    assert str(overlay_path(env)) == folder
    assert str(model_pin_path(env)) == f"{folder}/model.env"
    assert str(kustomization_path(env)) == f"{folder}/kustomization.yaml"


def test_an_unknown_environment_is_refused_naming_the_allowed_ones():
    with pytest.raises(PinError, match=r"^unknown environment 'staging': expected one of dev, qa, prod$"):
        kustomization_path("staging")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# header\n\nMODEL_NAME=ames-price\nMODEL_VERSION=1\nIMAGE=x\n", "f:5: unknown key 'IMAGE'"),
        ("MODEL_NAME=ames-price\nMODEL_NAME=other\n", "f:2: MODEL_NAME is set twice"),
        ("MODEL_NAME ames-price\n", "f:1: expected KEY=VALUE, got 'MODEL_NAME ames-price'"),
        # The value runs to the end of the line: a second '=' belongs to it, it does not split the key.
        ("MODEL_NAME=a=b\nMODEL_VERSION=1\n", "f: MODEL_NAME 'a=b' is not a valid model name"),
    ],
)
def test_errors_name_the_file_and_the_line(text, message):
    with pytest.raises(PinError) as raised:
        parse_model_pin(text, "f")
    assert str(raised.value).startswith(message)


def test_version_one_is_the_first_valid_version_and_aliases_are_refused_as_such():
    assert parse_model_pin("MODEL_NAME=ames-price\nMODEL_VERSION=1\n", "f").version == 1
    with pytest.raises(PinError, match=r"pins name immutable versions, never aliases$"):
        parse_model_pin("MODEL_NAME=ames-price\nMODEL_VERSION=champion\n", "f")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("images: [unclosed\n", "k.yaml: not valid YAML"),
        ("- name: estimation-engine\n", "k.yaml: no 'images:' list (the engine image is pinned there)"),
        ("resources: [../../base]\n", "k.yaml: no 'images:' list"),
        ("images:\n  - name: other\n    newTag: '1'\n", "k.yaml: 'images:' has no entry named 'estimation-engine'"),
        ("images:\n  - name: estimation-engine\n    newName: cr.io/e\n", "k.yaml: images[estimation-engine] needs newTag or digest"),
        ("images:\n  - name: estimation-engine\n    digest: sha256:abc\n", "k.yaml: images[estimation-engine].digest 'sha256:abc'"),
    ],
)  # fmt: skip
def test_image_pin_errors_name_the_file_and_the_entry(text, message):
    with pytest.raises(PinError) as raised:
        parse_image_pin(text, "k.yaml")
    assert str(raised.value).startswith(message)
