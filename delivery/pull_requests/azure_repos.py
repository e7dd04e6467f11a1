"""Azure Repos pull requests through the Azure DevOps REST API
(https://learn.microsoft.com/rest/api/azure/devops/git/pull-requests, api-version 7.1)."""

from __future__ import annotations

import base64

import httpx

from delivery.pull_requests.base import PullRequest, PullRequestError
from delivery.pull_requests.http_api import ApiClient

API_VERSION = "7.1"
# Azure Repos refuses descriptions over 4,000 characters; longer bodies are cut with a note.
DESCRIPTION_LIMIT = 4000
_STATES = {"active": "open", "completed": "merged", "abandoned": "closed"}


class AzureReposPullRequests:
    """Pull requests on one Azure Repos repository, with a PAT (basic auth) or a bearer token."""

    name = "azure-repos"

    def __init__(
        self, organization_url: str, project: str, repository: str, pat: str | None = None,
        bearer_token: str | None = None, transport: httpx.BaseTransport | None = None,
    ) -> None:  # fmt: skip
        if not (pat or bearer_token):
            raise PullRequestError(
                "Azure Repos needs AZURE_DEVOPS_EXT_PAT or SYSTEM_ACCESSTOKEN (a bearer token) to be set"
            )
        for variable, value in (("AZURE_DEVOPS_ORG_URL", organization_url), ("AZURE_DEVOPS_PROJECT", project),
                                ("AZURE_DEVOPS_REPOSITORY", repository)):  # fmt: skip
            if not value:
                raise PullRequestError(f"{variable} is not set: the Azure Repos provider needs it")
        self.web = f"{organization_url.rstrip('/')}/{project}/_git/{repository}"
        self.path = f"/{project}/_apis/git/repositories/{repository}/pullrequests"
        authorization = f"Bearer {bearer_token}" if bearer_token else "Basic " + _basic(pat or "")
        headers = {"Authorization": authorization, "Accept": "application/json"}
        self.api = ApiClient(organization_url.rstrip("/"), headers, "Azure Repos", transport)

    def find_open(self, head: str) -> PullRequest | None:
        found = self._search(
            f"find the open pull request from {head}", {"searchCriteria.sourceRefName": _ref(head)}
        )
        return found[0] if found else None

    def list_open(self) -> list[PullRequest]:
        return self._search("list open pull requests", {})

    def create(self, head: str, base: str, title: str, body: str) -> PullRequest:
        payload = {"sourceRefName": _ref(head), "targetRefName": _ref(base), "title": title,
                   "description": _fit(body)}  # fmt: skip
        created = self.api.call(
            f"open a pull request from {head}", "POST", self.path, params=_version(), json=payload
        )
        return self._pull_request(created.json())

    def update(self, number: int, title: str, body: str) -> PullRequest:
        payload = {"title": title, "description": _fit(body)}
        updated = self.api.call(
            f"update pull request {number}", "PATCH", f"{self.path}/{number}", params=_version(), json=payload
        )
        return self._pull_request(updated.json())

    def close(self, number: int, comment: str) -> PullRequest:
        thread = {"comments": [{"parentCommentId": 0, "content": comment, "commentType": 1}], "status": 4}
        self.api.call(
            f"comment on pull request {number}",
            "POST",
            f"{self.path}/{number}/threads",
            params=_version(),
            json=thread,
        )
        abandoned = self.api.call(
            f"abandon pull request {number}", "PATCH", f"{self.path}/{number}", params=_version(),
            json={"status": "abandoned"},
        )  # fmt: skip
        return self._pull_request(abandoned.json())

    def _search(self, operation: str, criteria: dict) -> list[PullRequest]:
        params = {"searchCriteria.status": "active", "$top": 1000, **criteria, **_version()}
        found = self.api.call(operation, "GET", self.path, params=params)
        return [self._pull_request(item) for item in found.json().get("value", [])]

    def _pull_request(self, item: dict) -> PullRequest:
        number = item["pullRequestId"]
        return PullRequest(
            number=number,
            title=item["title"],
            body=item.get("description") or "",
            head=item["sourceRefName"].removeprefix("refs/heads/"),
            base=item["targetRefName"].removeprefix("refs/heads/"),
            state=_STATES.get(item.get("status", "active"), "open"),  # type: ignore[arg-type]
            url=f"{self.web}/pullrequest/{number}",
        )


def _ref(branch: str) -> str:
    return f"refs/heads/{branch}"


def _version() -> dict[str, str]:
    return {"api-version": API_VERSION}


def _basic(pat: str) -> str:
    return base64.b64encode(f":{pat}".encode()).decode()


def _fit(body: str) -> str:
    if len(body) <= DESCRIPTION_LIMIT:
        return body
    note = "\n\n… (cut to Azure Repos' 4,000-character limit; the full text is in the commit and the run)"
    return body[: DESCRIPTION_LIMIT - len(note)] + note
