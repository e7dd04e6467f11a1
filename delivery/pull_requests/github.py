"""GitHub pull requests through the REST API (https://docs.github.com/en/rest/pulls/pulls)."""

from __future__ import annotations

import httpx

from delivery.pull_requests.base import PullRequest, PullRequestError
from delivery.pull_requests.http_api import ApiClient

API_VERSION = "2022-11-28"


class GitHubPullRequests:
    """Pull requests on ``owner/repo``; the token needs `pull_requests: write` (and `contents: write` to push)."""

    name = "github"

    def __init__(
        self, repository: str, token: str, api_url: str = "https://api.github.com",
        transport: httpx.BaseTransport | None = None,
    ) -> None:  # fmt: skip
        if repository.count("/") != 1:
            raise PullRequestError(f"GITHUB_REPOSITORY={repository!r}: expected owner/name")
        if not token:
            raise PullRequestError("GITHUB_TOKEN is not set: the GitHub provider needs a token")
        self.owner = repository.split("/")[0]
        self.path = f"/repos/{repository}"
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "property-price-platform-training",
        }
        self.api = ApiClient(api_url, headers, "GitHub", transport)

    def find_open(self, head: str) -> PullRequest | None:
        params = {"state": "open", "head": f"{self.owner}:{head}", "per_page": 100}
        found = self.api.call(
            f"find the open pull request from {head}", "GET", f"{self.path}/pulls", params=params
        )
        matches = [_pull_request(item) for item in found.json()]
        return matches[0] if matches else None

    def list_open(self) -> list[PullRequest]:
        results: list[PullRequest] = []
        url: str | None = f"{self.path}/pulls"
        params: dict | None = {"state": "open", "per_page": 100}
        for _ in range(20):  # bounded: 2,000 open pull requests is far beyond a gitops repository
            if url is None:
                break
            response = self.api.call("list open pull requests", "GET", url, params=params)
            results += [_pull_request(item) for item in response.json()]
            url, params = response.links.get("next", {}).get("url"), None
        return results

    def create(self, head: str, base: str, title: str, body: str) -> PullRequest:
        payload = {"title": title, "head": head, "base": base, "body": body}
        created = self.api.call(
            f"open a pull request from {head}", "POST", f"{self.path}/pulls", json=payload
        )
        return _pull_request(created.json())

    def update(self, number: int, title: str, body: str) -> PullRequest:
        updated = self.api.call(
            f"update pull request #{number}",
            "PATCH",
            f"{self.path}/pulls/{number}",
            json={"title": title, "body": body},
        )
        return _pull_request(updated.json())

    def close(self, number: int, comment: str) -> PullRequest:
        self.api.call(
            f"comment on pull request #{number}",
            "POST",
            f"{self.path}/issues/{number}/comments",
            json={"body": comment},
        )
        closed = self.api.call(
            f"close pull request #{number}", "PATCH", f"{self.path}/pulls/{number}", json={"state": "closed"}
        )
        return _pull_request(closed.json())


def _pull_request(item: dict) -> PullRequest:
    state = "merged" if item.get("merged_at") else item["state"]
    return PullRequest(
        number=item["number"],
        title=item["title"],
        body=item.get("body") or "",
        head=item["head"]["ref"],
        base=item["base"]["ref"],
        state=state,
        url=item["html_url"],
    )
