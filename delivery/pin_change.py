"""Proposing a change to an environment's pins as a pull request: bump, promotion and rollback alike.

The rules every pin change follows:
- one deterministic branch per environment and purpose, so re-running updates the open PR;
- the change is computed against the pins the caller read; if the remote's default branch has moved
  them since, the change is refused (never overwritten), and the caller re-reads and re-decides;
- other open pin PRs for the same environment that change the same pin (model or image) are superseded
  (closed with a pointer to the new one); a model bump and an image pin can be open side by side;
- if the provider fails to open or update the PR after the branch was pushed, the branch is put back:
  nothing half-done remains. Failing to close a superseded PR is reported, not undone;
- a change that moves the model pin of an overlay running canaries also writes its shadow pin, in the
  same commit (delivery/shadow_pin.py), and the PR body says what the canary compares with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from delivery.gitops_remote import Checkout, GitopsError, GitopsRemote
from delivery.pull_requests.base import PullRequest, PullRequestError, PullRequestProvider
from delivery.shadow_pin import SHADOW_PIN_FILE, with_shadow_pin
from model_contract.pins import MODEL_PIN_FILE

BRANCH_PREFIX = "mlops"
IMAGE_PURPOSE = "image"

# Renders the environment's manifests in a checkout, for the PR's before/after preview.
Preview = Callable[[Path, str], str]


class ConcurrentChangeError(GitopsError):
    """The pins changed on the remote after the caller read them."""


@dataclass(frozen=True)
class PinChange:
    env: str
    purpose: str
    files: Mapping[str, str]
    expected: Mapping[str, str | None]
    title: str
    body: str
    commit_message: str

    @property
    def branch(self) -> str:
        return branch_name(self.env, self.purpose)


@dataclass(frozen=True)
class PinChangeResult:
    status: Literal["opened", "updated", "already-pinned"]
    pull_request: PullRequest | None
    superseded: tuple[int, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)


def branch_name(env: str, purpose: str) -> str:
    return f"{BRANCH_PREFIX}/{env}/{purpose}"


def propose(
    change: PinChange, remote: GitopsRemote, provider: PullRequestProvider, preview: Preview | None = None
) -> PinChangeResult:
    """Push the change on its branch and open (or update) its pull request; see the module rules."""
    with remote.checkout() as checkout:
        _refuse_if_moved(change, checkout)
        files, shadow_note = with_shadow_pin(change.env, change.files, checkout)
        change = replace(change, files=files, body=change.body + shadow_note)
        if all(checkout.read(path) == content for path, content in change.files.items()):
            return PinChangeResult("already-pinned", None)
        body = change.body + _preview_section(change, checkout, preview)
        previous = remote.branch_head(change.branch)
        checkout.commit_on_branch(change.branch, change.files, change.commit_message)
        checkout.push(change.branch, expected_remote=previous)
        try:
            pull_request, status = _open_or_update(change, body, remote, provider)
        except (PullRequestError, GitopsError):
            checkout.restore_branch(change.branch, previous)
            raise
    superseded, warnings = _supersede(change, pull_request, provider)
    return PinChangeResult(status, pull_request, superseded, warnings)


def _refuse_if_moved(change: PinChange, checkout: Checkout) -> None:
    for path, expected in change.expected.items():
        current = checkout.read(path)
        if current != expected:
            raise ConcurrentChangeError(
                f"{path} changed on {checkout.remote.default_branch} since it was read "
                f"(expected {_one_line(expected)}, found {_one_line(current)}): re-run to decide again"
            )


def _open_or_update(
    change: PinChange, body: str, remote: GitopsRemote, provider: PullRequestProvider
) -> tuple[PullRequest, Literal["opened", "updated"]]:
    existing = provider.find_open(change.branch)
    if existing is not None:
        return provider.update(existing.number, change.title, body), "updated"
    return provider.create(change.branch, remote.default_branch, change.title, body), "opened"


def _supersede(
    change: PinChange, pull_request: PullRequest, provider: PullRequestProvider
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Close the environment's other open PRs that change the same pin; report, never undo, failures."""
    touched = _pins_in_files(change.files)
    superseded, warnings = [], []
    for other in provider.list_open():
        prefix = f"{BRANCH_PREFIX}/{change.env}/"
        if not other.head.startswith(prefix) or other.head == change.branch:
            continue
        if not touched & _pins_of_purpose(other.head.removeprefix(prefix)):
            continue
        try:
            provider.close(other.number, f"Superseded by #{pull_request.number} ({pull_request.title}).")
            superseded.append(other.number)
        except PullRequestError as error:
            warnings.append(
                f"could not close #{other.number}, which #{pull_request.number} supersedes: {error}"
            )
    return tuple(superseded), tuple(warnings)


def _pins_in_files(files: Mapping[str, str]) -> set[str]:
    """The shadow pin goes with the model pin: written only when the model pin moves."""
    model_files = (f"/{MODEL_PIN_FILE}", f"/{SHADOW_PIN_FILE}")
    return {"model" if path.endswith(model_files) else "image" for path in files}


def _pins_of_purpose(purpose: str) -> set[str]:
    """Which pins an open PR changes, from its branch's purpose (see delivery.bump and delivery.promotion):
    ``image`` pins an image, ``promote-from-*`` may copy both, every other purpose moves the model."""
    if purpose == IMAGE_PURPOSE:
        return {"image"}
    if purpose.startswith("promote-from-"):
        return {"model", "image"}
    return {"model"}


def _preview_section(change: PinChange, checkout: Checkout, preview: Preview | None) -> str:
    """The rendered-manifest diff of the environment, like ``argocd app diff``, computed offline."""
    if preview is None:
        return ""
    try:
        before = preview(checkout.path, change.env)
        originals = {path: checkout.read(path) for path in change.files}
        for path, content in change.files.items():
            (checkout.path / path).write_text(content)
        after = preview(checkout.path, change.env)
        for path, content in originals.items():
            if content is not None:
                (checkout.path / path).write_text(content)
    except Exception as error:  # a preview is a courtesy: never block the change on it
        return f"\n\n### Rendered manifest diff\n\n(preview unavailable: {error})\n"
    return f"\n\n### Rendered manifest diff ({change.env})\n\n```diff\n{_diff(before, after)}\n```\n"


def _diff(before: str, after: str) -> str:
    from delivery.overlay_render import manifest_diff

    return manifest_diff(before, after) or "(no change in the rendered manifests)"


def _one_line(text: str | None) -> str:
    return "nothing" if text is None else repr(" ".join(text.split()))
