"""The rehearsal's "Azure Repos" remote: a bare copy of this checkout as it stands.

Agents check out from it exactly as they would from Azure Repos. Its ``main`` holds the working tree as it is
now (uncommitted and untracked files included, ignored files excluded), so a rehearsal tests what is on
disk, not the last commit. The snapshot is written into the copy's own object store (the worktree's store
is only read, as an alternate), so nothing in the worktree's repository changes.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.pipelines.pipeline_files import REPO_ROOT

LOCAL_ONLY = (".venv", ".checkov-venv", ".mlops")
IDENTITY = {
    "GIT_AUTHOR_NAME": "Rehearsal",
    "GIT_AUTHOR_EMAIL": "rehearsal@example.invalid",
    "GIT_COMMITTER_NAME": "Rehearsal",
    "GIT_COMMITTER_EMAIL": "rehearsal@example.invalid",
}


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd or "/"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        **IDENTITY,
        **(env or {}),
    }
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


class SourceRepository:
    """A bare repository whose ``main`` is the checkout's current tree."""

    def __init__(self, folder: Path, worktree: Path = REPO_ROOT) -> None:
        self.path = folder / "azure-repos.git"
        git("clone", "--quiet", "--bare", "--no-hardlinks", str(worktree), str(self.path), cwd=folder)
        common = Path(git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=worktree))
        snapshot_env = {
            "GIT_INDEX_FILE": str(folder / "snapshot-index"),
            "GIT_OBJECT_DIRECTORY": str(self.path / "objects"),
            "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(common / "objects"),
        }
        git("read-tree", "HEAD", cwd=worktree, env=snapshot_env)
        git("add", "--all", cwd=worktree, env=snapshot_env)
        # Local environments and state never travel with the sources: .gitignore's `.venv/` does not match a
        # .venv that is a symlink, and a pipeline's venv step would then write through it.
        untrack = ("rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", *LOCAL_ONLY)
        git(*untrack, cwd=worktree, env=snapshot_env)
        tree = git("write-tree", cwd=worktree, env=snapshot_env)
        head = git("rev-parse", "HEAD", cwd=worktree)
        if tree == git("rev-parse", "HEAD^{tree}", cwd=worktree):
            commit = head
        else:
            commit = git("commit-tree", tree, "-p", head, "-m", "Working tree (rehearsal snapshot)",
                         cwd=worktree, env=snapshot_env)  # fmt: skip
        git("update-ref", "refs/heads/main", commit, cwd=self.path)
        git("symbolic-ref", "HEAD", "refs/heads/main", cwd=self.path)
        git("config", "uploadpack.allowReachableSHA1InWant", "true", cwd=self.path)  # fetch by commit id
        self.head = commit

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def merge(self, message: str, files: dict[str, str] | None = None, parent: str | None = None) -> str:
        """A merged pull request: a commit with ``message`` (and ``files`` changed) on top of ``parent``
        (default: the snapshot, so each test's change stands alone), which becomes ``main``."""
        parent = parent or self.head
        tree = git("rev-parse", f"{parent}^{{tree}}", cwd=self.path)
        if files:
            index = {"GIT_INDEX_FILE": str(self.path / "merge-index")}
            git("read-tree", parent, cwd=self.path, env=index)
            for name, text in files.items():
                blob = subprocess.run(
                    ["git", "hash-object", "-w", "--stdin"], cwd=self.path, input=text, text=True,
                    capture_output=True, check=True,
                ).stdout.strip()  # fmt: skip
                git("update-index", "--add", "--cacheinfo", f"100644,{blob},{name}", cwd=self.path, env=index)
            tree = git("write-tree", cwd=self.path, env=index)
        commit = git("commit-tree", tree, "-p", parent, "-m", message, cwd=self.path)
        git("update-ref", "refs/heads/main", commit, cwd=self.path)
        return commit
