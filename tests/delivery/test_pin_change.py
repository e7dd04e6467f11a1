"""The rules every pin change follows: deterministic branch, no lost concurrent change, one open PR per
environment, nothing half-done when the provider fails, and a rendered-manifest preview."""

import pytest

from delivery.overlay_render import render_overlay
from delivery.pin_change import ConcurrentChangeError, PinChange, propose
from delivery.pull_requests.base import PullRequestError
from model_contract.pins import ModelPin, model_pin_path

PATH = str(model_pin_path("dev"))
EMPTY = ModelPin("ames-price", None).render()


def change(version: int, expected: str = EMPTY, purpose: str = "bump-ames-price") -> PinChange:
    new = ModelPin("ames-price", version).render()
    return PinChange(
        "dev", purpose, {PATH: new}, {PATH: expected}, f"Pin v{version}", "body", f"Pin v{version}"
    )


class FailingProvider:
    """Delegates to the local provider but fails creating or updating, as a 422 from a host would."""

    name = "failing"

    def __init__(self, inner):
        self.inner = inner

    def find_open(self, head):
        return self.inner.find_open(head)

    def list_open(self):
        return self.inner.list_open()

    def create(self, *args):
        raise PullRequestError("GitHub: open a pull request failed: HTTP 422: Validation Failed")

    update = create

    def close(self, *args):
        return self.inner.close(*args)


def test_a_pin_changed_on_main_since_it_was_read_is_never_overwritten(workspace):
    workspace.push_pin("dev", ModelPin("ames-price", 3))  # someone merged a change after we read "empty"
    before = workspace.remote_log()
    with pytest.raises(ConcurrentChangeError, match="changed on main since it was read"):
        propose(change(4), workspace.remote, workspace.prs)
    assert workspace.remote_log() == before and workspace.prs.list_all() == []


def test_rerunning_updates_the_open_pr_on_the_same_branch(workspace):
    first = propose(change(1), workspace.remote, workspace.prs)
    second = propose(change(2), workspace.remote, workspace.prs)
    assert (first.status, second.status) == ("opened", "updated")
    assert first.pull_request.number == second.pull_request.number
    assert workspace.prs.get(first.pull_request.number).title == "Pin v2"


def test_a_new_pin_pr_supersedes_older_open_ones_for_the_same_environment(workspace):
    older = propose(change(1, purpose="pin-ames-price-v1"), workspace.remote, workspace.prs).pull_request
    newer = propose(change(2), workspace.remote, workspace.prs)
    assert newer.superseded == (older.number,)
    assert workspace.prs.get(older.number).state == "closed"
    assert [pr.number for pr in workspace.prs.list_open()] == [newer.pull_request.number]


def test_a_provider_failure_after_the_push_leaves_no_branch_behind(workspace):
    with pytest.raises(PullRequestError, match="HTTP 422"):
        propose(change(1), workspace.remote, FailingProvider(workspace.prs))
    assert workspace.remote.branch_head("mlops/dev/bump-ames-price") is None


def test_a_provider_failure_on_update_puts_the_branch_back(workspace):
    propose(change(1), workspace.remote, workspace.prs)
    previous = workspace.remote.branch_head("mlops/dev/bump-ames-price")
    with pytest.raises(PullRequestError):
        propose(change(2), workspace.remote, FailingProvider(workspace.prs))
    assert workspace.remote.branch_head("mlops/dev/bump-ames-price") == previous


def test_a_pin_already_in_place_opens_nothing(workspace):
    workspace.push_pin("dev", ModelPin("ames-price", 5))
    result = propose(change(5, expected=ModelPin("ames-price", 5).render()), workspace.remote, workspace.prs)
    assert (result.status, result.pull_request) == ("already-pinned", None)


def test_the_pr_body_shows_the_rendered_manifest_diff(workspace):
    result = propose(change(1), workspace.remote, workspace.prs, preview=render_overlay)
    body = result.pull_request.body
    assert "### Rendered manifest diff (dev)" in body
    assert "+  MODEL_VERSION: '1'" in body and "-  MODEL_VERSION: ''" in body
    assert "-            name: estimation-engine-model-" in body  # the Deployment follows the new ConfigMap
    assert "estimation-engine-model-" in body


def test_merging_a_pr_whose_pin_conflicts_with_main_is_refused(workspace):
    opened = propose(change(1), workspace.remote, workspace.prs).pull_request
    workspace.push_pin("dev", ModelPin("ames-price", 7))
    with pytest.raises(PullRequestError, match="conflicts with main: re-run"):
        workspace.prs.merge(opened.number)
    assert workspace.pin("dev") == ModelPin("ames-price", 7)
    assert workspace.prs.get(opened.number).state == "open"


def image_change(digest: str) -> PinChange:
    path = "gitops/apps/estimation-engine/overlays/dev/kustomization.yaml"
    return PinChange("dev", "image", {path: f"# digest {digest}\n"}, {}, "Pin image", "body", "Pin image")


def test_a_model_bump_and_an_image_pin_stay_open_side_by_side(workspace):
    image = propose(image_change("a"), workspace.remote, workspace.prs).pull_request
    bump = propose(change(1), workspace.remote, workspace.prs)
    assert bump.superseded == ()
    assert workspace.prs.get(image.number).state == "open"
    newer_image = propose(image_change("b"), workspace.remote, workspace.prs)
    assert newer_image.status == "updated" and workspace.prs.get(bump.pull_request.number).state == "open"


class ClosingFails(FailingProvider):
    """Opens PRs fine; refuses to close the superseded one, as a 403 on that PR would."""

    def create(self, *args):
        return self.inner.create(*args)

    def update(self, *args):
        return self.inner.update(*args)

    def close(self, *args):
        raise PullRequestError("GitHub: close pull request #1 failed: HTTP 403")


def test_failing_to_close_a_superseded_pr_keeps_the_new_one_and_warns(workspace):
    older = propose(change(1, purpose="pin-ames-price-v1"), workspace.remote, workspace.prs).pull_request
    result = propose(change(2), workspace.remote, ClosingFails(workspace.prs))
    assert result.status == "opened" and result.superseded == ()
    assert result.warnings and f"could not close #{older.number}" in result.warnings[0]
    assert workspace.remote.branch_head("mlops/dev/bump-ames-price") is not None
    assert workspace.prs.get(result.pull_request.number).state == "open"
