"""Running git: one small wrapper so every call has the same error handling and no credential leaks.

Credentials for HTTPS remotes come from the environment and reach git through ``GIT_CONFIG_*`` variables
(an ``http.extraHeader``), never through the command line (visible in ``ps``) or a file on disk.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

# Commits made by the training job carry this identity unless the environment names another
# (GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL/GIT_COMMITTER_*), so they work on machines with no git identity set.
BOT_IDENTITY = {
    "GIT_AUTHOR_NAME": "mlops-bot",
    "GIT_AUTHOR_EMAIL": "mlops-bot@users.noreply.localhost",
    "GIT_COMMITTER_NAME": "mlops-bot",
    "GIT_COMMITTER_EMAIL": "mlops-bot@users.noreply.localhost",
}


class GitError(RuntimeError):
    """A git command failed; the message carries the command and git's own words."""


def git(
    args: Sequence[str], cwd: Path | None = None, env: Mapping[str, str] | None = None, check: bool = True
) -> str:
    """Run ``git args`` and return stdout (stripped). GitError with stderr when it fails and ``check``."""
    command = ["git", *args]
    completed = subprocess.run(
        command,
        cwd=cwd,
        env={**BOT_IDENTITY, **os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if check and completed.returncode != 0:
        detail = (completed.stderr or completed.stdout).strip()
        raise GitError(f"git {' '.join(args)} failed: {detail}")
    return completed.stdout.strip()


def auth_environment(
    token: str | None, username: str = "x-access-token", scheme: str = "Basic"
) -> dict[str, str]:
    """Environment that makes git send ``token`` in an Authorization header, without writing it anywhere.

    ``Basic`` (the default) sends ``username:token``, as GitHub and Azure Repos PATs expect; ``Bearer``
    sends the token itself, as Azure Pipelines' System.AccessToken expects.
    """
    if not token:
        return {}
    credential = base64.b64encode(f"{username}:{token}".encode()).decode() if scheme == "Basic" else token
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: {scheme} {credential}",
    }


def head_commit(repository: Path) -> str | None:
    """The commit checked out in ``repository`` (with ``-dirty`` if it has local changes), or None."""
    try:
        commit = git(["rev-parse", "HEAD"], cwd=repository)
        dirty = git(["status", "--porcelain", "--untracked-files=no"], cwd=repository)
    except (GitError, FileNotFoundError, NotADirectoryError):
        return None
    return f"{commit}-dirty" if dirty else commit
