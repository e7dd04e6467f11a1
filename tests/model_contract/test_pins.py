"""The pin file format: what every reader of gitops/ accepts and refuses."""

import pytest

from model_contract.pins import (
    ImagePin,
    ModelPin,
    PinError,
    parse_image_pin,
    parse_model_pin,
    replace_image_pin,
)


def test_model_pin_round_trips_and_a_bump_changes_one_line():
    pin = parse_model_pin("MODEL_NAME=ames-price\nMODEL_VERSION=7\n", "model.env")
    assert pin == ModelPin("ames-price", 7)
    bumped = ModelPin("ames-price", 8).render().splitlines()
    assert [a for a, b in zip(pin.render().splitlines(), bumped, strict=True) if a != b] == [
        "MODEL_VERSION=7"
    ]


def test_empty_version_means_no_model_yet():
    assert parse_model_pin("# fresh\nMODEL_NAME=ames-price\nMODEL_VERSION=\n", "f").version is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("MODEL_NAME=ames-price\n", "missing key MODEL_VERSION"),
        ("MODEL_NAME=ames-price\nMODEL_VERSION=latest\n", "MODEL_VERSION 'latest'"),
        ("MODEL_NAME=ames-price\nMODEL_VERSION=0\n", "MODEL_VERSION '0'"),
        ("MODEL_NAME=ames-price\nMODEL_VERSION=1\nIMAGE=x\n", "unknown key 'IMAGE'"),
        ("MODEL_NAME=a\nMODEL_NAME=b\nMODEL_VERSION=1\n", "MODEL_NAME is set twice"),
        ("MODEL_NAME ames\n", "expected KEY=VALUE"),
        ("MODEL_NAME=bad name\nMODEL_VERSION=1\n", "not a valid model name"),
    ],
)
def test_malformed_pins_are_refused_naming_file_and_key(text, message):
    with pytest.raises(PinError, match=message) as raised:
        parse_model_pin(text, "overlays/dev/model.env")
    assert "overlays/dev/model.env" in str(raised.value)


KUSTOMIZATION = """\
resources:
  - ../../base
images:
  # the engine image, bumped by the build pipeline
  - name: estimation-engine
    newName: crdev.azurecr.io/estimation-engine
    newTag: "0.1.0"
  - name: other
    newTag: "1"
"""


def test_image_pin_is_read_and_replaced_in_place_keeping_comments():
    pin = parse_image_pin(KUSTOMIZATION, "k.yaml")
    assert pin.reference == "crdev.azurecr.io/estimation-engine:0.1.0"
    digest = "sha256:" + "a" * 64
    updated = replace_image_pin(
        KUSTOMIZATION, ImagePin("estimation-engine", "crqa.azurecr.io/e", digest=digest), "k"
    )
    assert "# the engine image" in updated
    assert parse_image_pin(updated, "k").reference == f"crqa.azurecr.io/e@{digest}"
    assert parse_image_pin(updated, "k", "other").new_tag == "1"


def test_image_pin_with_a_bad_digest_is_refused():
    text = KUSTOMIZATION.replace('newTag: "0.1.0"', "digest: sha256:abc")
    with pytest.raises(PinError, match=r"digest 'sha256:abc'"):
        parse_image_pin(text, "k.yaml")


def test_a_comment_inside_the_image_entry_does_not_keep_the_old_pin():
    text = KUSTOMIZATION.replace(
        '    newTag: "0.1.0"\n', '    # the build pipeline writes this\n    newTag: "0.1.0"\n'
    )
    digest = "sha256:" + "b" * 64
    updated = replace_image_pin(
        text, ImagePin("estimation-engine", "crdev.azurecr.io/estimation-engine", digest=digest), "k"
    )
    assert parse_image_pin(updated, "k") == ImagePin(
        "estimation-engine", "crdev.azurecr.io/estimation-engine", digest=digest
    )
    assert "# the build pipeline writes this" in updated and 'newTag: "0.1.0"' not in updated
    assert parse_image_pin(updated, "k", "other").new_tag == "1"
