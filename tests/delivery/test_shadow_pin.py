"""Every change of prod's model pin also says which version the canary compares with (previous-model.env),
in the same commit; image pins leave it alone; a rollback restores it as a revert of that commit would."""

import re

from delivery.bump import bump_change
from delivery.git import git
from delivery.image_pin import pin_image
from delivery.pin_change import propose
from delivery.promote import promote
from delivery.rollback import rollback
from delivery.shadow_pin import shadow_pin_path, shadow_version
from model_contract.pins import ModelPin, model_pin_path
from tests.delivery.test_promotion import DIGEST, merged

SHADOW = str(shadow_pin_path("prod"))
MODEL = str(model_pin_path("prod"))
# The format the prod overlay's ConfigMap generator reads (tests/gitops/test_rollout_objects.py pins it).
FORMAT = re.compile(r"SHADOW_MODEL_VERSION=\d*\n")


class Verdict:
    outcome, reason, champion_version = "improved", "better rmse_log", None


def files_on_main(workspace, *paths):
    with workspace.remote.checkout() as checkout:
        return tuple(checkout.read(path) for path in paths)


def last_commit_of(workspace, path):
    with workspace.remote.checkout(depth=None) as checkout:
        return git(["log", "-1", "--format=%H", "--", path], cwd=checkout.path)


def pin_by_request(workspace, version):
    """Pin one of prod's own versions by pull request, merged: the promotion path without a copy."""
    result = promote(workspace.services(), "prod", model_version=version)
    merged(workspace, result)
    return result.change.pull_request


def test_each_promotion_writes_the_version_it_replaces_in_the_same_commit(workspace):
    first, second = workspace.register_version(env="prod"), workspace.register_version(env="prod")
    pr = pin_by_request(workspace, first)
    assert files_on_main(workspace, SHADOW) == ("SHADOW_MODEL_VERSION=\n",)  # nothing before: off
    assert "Canary shadow comparison: off" in pr.body
    pr = pin_by_request(workspace, second)
    (shadow,) = files_on_main(workspace, SHADOW)
    assert shadow == f"SHADOW_MODEL_VERSION={first}\n" and FORMAT.fullmatch(shadow)
    assert last_commit_of(workspace, SHADOW) == last_commit_of(workspace, MODEL)
    assert f"also estimate with v{first}" in pr.body and f"SHADOW_MODEL_VERSION={first}" in pr.body


def test_a_promotion_from_another_environment_writes_prods_previous_version(workspace):
    dev_version = workspace.register_version()
    workspace.push_pin("dev", ModelPin("ames-price", dev_version))
    merged(workspace, promote(workspace.services(), "qa", source="dev"))
    merged(workspace, promote(workspace.services(), "prod", source="qa"))
    prod_before = workspace.pin("prod").version
    workspace.push_pin("dev", ModelPin("ames-price", workspace.register_version()))
    merged(workspace, promote(workspace.services(), "qa", source="dev"))
    merged(workspace, promote(workspace.services(), "prod", source="qa"))
    assert workspace.pin("prod").version != prod_before
    assert files_on_main(workspace, SHADOW) == (f"SHADOW_MODEL_VERSION={prod_before}\n",)


def test_overlays_without_a_shadow_pin_get_none(workspace):
    workspace.push_pin("dev", ModelPin("ames-price", workspace.register_version()))
    merged(workspace, promote(workspace.services(), "qa", source="dev"))
    qa_shadow, dev_shadow = files_on_main(workspace, str(shadow_pin_path("qa")), str(shadow_pin_path("dev")))
    assert (qa_shadow, dev_shadow) == (None, None)


def test_a_bump_pr_in_prod_carries_the_shadow_pin(workspace):
    current = workspace.register_version(env="prod")
    workspace.push_pin("prod", ModelPin("ames-price", current))
    new = workspace.registries.registry("prod").get("ames-price", workspace.register_version(env="prod"))
    (current_text,) = files_on_main(workspace, MODEL)
    change = bump_change(
        "prod", new, Verdict(), {"rmse_log": 0.1}, None, ModelPin("ames-price", current), current_text, "-"
    )
    result = propose(change, workspace.remote, workspace.prs)
    assert f"SHADOW_MODEL_VERSION={current}" in result.pull_request.body
    merged(workspace, result)
    assert files_on_main(workspace, SHADOW) == (f"SHADOW_MODEL_VERSION={current}\n",)


def test_another_model_name_or_no_version_before_means_no_comparison():
    assert shadow_version(ModelPin("ames-price", 3), ModelPin("ames-price", 4)) == 3
    assert shadow_version(ModelPin("ames-price", 5), ModelPin("ames-price", 4)) == 5  # a downgrade too
    assert shadow_version(ModelPin("ames-price", 3), ModelPin("boston-price", 1)) is None
    assert shadow_version(ModelPin("ames-price", None), ModelPin("ames-price", 1)) is None
    assert shadow_version(None, ModelPin("ames-price", 1)) is None


def test_an_image_pin_leaves_the_shadow_pin_alone(workspace):
    first, second = workspace.register_version(env="prod"), workspace.register_version(env="prod")
    pin_by_request(workspace, first)
    pin_by_request(workspace, second)
    before = files_on_main(workspace, SHADOW)
    result = pin_image(workspace.services(), "prod", name=None, digest=DIGEST, tag=None)
    assert "shadow" not in result.pull_request.body.lower()
    merged(workspace, result)
    assert files_on_main(workspace, SHADOW) == before == (f"SHADOW_MODEL_VERSION={first}\n",)


def test_a_rollback_restores_both_pins_as_a_revert_of_the_change_would(workspace):
    one, two, three = (workspace.register_version(env="prod") for _ in range(3))
    for version in (one, two, three):
        pin_by_request(workspace, version)
    assert files_on_main(workspace, MODEL, SHADOW)[1] == f"SHADOW_MODEL_VERSION={two}\n"

    result = rollback(workspace.services(), "prod")
    # v3 was bad: the restored v2 is compared with v1 again, as when it was accepted, never with v3.
    assert f"also estimate with v{one}" in result.pull_request.body
    merged(workspace, result)
    assert files_on_main(workspace, MODEL, SHADOW) == (
        ModelPin("ames-price", two).render(),
        f"SHADOW_MODEL_VERSION={one}\n",
    )
    assert last_commit_of(workspace, SHADOW) == last_commit_of(workspace, MODEL)


def test_a_rollback_to_the_first_model_turns_the_comparison_off(workspace):
    one, two = workspace.register_version(env="prod"), workspace.register_version(env="prod")
    pin_by_request(workspace, one)
    pin_by_request(workspace, two)
    merged(workspace, rollback(workspace.services(), "prod"))
    assert files_on_main(workspace, MODEL, SHADOW) == (
        ModelPin("ames-price", one).render(),
        "SHADOW_MODEL_VERSION=\n",
    )
