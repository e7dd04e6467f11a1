"""Promotion, rollback and image pins on a real bare remote and a real SQLite registry per environment."""

from pathlib import Path

import pytest

from delivery.container_images import ImageImportError
from delivery.image_pin import pin_image
from delivery.model_copy import TAG_SOURCE_ENV, TAG_SOURCE_VERSION
from delivery.pin_requests import PromotionError
from delivery.promote import promote
from delivery.rollback import rollback
from model_contract.config_error import ConfigError
from model_contract.environment_registries import EnvironmentRegistries
from model_contract.pins import ModelPin, PinError, kustomization_path, model_pin_path, parse_image_pin
from model_contract.registry import ChecksumMismatchError, ModelRegistry, RegistryError
from model_contract.registry_retries import RetryBudget

DIGEST = "sha256:" + "ab" * 32
DEV_IMAGE = f"crpriceenginedev.azurecr.io/estimation-engine@{DIGEST}"


def merged(workspace, result):
    change = getattr(result, "change", result)
    workspace.prs.merge(change.pull_request.number)
    return change.pull_request


def image_of(workspace, env):
    with workspace.remote.checkout() as checkout:
        path = str(kustomization_path(env))
        return parse_image_pin(checkout.read(path), path)


def versions_in(workspace, env):
    return workspace.registries.registry(env).versions("ames-price")


def test_promote_copies_the_model_into_the_target_registry_and_pins_the_targets_own_version(workspace):
    workspace.register_version()  # dev v1, never promoted: dev and qa number their versions apart
    version = workspace.register_version({"rmse_log": 0.118, "mape": 0.08, "interval_coverage": 0.9})
    workspace.push_pin("dev", ModelPin("ames-price", version))
    source = workspace.registry.get("ames-price", version)

    promotion = promote(workspace.services(), "qa", source="dev")

    [copy] = versions_in(workspace, "qa")
    assert (copy.version, copy.sha256) == (1, source.sha256)
    assert copy.tags[TAG_SOURCE_ENV] == "dev" and copy.tags[TAG_SOURCE_VERSION] == str(version)
    assert copy.training_run_id == source.run_id and copy.metrics == source.metrics
    pr = promotion.change.pull_request
    assert (promotion.change.status, pr.head) == ("opened", "mlops/qa/promote-from-dev")
    assert pr.title == f"Promote ames-price v{version} from dev to qa (as qa v1)"
    # Both sides: the source's env, version and registry, the target's version, the same sha256, metrics.
    assert (
        f"| model | ames-price v{version} | ames-price (no version pinned yet) | ames-price v1 (copied from dev v{version}) |"
        in pr.body
    )
    assert f"| artifact sha256 | `{source.sha256}` | | `{source.sha256}` |" in pr.body
    assert "registries/dev/mlflow.db" in pr.body and "rmse_log 0.118" in pr.body
    assert workspace.pin("qa").version is None  # nothing deploys before the merge
    merged(workspace, promotion)
    assert workspace.pin("qa") == ModelPin("ames-price", 1)


def test_a_second_promotion_reuses_the_copy_and_registers_nothing(workspace):
    version = workspace.register_version()
    workspace.push_pin("dev", ModelPin("ames-price", version))
    first = promote(workspace.services(), "qa", source="dev")
    assert not first.copy.reused
    again = promote(workspace.services(), "qa", source="dev")  # the PR is open, not merged: same copy
    assert again.copy.reused and again.copy.target.version == first.copy.target.version
    assert again.change.status == "updated" and len(versions_in(workspace, "qa")) == 1
    merged(workspace, again)
    with pytest.raises(PromotionError, match="qa already runs ames-price v1"):
        promote(workspace.services(), "qa", source="dev")
    assert len(versions_in(workspace, "qa")) == 1


