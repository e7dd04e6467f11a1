"""Proposing a change to an environment's pins as a pull request: bump, promotion and rollback alike.

The rules every pin change follows:
- one deterministic branch per environment and purpose, so re-running updates the open PR;
- the change is computed against the pins the caller read; if the remote's default branch has moved
  them since, the change is refused (never overwritten), and the caller re-reads and re-decides;
- other open pin PRs for the same environment are superseded (closed with a pointer to the new one);
- if the provider fails after the branch was pushed, the branch is put back: nothing half-done remains.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from training.gitops_remote import Checkout, GitopsError, GitopsRemote
from training.pull_requests.base import PullRequest, PullRequestError, PullRequestProvider

BRANCH_PREFIX = "mlops"

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


def branch_name(env: str, purpose: str) -> str:
    return f"{BRANCH_PREFIX}/{env}/{purpose}"


def propose(
    change: PinChange, remote: GitopsRemote, provider: PullRequestProvider, preview: Preview | None = None
) -> PinChangeResult:
    """Push the change on its branch and open (or update) its pull request; see the module rules."""
    with remote.checkout() as checkout:
        _refuse_if_moved(change, checkout)
        if all(checkout.read(path) == content for path, content in change.files.items()):
            return PinChangeResult("already-pinned", None)
        body = change.body + _preview_section(change, checkout, preview)
        previous = remote.branch_head(change.branch)
        checkout.commit_on_branch(change.branch, change.files, change.commit_message)
        checkout.push(change.branch, expected_remote=previous)
        try:
            return _open_or_update(change, body, remote, provider)
        except (PullRequestError, GitopsError):
            checkout.restore_branch(change.branch, previous)
            raise


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
) -> PinChangeResult:
    existing = provider.find_open(change.branch)
    if existing is not None:
        pull_request, status = provider.update(existing.number, change.title, body), "updated"
    else:
        pull_request = provider.create(change.branch, remote.default_branch, change.title, body)
        status = "opened"
    superseded = []
    for other in provider.list_open():
        if other.head.startswith(f"{BRANCH_PREFIX}/{change.env}/") and other.head != change.branch:
            provider.close(other.number, f"Superseded by #{pull_request.number} ({pull_request.title}).")
            superseded.append(other.number)
    return PinChangeResult(status, pull_request, tuple(superseded))


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
    from training.overlay_render import manifest_diff

    return manifest_diff(before, after) or "(no change in the rendered manifests)"


def _one_line(text: str | None) -> str:
    return "nothing" if text is None else repr(" ".join(text.split()))
