"""The GitHub provider against exchanges recorded from GitHub's REST API documentation."""

import pytest

from delivery.pull_requests.base import PullRequestError
from delivery.pull_requests.github import GitHubPullRequests
from tests.delivery.pull_requests.replay import Exchange, Replay, error_exchange, recording

GITHUB = recording("github")
PULLS = "/repos/octo-org/property-price-platform/pulls"
TOKEN = "ghp_fake_token_for_tests_only"


def provider(*exchanges: Exchange) -> tuple[GitHubPullRequests, Replay]:
    replay = Replay(*exchanges)
    return GitHubPullRequests("octo-org/property-price-platform", TOKEN, transport=replay), replay


def test_find_open_asks_for_the_head_branch_with_the_owner_prefix_and_api_headers():
    github, replay = provider(
        Exchange(
            "GET",
            PULLS,
            200,
            [GITHUB["pull_request"]],
            query={"state": "open", "head": "octo-org:mlops/dev/bump-ames-price", "per_page": 100},
        )
    )
    pr = github.find_open("mlops/dev/bump-ames-price")
    assert (pr.number, pr.head, pr.base, pr.state) == (42, "mlops/dev/bump-ames-price", "main", "open")
    assert pr.url == "https://github.com/octo-org/property-price-platform/pull/42"
    headers = replay.requests[0].headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["x-github-api-version"] == "2022-11-28"
    assert headers["accept"] == "application/vnd.github+json"


def test_find_open_returns_none_when_no_pull_request_matches():
    github, _ = provider(Exchange("GET", PULLS, 200, []))
    assert github.find_open("mlops/dev/bump-ames-price") is None


def test_create_update_and_close_send_the_documented_requests():
    created = GITHUB["pull_request"]
    closed = {**GITHUB["older_pull_request"], "state": "closed"}
    github, replay = provider(
        Exchange("POST", PULLS, 201, created, body={"title": "T", "head": "mlops/dev/bump-ames-price", "base": "main", "body": "B"}),
        Exchange("PATCH", f"{PULLS}/42", 200, {**created, "title": "T2"}, body={"title": "T2", "body": "B2"}),
        Exchange("POST", "/repos/octo-org/property-price-platform/issues/40/comments", 201, GITHUB["comment"],
                 body={"body": "Superseded by #42."}),
        Exchange("PATCH", f"{PULLS}/40", 200, closed, body={"state": "closed"}),
    )  # fmt: skip
    assert github.create("mlops/dev/bump-ames-price", "main", "T", "B").number == 42
    assert github.update(42, "T2", "B2").title == "T2"
    assert github.close(40, "Superseded by #42.").state == "closed"
    assert replay.done


def test_list_open_follows_pagination_links():
    page_two = "https://api.github.com/repositories/1/pulls?state=open&per_page=100&page=2"
    github, replay = provider(
        Exchange("GET", PULLS, 200, [GITHUB["pull_request"]], headers={"link": f'<{page_two}>; rel="next"'}),
        Exchange("GET", "/repositories/1/pulls", 200, [GITHUB["older_pull_request"]]),
    )
    assert [pr.number for pr in github.list_open()] == [42, 40]
    assert replay.done


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("401", "HTTP 401: Bad credentials (the token was rejected"),
        ("403", "HTTP 403: Resource not accessible by integration (the token lacks permission"),
        ("403-rate-limit", "rate limited: retry after 2025-11-28T00:00:00+00:00"),
        ("404", "HTTP 404: Not Found (not found: check the repository name"),
        ("409", "HTTP 409: Head branch was modified"),
        ("422", "Validation Failed; A pull request already exists for octo-org:mlops/dev/bump-ames-price."),
        ("429", "rate limited: retry after 60s"),
    ],
)
def test_documented_errors_become_clear_messages_without_the_token(status, expected):
    github, _ = provider(error_exchange(GITHUB, status, "POST", PULLS))
    with pytest.raises(PullRequestError) as raised:
        github.create("mlops/dev/bump-ames-price", "main", "T", "B")
    message = str(raised.value)
    assert message.startswith("GitHub: open a pull request from mlops/dev/bump-ames-price failed")
    assert expected in message
    assert TOKEN not in message


def test_missing_settings_are_refused_by_name():
    with pytest.raises(PullRequestError, match="GITHUB_TOKEN is not set"):
        GitHubPullRequests("octo-org/repo", "")
    with pytest.raises(PullRequestError, match="GITHUB_REPOSITORY='repo': expected owner/name"):
        GitHubPullRequests("repo", TOKEN)
