"""The image half of a promotion against a recording stand-in for the Azure CLI on PATH.

The stand-in answers as ``az acr`` does (azure-cli command_modules/acr): ``repository show`` exits non-zero
for a digest the registry lacks, ``import`` copies it. It records every call, so the tests check the exact
arguments a real ``az`` would get.
"""

import json
import os
import stat

import pytest

from delivery.container_images import (
    AzureContainerRegistries,
    ImageImportError,
    ImageReference,
    acr_name,
    transfer_image,
)
from model_contract.pins import NO_IMAGE_DIGEST, ImagePin

DIGEST = "sha256:" + "cd" * 32
DEV = ImagePin("estimation-engine", "crpriceenginedev.azurecr.io/estimation-engine", digest=DIGEST)
QA = ImagePin("estimation-engine", "crpriceengineqa.azurecr.io/estimation-engine", digest=NO_IMAGE_DIGEST)

STAND_IN = r"""#!/usr/bin/env python3
import json, os, sys
state = os.environ["AZ_STATE"]
with open(state) as f:
    data = json.load(f)
data["calls"].append(sys.argv[1:])
args = sys.argv[1:]
def value(flag):
    return args[args.index(flag) + 1]
code = 0
if args[:3] == ["acr", "repository", "show"]:
    wanted = value("--name") + "/" + value("--image")
    if wanted not in data["images"]:
        print("ERROR: (ManifestUnknown) manifest tagged by " + value("--image") + " is not found", file=sys.stderr)
        code = 3
elif args[:2] == ["acr", "import"]:
    image = value("--source").split("/", 1)[-1]
    if "--registry" not in args and value("--source").split("/")[0].split(".")[0] + "/" + image not in data["images"]:
        print("ERROR: source image not found", file=sys.stderr)
        code = 1
    else:
        data["images"].append(value("--name") + "/" + image)
with open(state, "w") as f:
    json.dump(data, f)
sys.exit(code)
"""


@pytest.fixture
def az(tmp_path, monkeypatch):
    """An ``az`` on PATH that holds dev's image; returns a reader of its state."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "az"
    script.write_text(STAND_IN)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    state = tmp_path / "az.json"
    state.write_text(json.dumps({"calls": [], "images": [f"crpriceenginedev/estimation-engine@{DIGEST}"]}))
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AZ_STATE", str(state))
    return lambda: json.loads(state.read_text())


def test_a_digest_is_imported_into_the_target_registry_with_a_tag_that_keeps_it(az):
    transfer = transfer_image(AzureContainerRegistries(), DEV, QA, "dev")
    assert transfer.status == "imported"
    calls = az()["calls"]
    assert calls[1] == [
        "acr", "import", "--name", "crpriceengineqa",
        "--source", f"crpriceenginedev.azurecr.io/estimation-engine@{DIGEST}",
        "--image", f"estimation-engine:promoted-{'cd' * 6}", "--force",
    ]  # fmt: skip
    assert calls[0][:3] == calls[2][:3] == ["acr", "repository", "show"]  # absent before, present after


def test_an_image_already_in_the_target_is_not_imported_again(az):
    transfer_image(AzureContainerRegistries(), DEV, QA, "dev")
    again = transfer_image(AzureContainerRegistries(), DEV, QA, "dev")
    assert again.status == "present"
    assert [call[:2] for call in az()["calls"]].count(["acr", "import"]) == 1


def test_a_registry_in_another_subscription_is_named_by_its_resource_id(az):
    registry_id = (
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/crpriceenginedev"
    )
    transfer_image(AzureContainerRegistries({"dev": registry_id}), DEV, QA, "dev")
    imported = next(call for call in az()["calls"] if call[:2] == ["acr", "import"])
    assert imported[4:8] == ["--source", f"estimation-engine@{DIGEST}", "--registry", registry_id]


def test_a_failed_import_is_an_error_naming_both_registries(az, tmp_path):
    other = ImagePin(
        "estimation-engine", "crpriceenginedev.azurecr.io/estimation-engine", digest="sha256:" + "ee" * 32
    )
    with pytest.raises(
        ImageImportError,
        match=r"az acr import of crpriceenginedev\.azurecr\.io/.* into crpriceengineqa\.azurecr\.io failed",
    ):
        transfer_image(AzureContainerRegistries(), other, QA, "dev")


def test_no_image_yet_means_nothing_to_import_and_no_az_call(az):
    placeholder = ImagePin("estimation-engine", DEV.new_name, digest=NO_IMAGE_DIGEST)
    assert transfer_image(AzureContainerRegistries(), placeholder, QA, "dev").status == "no-image"
    assert az()["calls"] == []


def test_only_azure_container_registries_can_be_imported_into():
    assert acr_name("crpriceengineqa.azurecr.io") == "crpriceengineqa"
    with pytest.raises(ImageImportError, match=r"ghcr\.io is not an Azure Container Registry"):
        acr_name("ghcr.io")


def test_without_the_azure_cli_the_error_says_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ImageImportError, match=r"the Azure CLI \(az\) is not on PATH"):
        AzureContainerRegistries().contains(ImageReference.of(DEV))


def overlay_pinning(root, env: str, digest: str) -> None:
    path = root / "gitops" / "apps" / "estimation-engine" / "overlays" / env / "kustomization.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(
        "images:\n  - name: estimation-engine\n"
        f"    newName: crpriceengine{env}.azurecr.io/estimation-engine\n    digest: {digest}\n"
    )


def test_verify_image_finds_the_pinned_digest_in_the_environments_registry(az, tmp_path):
    from delivery.container_images import verify_pinned_image

    overlay_pinning(tmp_path, "dev", DIGEST)
    assert verify_pinned_image(tmp_path, AzureContainerRegistries(), "dev").endswith(
        "present in crpriceenginedev.azurecr.io"
    )
    assert az()["calls"] == [["acr", "repository", "show", "--name", "crpriceenginedev",
                              "--image", f"estimation-engine@{DIGEST}", "--output", "none"]]  # fmt: skip


def test_verify_image_refuses_a_digest_the_registry_lacks_and_passes_the_placeholder(az, tmp_path):
    from delivery.container_images import verify_pinned_image

    overlay_pinning(tmp_path, "qa", DIGEST)
    with pytest.raises(
        ImageImportError,
        match=f"qa pins crpriceengineqa.azurecr.io/estimation-engine@{DIGEST}, which is not in",
    ):
        verify_pinned_image(tmp_path, AzureContainerRegistries(), "qa")
    overlay_pinning(tmp_path / "fresh", "prod", NO_IMAGE_DIGEST)
    assert "nothing to deploy" in verify_pinned_image(tmp_path / "fresh", AzureContainerRegistries(), "prod")
