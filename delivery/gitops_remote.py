"""The gitops remote: where each environment's pins live, read and changed through a clone.

Whatever the provider (a local bare repository in the embedded default, GitHub or Azure Repos), the
training job reads the champion from the remote's default branch and writes bumps as branches pushed to
it: the same code path on a laptop and in production. The local bare repository is seeded from the
checkout on first use.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from delivery.git import GitError, git
from model_contract.pins import ENVIRONMENTS, ModelPin, model_pin_path, parse_model_pin

DEFAULT_BRANCH = "main"
SEED_PATHS = ("gitops",)


class GitopsError(RuntimeError):
    """The gitops remote is unreachable, or its content is not what the operation expected."""


@dataclass(frozen=True)
class GitopsRemote:
    """A git remote holding ``gitops/``; ``auth_env`` carries credentials for HTTPS remotes."""

    url: str
    default_branch: str = DEFAULT_BRANCH
    auth_env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @contextmanager
    def checkout(self, depth: int | None = 1) -> Iterator[Checkout]:
        """A throwaway clone of the default branch, removed afterwards whatever happens."""
        folder = Path(tempfile.mkdtemp(prefix="gitops-"))
        try:
            args = ["clone", "--quiet", "--branch", self.default_branch, "--no-tags"]
            if depth:
                args += ["--depth", str(depth)]
            try:
                git([*args, self.url, str(folder / "repo")], env=self.auth_env)
            except GitError as error:
                raise GitopsError(f"cannot clone the gitops remote {self.url}: {error}") from error
            yield Checkout(self, folder / "repo")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def read_pins(self) -> dict[str, ModelPin]:
        """Every environment's model pin as it stands on the remote's default branch."""
        with self.checkout() as checkout:
            return {env: checkout.model_pin(env) for env in ENVIRONMENTS}

    def branch_head(self, branch: str) -> str | None:
        """The commit a branch points at on the remote, or None if it does not exist."""
        try:
            output = git(["ls-remote", "--heads", self.url, f"refs/heads/{branch}"], env=self.auth_env)
        except GitError as error:
            raise GitopsError(f"cannot reach the gitops remote {self.url}: {error}") from error
        return output.split()[0] if output else None


@dataclass(frozen=True)
class Checkout:
    """A working clone: read files at HEAD, commit changes on a branch, push it."""

    remote: GitopsRemote
    path: Path

    @property
    def head(self) -> str:
        return git(["rev-parse", "HEAD"], cwd=self.path)

    def read(self, relative: str) -> str | None:
        target = self.path / relative
        return target.read_text() if target.is_file() else None

    def model_pin(self, env: str) -> ModelPin:
        relative = str(model_pin_path(env))
        text = self.read(relative)
        if text is None:
            raise GitopsError(f"{relative} is missing on {self.remote.url} ({self.remote.default_branch})")
        return parse_model_pin(text, f"{relative} on {self.remote.default_branch}")

    def commit_on_branch(self, branch: str, files: Mapping[str, str], message: str) -> str:
        """Write ``files`` on a fresh branch from HEAD and commit; returns the new commit."""
        git(["checkout", "--quiet", "-B", branch], cwd=self.path)
        for relative, content in files.items():
            (self.path / relative).write_text(content)
            git(["add", "--", relative], cwd=self.path)
        git(["commit", "--quiet", "-m", message], cwd=self.path)
        return self.head

    def push(self, branch: str, expected_remote: str | None) -> None:
        """Push ``branch``, but only if the remote branch is still where we last saw it (no lost work)."""
        lease = f"--force-with-lease=refs/heads/{branch}:{expected_remote or ''}"
        try:
            git(
                ["push", "--quiet", lease, "origin", f"HEAD:refs/heads/{branch}"],
                cwd=self.path,
                env=self.remote.auth_env,
            )
        except GitError as error:
            raise GitopsError(f"push of {branch} to {self.remote.url} refused: {error}") from error

    def restore_branch(self, branch: str, previous: str | None) -> None:
        """Undo a push: put the remote branch back where it was, or delete it if it did not exist."""
        if previous is None:
            refspec = [f":refs/heads/{branch}"]
        else:
            refspec = ["--force", f"{previous}:refs/heads/{branch}"]
            git(
                ["fetch", "--quiet", "origin", previous], cwd=self.path, env=self.remote.auth_env, check=False
            )
        git(["push", "--quiet", "origin", *refspec], cwd=self.path, env=self.remote.auth_env, check=False)


def ensure_local_remote(bare: Path, project_root: Path) -> GitopsRemote:
    """The embedded default's remote: a bare repository under ``.mlops/``, seeded on first use.

    Seeded from the checkout's committed history when it is a git repository (so the remote looks like
    the project's GitHub repository), else from the checkout's ``gitops/`` folder as it is on disk.
    """
    if not (bare / "HEAD").is_file():
        bare.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".seed-", dir=bare.parent))
        try:
            _seed(staging / "gitops.git", project_root)
            (staging / "gitops.git").rename(bare)
        except OSError:
            if not (bare / "HEAD").is_file():  # else another process seeded it first: use theirs
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return GitopsRemote(url=str(bare))


def _seed(bare: Path, project_root: Path) -> None:
    commit = _committed_head(project_root)
    if commit is not None:
        git(["clone", "--quiet", "--bare", "--no-tags", str(project_root), str(bare)])
        git(["update-ref", f"refs/heads/{DEFAULT_BRANCH}", commit], cwd=bare)
    else:
        git(["init", "--quiet", "--bare", str(bare)])
        _seed_from_files(bare, project_root)
    git(["symbolic-ref", "HEAD", f"refs/heads/{DEFAULT_BRANCH}"], cwd=bare)
    git(["config", "receive.denyDeleteCurrent", "true"], cwd=bare)


def _committed_head(project_root: Path) -> str | None:
    try:
        return git(["rev-parse", "--verify", "--quiet", "HEAD"], cwd=project_root) or None
    except (GitError, FileNotFoundError):
        return None


def _seed_from_files(bare: Path, project_root: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="seed-"))
    try:
        git(["init", "--quiet", "-b", DEFAULT_BRANCH, str(work)])
        for name in SEED_PATHS:
            if not (project_root / name).is_dir():
                raise GitopsError(
                    f"cannot seed the local gitops remote: {project_root / name} does not exist"
                )
            shutil.copytree(project_root / name, work / name)
        git(["add", "--all"], cwd=work)
        git(["commit", "--quiet", "-m", "Seed the gitops remote from the checkout"], cwd=work)
        git(["push", "--quiet", str(bare), f"HEAD:refs/heads/{DEFAULT_BRANCH}"], cwd=work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
