"""The embedded default provider: pull requests as records beside the local bare gitops remote.

Records live in one JSON file under ``.mlops/`` (written atomically, under a lock), and ``merge`` does
what a hosting service does: a no-fast-forward merge of the head branch into the base branch, pushed to
the remote, then the head branch deleted.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from delivery.git import GitError, git
from delivery.gitops_remote import GitopsRemote
from delivery.pull_requests.base import PullRequest, PullRequestError


class LocalPullRequests:
    """Pull requests on the local bare remote, stored in ``store`` (a JSON file)."""

    name = "local"

    def __init__(self, store: Path, remote: GitopsRemote) -> None:
        self.store = store
        self.remote = remote

    def find_open(self, head: str) -> PullRequest | None:
        return next((pr for pr in self.list_open() if pr.head == head), None)

    def list_open(self) -> list[PullRequest]:
        return [pr for pr in self.list_all() if pr.state == "open"]

    def list_all(self) -> list[PullRequest]:
        return [_from_record(record) for record in self._read()["pull_requests"]]

    def get(self, number: int) -> PullRequest:
        for pr in self.list_all():
            if pr.number == number:
                return pr
        raise PullRequestError(f"pull request #{number} does not exist (see `python -m delivery prs --all`)")

    def create(self, head: str, base: str, title: str, body: str) -> PullRequest:
        with self._locked() as data:
            if any(r["head"] == head and r["state"] == "open" for r in data["pull_requests"]):
                raise PullRequestError(f"a pull request from {head} is already open")
            number = data["next_number"]
            url = f"{self.remote.url}#pull/{number}"
            pr = PullRequest(number, title, body, head, base, "open", url)
            data["pull_requests"].append({**asdict(pr), "created_at": _now()})
            data["next_number"] = number + 1
        return pr

    def update(self, number: int, title: str, body: str) -> PullRequest:
        return self._change(number, title=title, body=body)

    def close(self, number: int, comment: str) -> PullRequest:
        return self._change(number, state="closed", comment=comment)

    def merge(self, number: int) -> PullRequest:
        """Merge an open pull request into its base branch on the remote and delete its head branch."""
        pr = self.get(number)
        if pr.state != "open":
            raise PullRequestError(f"pull request #{number} is {pr.state}, not open")
        commit = self._merge_on_remote(pr)
        return self._change(number, state="merged", merge_commit=commit)

    def _merge_on_remote(self, pr: PullRequest) -> str:
        with self.remote.checkout(depth=None) as checkout:
            run = lambda *args: git(list(args), cwd=checkout.path)  # noqa: E731
            try:
                run("fetch", "--quiet", "origin", f"refs/heads/{pr.head}:refs/remotes/origin/{pr.head}")
            except GitError as error:
                raise PullRequestError(
                    f"#{pr.number}: head branch {pr.head} is gone from the remote"
                ) from error
            message = f"Merge pull request #{pr.number} from {pr.head}\n\n{pr.title}"
            try:
                run("merge", "--quiet", "--no-ff", "-m", message, f"origin/{pr.head}")
            except GitError as error:
                git(["merge", "--abort"], cwd=checkout.path, check=False)
                raise PullRequestError(
                    f"#{pr.number} conflicts with {pr.base}: re-run the job that opened it to rebase it"
                ) from error
            try:
                run("push", "--quiet", "origin", f"HEAD:refs/heads/{pr.base}")
            except GitError as error:
                raise PullRequestError(
                    f"#{pr.number}: {pr.base} moved during the merge, try again"
                ) from error
            run("push", "--quiet", "origin", f":refs/heads/{pr.head}")
            return checkout.head

    def _change(self, number: int, **changes: object) -> PullRequest:
        with self._locked() as data:
            record = next((r for r in data["pull_requests"] if r["number"] == number), None)
            if record is None:
                raise PullRequestError(f"pull request #{number} does not exist")
            if record["state"] != "open":
                raise PullRequestError(f"pull request #{number} is {record['state']}, not open")
            record.update(changes, updated_at=_now())
            return _from_record(record)

    def _read(self) -> dict:
        if not self.store.is_file():
            return {"next_number": 1, "pull_requests": []}
        try:
            return json.loads(self.store.read_text())
        except json.JSONDecodeError as error:
            raise PullRequestError(f"{self.store}: pull-request records are corrupt: {error}") from error

    @contextmanager
    def _locked(self) -> Iterator[dict]:
        """Read-modify-write under an exclusive lock, replacing the file atomically on success only."""
        self.store.parent.mkdir(parents=True, exist_ok=True)
        with open(self.store.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._read()
            yield data
            handle, temporary = tempfile.mkstemp(dir=self.store.parent, prefix=".prs-")
            with os.fdopen(handle, "w") as out:
                json.dump(data, out, indent=2)
            Path(temporary).replace(self.store)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _from_record(record: dict) -> PullRequest:
    return PullRequest(
        number=record["number"],
        title=record["title"],
        body=record["body"],
        head=record["head"],
        base=record["base"],
        state=record["state"],
        url=record["url"],
    )
