"""Promotion, rollback and image pins on a real bare remote and a real SQLite registry."""

import pytest

from training.pins import ModelPin, PinError, kustomization_path, model_pin_path, parse_image_pin
from training.promotion import PromotionError, pin_image, promote, rollback

DIGEST = "sha256:" + "ab" * 32


def merged(workspace, result):
    workspace.prs.merge(result.pull_request.number)
    return result.pull_request


def image_of(workspace, env):
    with workspace.remote.checkout() as checkout:
        path = str(kustomization_path(env))
        return parse_image_pin(checkout.read(path), path)


def test_promote_copies_the_source_model_pin_to_the_target_by_pr(workspace):
    version = workspace.register_version({"rmse_log": 0.118, "mape": 0.08, "interval_coverage": 0.9})
    workspace.push_pin("dev", ModelPin("ames-price", version))
    result = promote(workspace.services(), "qa", source="dev")
    pr = result.pull_request
    assert (result.status, pr.head, pr.title) == (
        "opened",
        "mlops/qa/promote-from-dev",
        f"Promote ames-price v{version} to qa (from dev)",
    )
    assert "rmse_log 0.118" in pr.body and "| model | ames-price (no version pinned yet) |" in pr.body
    assert workspace.pin("qa").version is None
    merged(workspace, result)
    assert workspace.pin("qa") == ModelPin("ames-price", version)


def test_promote_carries_the_image_digest_but_keeps_the_target_registry(workspace):
    version = workspace.register_version()
    workspace.push_pin("qa", ModelPin("ames-price", version))
    merged(workspace, pin_image(workspace.services(), "qa", name=None, digest=DIGEST, tag=None))
    merged(workspace, promote(workspace.services(), "prod", source="qa"))
    prod, qa = image_of(workspace, "prod"), image_of(workspace, "qa")
    assert prod.digest == qa.digest == DIGEST
    assert prod.new_name.startswith("crpriceengineprod.azurecr.io/")
    assert workspace.pin("prod") == ModelPin("ames-price", version)


def test_promote_is_refused_when_the_target_already_runs_it(workspace):
    version = workspace.register_version()
    workspace.push_pin("dev", ModelPin("ames-price", version))
    workspace.push_pin("qa", ModelPin("ames-price", version))
    with pytest.raises(PromotionError, match=f"qa already runs ames-price v{version}"):
        promote(workspace.services(), "qa", source="dev")


def test_promote_is_refused_when_the_version_is_not_in_the_registry(workspace):
    workspace.push_pin("dev", ModelPin("ames-price", 41))
    with pytest.raises(PromotionError, match="ames-price v41 is not in the registry"):
        promote(workspace.services(), "qa", source="dev")
    with pytest.raises(PromotionError, match="ames-price v7 is not in the registry"):
        promote(workspace.services(), "qa", model_version=7)
    assert workspace.prs.list_all() == []


def test_promote_of_an_empty_source_is_refused(workspace):
    with pytest.raises(PromotionError, match="dev has no model pinned yet"):
        promote(workspace.services(), "qa", source="dev")


def test_a_chosen_version_can_be_pinned_in_qa_the_custom_qa_case(workspace):
    first, _second = workspace.register_version(), workspace.register_version()
    result = promote(workspace.services(), "qa", model_version=first)
    assert result.pull_request.head == f"mlops/qa/pin-ames-price-v{first}"
    merged(workspace, result)
    assert workspace.pin("qa") == ModelPin("ames-price", first)


def test_rollback_restores_the_pin_before_the_last_change(workspace):
    first, second = workspace.register_version(), workspace.register_version()
    workspace.push_pin("prod", ModelPin("ames-price", first))
    workspace.push_pin("prod", ModelPin("ames-price", second))
    result = rollback(workspace.services(), "prod")
    assert result.pull_request.title == f"Roll back prod to ames-price v{first} (from ames-price v{second})"
    merged(workspace, result)
    assert workspace.pin("prod") == ModelPin("ames-price", first)


def test_rollback_with_nothing_before_is_refused(workspace):
    with pytest.raises(PromotionError, match="nothing to roll back"):
        rollback(workspace.services(), "prod")
    workspace.push_pin("prod", ModelPin("ames-price", workspace.register_version()))
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
