"""Rewriting one image entry of an overlay's kustomization.yaml in place: the rest of the file untouched."""

import pytest

from model_contract.pins import ImagePin, PinError, replace_image_pin

ENGINE = "estimation-engine"
DIGEST = "sha256:" + "c" * 64


def test_a_tag_pin_rewrites_the_entry_at_its_own_indentation_and_nothing_else():
    text = (
        "images:\n"
        "  - name: estimation-engine\n"
        "    newName: crdev.azurecr.io/estimation-engine\n"
        f"    digest: {DIGEST}\n"
        "configMapGenerator:\n"
        "  - name: estimation-engine-model\n"
    )
    pin = ImagePin(ENGINE, "crdev.azurecr.io/estimation-engine", new_tag="0.2.0")
    assert replace_image_pin(text, pin, "k") == (
        "images:\n"
        "  - name: estimation-engine\n"
        "    newName: crdev.azurecr.io/estimation-engine\n"
        '    newTag: "0.2.0"\n'
        "configMapGenerator:\n"
        "  - name: estimation-engine-model\n"
    )


def test_any_named_entry_can_be_rewritten_even_in_a_file_without_the_engine_image():
    text = "images:\n- name: sidecar\n  newTag: '1'\n"
    pin = ImagePin("sidecar", "cr.io/sidecar", digest=DIGEST)
    assert (
        replace_image_pin(text, pin, "k")
        == f"images:\n- name: sidecar\n  newName: cr.io/sidecar\n  digest: {DIGEST}\n"
    )


def test_every_comment_inside_the_entry_is_kept_after_its_keys():
    text = (
        "images:\n"
        "  - name: estimation-engine\n"
        "    # pinned by the build pipeline\n"
        "    newName: crdev.azurecr.io/estimation-engine\n"
        "    # tag until the first digest\n"
        '    newTag: "0.1.0"\n'
        "  - name: other\n"
        '    newTag: "1"\n'
    )
    updated = replace_image_pin(
        text, ImagePin(ENGINE, "crdev.azurecr.io/estimation-engine", digest=DIGEST), "k"
    )
    assert updated == (
        "images:\n"
        "  - name: estimation-engine\n"
        "    newName: crdev.azurecr.io/estimation-engine\n"
        f"    digest: {DIGEST}\n"
        "    # pinned by the build pipeline\n"
        "    # tag until the first digest\n"
        "  - name: other\n"
        '    newTag: "1"\n'
    )


KUSTOMIZATION = 'images:\n  - name: estimation-engine\n    newName: cr.io/e\n    newTag: "0.1.0"\n'


@pytest.mark.parametrize(
    ("text", "pin", "message"),
    [
        ("images: [unclosed\n", ImagePin(ENGINE, "cr.io/e", new_tag="1"), "overlays/qa/kustomization.yaml: not valid YAML"),
        (
            "images:\n  - {name: estimation-engine, newTag: '1'}\n",
            ImagePin(ENGINE, "cr.io/e", new_tag="2"),
            "overlays/qa/kustomization.yaml: write the image entry as '- name: estimation-engine' on its own line",
        ),
        # A tag with a double quote would end the quoted YAML string early: the result is not YAML.
        (KUSTOMIZATION, ImagePin(ENGINE, "cr.io/e", new_tag='1"2'), "overlays/qa/kustomization.yaml: not valid YAML"),
        # A name starting with '#' reads back as a comment: the edit would not pin what was asked.
        (
            KUSTOMIZATION,
            ImagePin(ENGINE, "#cr.io/e", new_tag="1"),
            "overlays/qa/kustomization.yaml: could not rewrite the 'estimation-engine' image entry safely",
        ),
    ],
)  # fmt: skip
def test_a_rewrite_that_cannot_be_done_safely_is_refused_naming_the_file(text, pin, message):
    with pytest.raises(PinError) as raised:
        replace_image_pin(text, pin, "overlays/qa/kustomization.yaml")
    assert str(raised.value).startswith(message)
