"""Nothing un-deployable reaches a cluster (issue 12 item 7).

Argo CD side: the ApplicationSet's git files generator reads the overlay's kustomization.yaml at the tracked
revision and its selector drops an environment whose engine image is the all-zero digest. The selector is
evaluated here the way the ApplicationSet controller does it (Argo CD v3.4.4,
applicationset/generators/git.go and generator_spec_processor.go: the file's YAML flattened with dotted
keys, then matched as a label selector). Merge side: an overlay with a real image and no model version is
refused by these tests (so by CI) and by `pulumi up`.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from infra.overlay import OverlayError, check_argocd_served, read_serving_pin
from infra.stack_config import REPOSITORY_ROOT
from model_contract.pins import ENVIRONMENTS, NO_IMAGE_DIGEST, kustomization_path
from tests.infra.conftest import FIXTURES, plan_with_fixtures

REAL_DIGEST = "sha256:" + "ab" * 32


def flatten(value, prefix: str = "") -> dict[str, str]:
    """jeremywohl/flatten DotStyle, as the controller applies it: nested keys and list indexes joined by dots."""
    items = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else None
    )
    if items is None:
        return {prefix: str(value)}
    flat: dict[str, str] = {}
    for key, child in items:
        flat.update(flatten(child, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def matches(selector: dict, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics for matchLabels and matchExpressions."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.get("matchExpressions") or []:
        key, operator, values = requirement["key"], requirement["operator"], requirement.get("values", [])
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def generated_environments(application_set: dict, root: Path) -> list[str]:
    """The environments the controller generates an Application for, reading files under ``root``."""
    [generator] = application_set["spec"]["generators"]
    generated = []
    for item in generator["git"]["files"]:
        document = yaml.safe_load((root / item["path"]).read_text())
        if matches(generator["selector"], flatten(document)):
            generated.append(Path(item["path"]).parent.name)
    return generated


def application_set() -> dict:
    return yaml.safe_load((REPOSITORY_ROOT / "gitops/argocd/applicationset.yaml").read_text())


def pin_digest(root: Path, env: str, digest: str) -> None:
    path = root / kustomization_path(env)
    document = yaml.safe_load(path.read_text())
    document["images"][0]["digest"] = digest
    path.write_text(yaml.safe_dump(document))


@pytest.fixture
def overlays(tmp_path) -> Path:
    (tmp_path / "gitops").mkdir()
    for env in ENVIRONMENTS:
        target = tmp_path / kustomization_path(env)
        target.parent.mkdir(parents=True)
        target.write_text((REPOSITORY_ROOT / kustomization_path(env)).read_text())
    return tmp_path


def test_a_placeholder_image_generates_no_application(overlays):
    pin_digest(overlays, "prod", NO_IMAGE_DIGEST)
    assert generated_environments(application_set(), overlays) == []


def test_a_real_image_generates_the_application(overlays):
    pin_digest(overlays, "prod", REAL_DIGEST)
    assert generated_environments(application_set(), overlays) == ["prod"]


def test_a_tag_pinned_overlay_generates_nothing(overlays):
    path = overlays / kustomization_path("prod")
    document = yaml.safe_load(path.read_text())
    document["images"][0].pop("digest")
    document["images"][0]["newTag"] = "latest"
    path.write_text(yaml.safe_dump(document))
    assert generated_environments(application_set(), overlays) == []


def test_without_the_selector_the_placeholder_would_be_deployed(overlays):
    """The guard is the selector: the same generator without it deploys the placeholder."""
    broken = copy.deepcopy(application_set())
    broken["spec"]["generators"][0]["selector"] = {}
    pin_digest(overlays, "prod", NO_IMAGE_DIGEST)
    assert generated_environments(broken, overlays) == ["prod"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_committed_overlay_pins_an_image_without_a_model(env):
    """The merge-time half: a real digest with an empty MODEL_VERSION cannot pass CI."""
    assert read_serving_pin(env).half_pinned_reason is None


def test_a_half_pinned_prod_overlay_is_refused_by_the_program(tmp_path):
    import shutil

    shutil.copytree(FIXTURES / "gitops", tmp_path / "gitops")
    (tmp_path / "gitops/apps/estimation-engine/overlays/prod/model.env").write_text(
        "MODEL_NAME=ames-price\nMODEL_VERSION=\n"
    )
    with pytest.raises(OverlayError, match=r"pins no MODEL_VERSION: pin both"):
        check_argocd_served(read_serving_pin("prod", tmp_path), tmp_path)
    assert plan_with_fixtures("prod")  # the fixture (both pinned) plans