def test_a_copy_whose_bytes_differ_from_the_registered_sha256_is_refused_and_nothing_is_pinned(workspace):
    version = workspace.register_version()
    workspace.push_pin("dev", ModelPin("ames-price", version))
    record = workspace.registry.get("ames-price", version)
    stored = Path(record.source.removeprefix("file://")) / "model.pkl"
    stored.write_bytes(b"tampered after registration")
    with pytest.raises(ChecksumMismatchError, match="checksum mismatch"):
        promote(workspace.services(), "qa", source="dev")
    assert versions_in(workspace, "qa") == [] and workspace.prs.list_all() == []
    assert workspace.pin("qa").version is None


def test_a_missing_source_version_is_refused_naming_the_environment_and_its_registry(workspace):
    workspace.push_pin("dev", ModelPin("ames-price", 41))
    with pytest.raises(
        PromotionError, match=r"ames-price v41 is not in dev's registry at sqlite:///.*registries/dev"
    ):
        promote(workspace.services(), "qa", source="dev")
    with pytest.raises(PromotionError, match="ames-price v7 is not in qa's registry"):
        promote(workspace.services(), "qa", model_version=7)
    assert workspace.prs.list_all() == [] and versions_in(workspace, "qa") == []


def test_an_unreachable_target_registry_leaves_no_version_and_no_pull_request(workspace, monkeypatch):
    for name, value in RetryBudget.of(2).mlflow_settings().items():
        monkeypatch.setenv(name, value)
    version = workspace.register_version()
    workspace.push_pin("dev", ModelPin("ames-price", version))
    down = ModelRegistry("http://127.0.0.1:9")  # the discard port: connection refused
    registries = EnvironmentRegistries.of({"dev": workspace.registry, "qa": down})
    services = workspace.services().__class__(
        registries, workspace.remote, workspace.prs, None, workspace.images
    )
    with pytest.raises(RegistryError, match=r"127\.0\.0\.1:9 is unreachable"):
        promote(services, "qa", source="dev")
    assert (
        workspace.prs.list_all() == [] and workspace.remote.branch_head("mlops/qa/promote-from-dev") is None
    )


def test_a_promotion_needs_each_environments_own_registry_not_the_generic_one():
    registries = EnvironmentRegistries.resolve({"qa": "http://qa.example"}, "http://one-for-all.example")
    with pytest.raises(ConfigError) as raised:
        registries.for_promotion("dev", "qa")
    assert [problem.key for problem in raised.value.problems] == ["MLFLOW_TRACKING_URI_DEV"]
    assert str(raised.value).endswith(
        "allowed: dev's own MLflow registry: pulumi stack output mlflowTrackingUri --stack dev"
    )
    assert registries.location("qa").tracking_uri == "http://qa.example"
    assert registries.location("prod").origin == "MLFLOW_TRACKING_URI"  # a single-environment job may use it


def test_promote_imports_the_image_digest_into_the_targets_container_registry_first(workspace):
    version = workspace.register_version()
    workspace.push_pin("dev", ModelPin("ames-price", version))
    merged(workspace, pin_image(workspace.services(), "dev", name=None, digest=DIGEST, tag=None))
    workspace.images.images.add(DEV_IMAGE)  # what the build pipeline pushed to dev's registry

    promotion = promote(workspace.services(), "qa", source="dev")

    assert workspace.images.imports == [(DEV_IMAGE, "crpriceengineqa.azurecr.io", "dev")]
    assert promotion.image.status == "imported"
    assert f"image {DIGEST} imported into crpriceengineqa.azurecr.io (from crpriceenginedev.azurecr.io)" in (
        promotion.change.pull_request.body
    )
    merged(workspace, promotion)
    qa = image_of(workspace, "qa")
    assert (qa.new_name, qa.digest) == ("crpriceengineqa.azurecr.io/estimation-engine", DIGEST)
    # qa -> prod: the digest is now in qa's registry, and goes on into prod's.
    merged(workspace, promote(workspace.services(), "prod", source="qa"))
    assert workspace.images.imports[-1] == (
        f"crpriceengineqa.azurecr.io/estimation-engine@{DIGEST}",
        "crpriceengineprod.azurecr.io",
        "qa",
    )
    assert image_of(workspace, "prod").digest == DIGEST and workspace.pin("prod") == ModelPin("ames-price", 1)


