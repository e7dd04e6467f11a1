"""Pull-request providers behind one interface: the local git remote, GitHub, Azure Repos."""

from delivery.pull_requests.base import PullRequest, PullRequestError, PullRequestProvider

__all__ = ["PullRequest", "PullRequestError", "PullRequestProvider"]
