"""What every pull-request provider offers: the few operations a pin change needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

PullRequestState = Literal["open", "merged", "closed"]


class PullRequestError(RuntimeError):
    """A provider refused or failed an operation; the message says which and why, never a token."""


@dataclass(frozen=True)
class PullRequest:
    number: int
    title: str
    body: str
    head: str
    base: str
    state: PullRequestState
    url: str


class PullRequestProvider(Protocol):
    """Find, open, update and close pull requests on the gitops repository."""

    name: str

    def find_open(self, head: str) -> PullRequest | None:
        """The open pull request from branch ``head``, if any."""
        ...

    def list_open(self) -> list[PullRequest]: ...

    def create(self, head: str, base: str, title: str, body: str) -> PullRequest: ...

    def update(self, number: int, title: str, body: str) -> PullRequest: ...

    def close(self, number: int, comment: str) -> PullRequest:
        """Close without merging, leaving ``comment`` (why: e.g. superseded by another PR)."""
        ...
