"""The ``checkout`` step as the agent runs it, and the git it runs.

``checkout: self`` only (implicit in regular jobs, explicit in deployment jobs), default fetch depth 1,
the branches and the commit being built fetched by its id, and the job's credentials kept in the remote
only with ``persistCredentials``
(https://learn.microsoft.com/azure/devops/pipelines/yaml-schema/steps-checkout).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from tests.pipelines.rehearsal.errors import RehearsalError
from tests.pipelines.rehearsal.expressions import to_string, truthy

if TYPE_CHECKING:
    from tests.pipelines.rehearsal.job import JobRun


def checkout(job: JobRun, step: dict) -> tuple[int, str]:
    if step["checkout"] == "none":
        return 0, ""
    if step["checkout"] != "self":
        raise RehearsalError(f"the rehearsal checks out `self` only, not {step['checkout']!r}")
    depth = int(to_string(step.get("fetchDepth", 1)))
    source = job.run.session.source
    git(["init", "--quiet", str(job.sources)], job.agent)
    # Borrow the remote's objects instead of copying them: a real agent copies, to the same effect.
    (job.sources / ".git" / "objects" / "info" / "alternates").write_text(f"{source.path / 'objects'}\n")
    git(["remote", "add", "origin", source.url], job.sources)
    depth_args = [f"--depth={depth}"] if depth > 0 else []
    # As the agent does: the branches, and the commit being built by its id (it may be behind main).
    git(["fetch", "--quiet", *depth_args, "origin", "+refs/heads/*:refs/remotes/origin/*",
         job.run.source_version], job.sources)  # fmt: skip
    git(["checkout", "--quiet", "--force", job.run.source_version], job.sources)
    if not truthy(step.get("persistCredentials", False)):
        # Azure Repos needs the job's token for git: without persistCredentials the checkout removes it.
        git(["remote", "set-url", "origin", str(job.agent / "azure-repos-without-persisted-credentials")],
            job.sources)  # fmt: skip
    job.checked_out_message = git(["log", "-1", "--format=%B", "HEAD"], job.sources).strip()
    return 0, f"checked out {job.run.source_version} (depth {depth or 'full'})"


def git(args: list[str], cwd: Path) -> str:
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
    }
    result = subprocess.run(["git", *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=60,
                            check=False)  # fmt: skip
    if result.returncode != 0:
        raise RehearsalError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def git_show(repository: Path, commit: str, path: str) -> str:
    return git(["--git-dir", str(repository), "show", f"{commit}:{path}"], repository)
