"""What a pin change says: its pull request's title and body, and why it refuses to overwrite a pin."""

import pytest

from delivery.pin_change import ConcurrentChangeError, PinChange, propose
from model_contract.pins import ModelPin, model_pin_path

PATH = str(model_pin_path("dev"))
EMPTY = ModelPin("ames-price", None).render()


def change(version: int, expected: dict | None = None, path: str = PATH) -> PinChange:
    new = ModelPin("ames-price", version).render()
    expected = {PATH: EMPTY} if expected is None else expected
    return PinChange(
        "dev", "bump-ames-price", {path: new}, expected, f"Pin v{version}", f"body v{version}", "msg"
    )


def test_a_refused_change_says_what_it_expected_and_what_it_found(workspace):
    workspace.push_pin("dev", ModelPin("ames-price", 3))
    with pytest.raises(ConcurrentChangeError) as raised:
        propose(change(4), workspace.remote, workspace.prs)
    assert str(raised.value) == (
        f"{PATH} changed on main since it was read (expected 'MODEL_NAME=ames-price MODEL_VERSION=', "
        "found 'MODEL_NAME=ames-price MODEL_VERSION=3'): re-run to decide again"
    )


def test_a_file_absent_on_main_is_reported_as_nothing(workspace):
    absent = "gitops/apps/estimation-engine/overlays/dev/absent.env"
    with pytest.raises(ConcurrentChangeError, match=r"\(expected 'A=1', found nothing\)"):
        propose(change(1, expected={absent: "A=1\n"}), workspace.remote, workspace.prs)
    with pytest.raises(ConcurrentChangeError, match=r"\(expected nothing, found 'MODEL_NAME=ames-price"):
        propose(change(1, expected={PATH: None}), workspace.remote, workspace.prs)


def test_the_pr_carries_the_changes_title_and_body_when_opened_and_when_updated(workspace):
    opened = propose(change(1), workspace.remote, workspace.prs).pull_request
    assert (opened.title, opened.body) == ("Pin v1", "body v1")
    updated = propose(change(2), workspace.remote, workspace.prs).pull_request
    assert workspace.prs.get(updated.number) == updated
    assert (updated.number, updated.title, updated.body) == (opened.number, "Pin v2", "body v2")


def test_a_preview_that_renders_the_same_manifests_says_there_is_no_change(workspace):
    def preview(path, env):
        return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: unchanged\n"

    body = propose(change(1), workspace.remote, workspace.prs, preview=preview).pull_request.body
    assert body.endswith("```diff\n(no change in the rendered manifests)\n```\n")