def test_an_image_that_cannot_be_imported_stops_the_promotion_before_the_pull_request(workspace):
    version = workspace.register_version()
    workspace.push_pin("dev", ModelPin("ames-price", version))
    merged(workspace, pin_image(workspace.services(), "dev", name=None, digest=DIGEST, tag=None))
    with pytest.raises(ImageImportError, match="does not exist"):  # never pushed to dev's registry
        promote(workspace.services(), "qa", source="dev")
    assert [pr.head for pr in workspace.prs.list_open()] == []


def test_a_chosen_dev_version_can_be_copied_and_pinned_in_qa_the_custom_qa_case(workspace):
    first, _second = workspace.register_version(), workspace.register_version()
    result = promote(workspace.services(), "qa", source="dev", model_version=first)
    assert result.change.pull_request.head == f"mlops/qa/pin-ames-price-from-dev-v{first}"
    assert result.image.status == "unchanged"  # a chosen model version does not move the image
    merged(workspace, result)
    assert workspace.pin("qa") == ModelPin("ames-price", 1)
    assert versions_in(workspace, "qa")[0].tags[TAG_SOURCE_VERSION] == str(first)


def test_one_of_the_targets_own_versions_can_be_pinned_without_a_copy(workspace):
    own = workspace.register_version(env="qa")
    result = promote(workspace.services(), "qa", model_version=own)
    assert result.copy is None and result.change.pull_request.head == f"mlops/qa/pin-ames-price-v{own}"
    merged(workspace, result)
    assert workspace.pin("qa") == ModelPin("ames-price", own)


def test_promote_of_an_empty_source_is_refused(workspace):
    with pytest.raises(PromotionError, match="dev has no model pinned yet"):
        promote(workspace.services(), "qa", source="dev")


def test_rollback_restores_the_environments_previous_version_of_its_own_registry(workspace):
    first, second = workspace.register_version(env="prod"), workspace.register_version(env="prod")
    workspace.push_pin("prod", ModelPin("ames-price", first))
    workspace.push_pin("prod", ModelPin("ames-price", second))
    result = rollback(workspace.services(), "prod")
    assert result.pull_request.title == f"Roll back prod to ames-price v{first} (from ames-price v{second})"
    merged(workspace, result)
    assert workspace.pin("prod") == ModelPin("ames-price", first)


def test_rollback_with_nothing_before_is_refused(workspace):
    with pytest.raises(PromotionError, match="nothing to roll back"):
        rollback(workspace.services(), "prod")
    workspace.push_pin("prod", ModelPin("ames-price", workspace.register_version(env="prod")))
    with pytest.raises(PromotionError, match="had no model pinned: nothing to roll back to"):
        rollback(workspace.services(), "prod")


def test_pin_image_needs_a_digest_in_qa_and_prod_and_changes_only_the_image_entry(workspace):
    with pytest.raises(PromotionError, match="prod pins images by digest"):
        pin_image(workspace.services(), "prod", name=None, digest=None, tag="1.2.3")
    with pytest.raises(PinError, match="digest 'sha256:nope'"):
        pin_image(workspace.services(), "prod", name=None, digest="sha256:nope", tag=None)
    with workspace.remote.checkout() as checkout:
        before = checkout.read(str(kustomization_path("prod")))
    merged(workspace, pin_image(workspace.services(), "prod", name=None, digest=DIGEST, tag=None))
    with workspace.remote.checkout() as checkout:
        after = checkout.read(str(kustomization_path("prod")))
        assert checkout.read(str(model_pin_path("prod"))) == ModelPin("ames-price", None).render()
    removed = [line for line in before.splitlines() if line not in after.splitlines()]
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert (removed, added) == (["    digest: sha256:" + "0" * 64], [f"    digest: {DIGEST}"])
    assert image_of(workspace, "prod").digest == DIGEST
