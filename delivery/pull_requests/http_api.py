"""What the GitHub and Azure Repos providers share: one HTTP call with errors people can act on.

A provider's failure message names the operation, the status and what the service said, and says what
to check (token scope, repository name, rate limit reset), but never echoes a credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from delivery.pull_requests.base import PullRequestError

_HINTS = {
    401: "the token was rejected: check it is set and not expired",
    403: "the token lacks permission for this repository (or a rate limit applies)",
    404: "not found: check the repository name and that the token can see it",
    409: "conflict with the repository's current state",
    422: "the service refused the request as invalid",
    429: "rate limited",
}


class ApiClient:
    """JSON over HTTPS with a fixed set of headers; ``transport`` lets tests replay recorded exchanges."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        service: str,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.service = service
        self._client = httpx.Client(
            base_url=base_url, headers=dict(headers), timeout=30.0, transport=transport
        )

    def call(self, operation: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise PullRequestError(
                f"{self.service}: {operation} failed: cannot reach the service ({error})"
            ) from error
        if response.status_code == 203:
            # Azure DevOps answers a rejected PAT with 203 and an HTML sign-in page instead of 401.
            raise PullRequestError(
                f"{self.service}: {operation} failed: HTTP 203 sign-in page ({_HINTS[401]})"
            )
        if response.is_success:
            return response
        raise PullRequestError(f"{self.service}: {operation} failed: {describe_failure(response)}")


def describe_failure(response: httpx.Response) -> str:
    """Status, the service's own message, and a hint; rate limits say when to retry."""
    status = response.status_code
    message = _service_message(response)
    hint = _HINTS.get(status, "unexpected response")
    if _rate_limited(response):
        hint = f"rate limited: retry after {_retry_after(response)}"
    return f"HTTP {status}: {message} ({hint})" if message else f"HTTP {status} ({hint})"


def _service_message(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text.strip()[:200]
    if not isinstance(payload, dict):
        return ""
    message = str(payload.get("message", ""))
    details = [
        str(e.get("message") or e.get("code") or "") for e in payload.get("errors", []) if isinstance(e, dict)
    ]
    return "; ".join(part for part in [message, *details] if part)[:500]


def _rate_limited(response: httpx.Response) -> bool:
    if response.status_code == 429:
        return True
    return response.status_code == 403 and (
        response.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in response.headers
    )


def _retry_after(response: httpx.Response) -> str:
    if "retry-after" in response.headers:
        return f"{response.headers['retry-after']}s"
    reset = response.headers.get("x-ratelimit-reset")
    if reset and reset.isdigit():
        return datetime.fromtimestamp(int(reset), UTC).isoformat(timespec="seconds")
    return "a while"
