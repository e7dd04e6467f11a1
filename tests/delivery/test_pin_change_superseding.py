"""Which open pull requests a new pin change supersedes: those of its environment that move a pin it moves."""

from delivery.pin_change import PinChange, propose
from model_contract.pins import ModelPin, kustomization_path, model_pin_path

MODEL = str(model_pin_path("dev"))
IMAGE = str(kustomization_path("dev"))
EMPTY = ModelPin("ames-price", None).render()


def model_change(version: int, purpose: str = "bump-ames-price", env: str = "dev") -> PinChange:
    path = str(model_pin_path(env))
    new = ModelPin("ames-price", version).render()
    return PinChange(env, purpose, {path: new}, {path: EMPTY}, f"Pin v{version}", "body", f"Pin v{version}")


def image_change(digest: str) -> PinChange:
    return PinChange("dev", "image", {IMAGE: f"# digest {digest}\n"}, {}, "Pin image", "body", "Pin image")


def promotion(version: int) -> PinChange:
    files = {MODEL: ModelPin("ames-price", version).render(), IMAGE: f"# promoted v{version}\n"}
    title = f"Promote v{version} from qa"
    return PinChange("dev", "promote-from-qa", files, {MODEL: EMPTY}, title, "body", title)


class RecordingProvider:
    """The local provider, remembering the comment each pull request was closed with."""

    name = "recording"

    def __init__(self, inner):
        self.inner, self.closed = inner, {}

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def close(self, number, comment):
        self.closed[number] = comment
        return self.inner.close(number, comment)


def test_a_promotion_and_an_image_pin_supersede_each_other_since_a_promotion_moves_the_image_too(workspace):
    promoting = propose(promotion(1), workspace.remote, workspace.prs).pull_request
    pinning = propose(image_change("a"), workspace.remote, workspace.prs)
    assert pinning.superseded == (promoting.number,)
    promoting_again = propose(promotion(1), workspace.remote, workspace.prs)
    assert promoting_again.superseded == (pinning.pull_request.number,)
    assert [pr.number for pr in workspace.prs.list_open()] == [promoting_again.pull_request.number]


def test_a_model_bump_supersedes_an_open_promotion_since_both_move_the_model(workspace):
    promoting = propose(promotion(1), workspace.remote, workspace.prs).pull_request
    assert propose(model_change(2), workspace.remote, workspace.prs).superseded == (promoting.number,)


def test_superseding_looks_past_open_prs_of_other_environments_and_other_pins(workspace):
    other_env = propose(model_change(1, env="qa"), workspace.remote, workspace.prs).pull_request
    other_pin = propose(image_change("a"), workspace.remote, workspace.prs).pull_request
    older = propose(
        model_change(1, purpose="pin-ames-price-v1"), workspace.remote, workspace.prs
    ).pull_request
    newer = propose(model_change(2), workspace.remote, workspace.prs)
    assert newer.superseded == (older.number,)
    assert {pr.number for pr in workspace.prs.list_open()} == {
        other_env.number,
        other_pin.number,
        newer.pull_request.number,
    }


def test_a_superseded_pr_is_closed_with_a_pointer_to_its_successor(workspace):
    provider = RecordingProvider(workspace.prs)
    older = propose(model_change(1, purpose="pin-ames-price-v1"), workspace.remote, provider).pull_request
    newer = propose(model_change(2), workspace.remote, provider).pull_request
    assert provider.closed == {older.number: f"Superseded by #{newer.number} (Pin v2)."}
