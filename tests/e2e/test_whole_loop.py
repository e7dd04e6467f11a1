"""The whole loop, as a newcomer runs it, in a temporary copy of the repository.

`scripts/demo.py` (what `make demo` runs) goes from data to a served, pinned model; then the test checks
each step's effect on the real parts it left behind — the bare gitops remote, the SQLite registry, the
engine over HTTP: the first model, the second one the demo forces through to prod for its canary, and a
rollback.
Everything runs as subprocesses of the copy's own code (PYTHONPATH points at the copy).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from delivery.git import git
from tests.conftest import AMES, REPO_ROOT, small_config_dict

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's tracked files in a fresh git repository, plus a fast training config."""
    root = tmp_path_factory.mktemp("e2e") / "repo"
    for relative in git(["ls-files"], cwd=REPO_ROOT).splitlines():
        source = REPO_ROOT / relative
        if source.is_file():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / relative)
    import pandas as pd

    pd.read_csv(AMES).sample(n=900, random_state=7).to_csv(root / "e2e-slice.csv", index=False)
    for seed in (42, 43):
        (root / f"e2e-{seed}.yaml").write_text(yaml.safe_dump(small_config_dict("e2e-slice.csv", seed=seed)))
    git(["init", "--quiet", "-b", "main", str(root)])
    git(["add", "--all"], cwd=root)
    git(["commit", "--quiet", "-m", "A fresh clone"], cwd=root)
    return root


def run(copy: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("MLOPS_HOME", "MLFLOW_TRACKING_URI")}
    completed = subprocess.run(
        [sys.executable, *args], cwd=copy, env={**environment, "PYTHONPATH": str(copy)},
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if check and completed.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {completed.returncode}:\n{completed.stdout}\n{completed.stderr}"
        )
    return completed


def remote(copy: Path) -> Path:
    return copy / ".mlops" / "gitops.git"


def pin(copy: Path, env: str) -> dict[str, str]:
    lines = run(copy, "-m", "delivery", "pins", "--env", env).stdout.splitlines()
    return dict(line.split("=", 1) for line in lines)


def pin_history(copy: Path, env: str) -> list[str]:
    """Each first-parent change of the env's model.env on main since the clone, newest first, as diffs."""
    path = f"gitops/apps/estimation-engine/overlays/{env}/model.env"
    since_clone = f"{git(['rev-parse', 'HEAD'], cwd=copy)}..main"
    commits = git(["rev-list", "--first-parent", since_clone, "--", path], cwd=remote(copy)).split()
    return [git(["diff", f"{commit}^1", commit, "--", path], cwd=remote(copy)) for commit in commits]


def changed_lines(chunk: str) -> list[str]:
    return [line for line in chunk.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def merge_open(copy: Path) -> None:
    listed = run(copy, "-m", "delivery", "prs").stdout.splitlines()
    for line in listed:
        if line.startswith("#"):
            run(copy, "-m", "delivery", "merge", line.split()[0].lstrip("#"))


@contextmanager
def serving(copy: Path, env: str) -> Iterator[str]:
    """The engine with ``env``'s pin on loopback, against the copy's local registry; stopped by PID."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    variables = {**os.environ, **pin(copy, env), "PYTHONPATH": str(copy), "ENGINE_HOST": "127.0.0.1",
                 "ENGINE_PORT": str(port), "MLFLOW_TRACKING_URI": registry_uri(copy, env)}  # fmt: skip
    variables.pop("MLOPS_HOME", None)
    process = subprocess.Popen([sys.executable, "-m", "estimation_engine", "serve"], cwd=copy, env=variables,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def registry_uri(copy: Path, env: str) -> str:
    """The environment's own local registry, as each cloud environment has its own workspace."""
    return f"sqlite:///{copy / '.mlops' / 'registries' / env / 'mlflow.db'}"


def registered(copy: Path, env: str) -> list:
    from model_contract.registry import ModelRegistry

    return ModelRegistry(registry_uri(copy, env)).versions("ames-price")


def served(copy: Path, env: str) -> dict:
    with serving(copy, env) as url:
        run(copy, "-m", "estimation_engine", "smoke", "--url", url, "--wait", "60")
        return httpx.get(f"{url}/v1/model", timeout=10).json()


def served_version(copy: Path, env: str) -> int:
    return served(copy, env)["version"]


def test_the_demo_loop_then_a_second_model_promoted_and_rolled_back(copy):
    demo = run(copy, "scripts/demo.py", "--config", "e2e-42.yaml")
    assert "smoke test passed" in demo.stdout
    assert "verdict: no improvement" in demo.stdout and "pins unchanged: True" in demo.stdout
    # The demo's canary: a second model (another split seed) forced through dev -> qa -> prod, served beside
    # the first, which it compares with; the analysis's verdict is printed.
    assert "--force" in demo.stdout and "shadow-median-abs-log-ratio" in demo.stdout
    # Every property sent was accounted for: compared, or dropped while the comparison was behind.
    assert "the canary compared" in demo.stdout
    assert "verdict: Successful" in demo.stdout or "verdict: Failed" in demo.stdout

    # Every environment pins the second version; each pin change on main touched exactly one line of model.env.
    assert {env: pin(copy, env)["MODEL_VERSION"] for env in ("dev", "qa", "prod")} == {
        "dev": "2",
        "qa": "2",
        "prod": "2",
    }
    for env in ("dev", "qa", "prod"):
        latest, first = pin_history(copy, env)
        assert changed_lines(first) == ["-MODEL_VERSION=", "+MODEL_VERSION=1"]
        assert changed_lines(latest) == ["-MODEL_VERSION=1", "+MODEL_VERSION=2"]
    # Prod's canary compares with the version it replaced: written by the same merge as the pin.
    assert shadow_pin(copy) == "SHADOW_MODEL_VERSION=1\n"

    # Each environment numbers versions in its own registry; prod serves, byte for byte, what dev trained.
    assert [len(registered(copy, env)) for env in ("dev", "qa", "prod")] == [2, 2, 2]
    prod = served(copy, "prod")
    assert prod["version"] == 2 and prod["sha256"] == registered(copy, "dev")[1].sha256

    # A second promotion registers nothing new: the copy is found in the target and the pin stands.
    again = run(copy, "-m", "delivery", "promote", "--from", "dev", "--to", "qa", check=False)
    assert again.returncode == 2 and "qa already runs ames-price v2" in again.stderr
    assert len(registered(copy, "qa")) == 2

    # Retraining the pinned model's config again changes nothing: no new commit on the remote, no new PR.
    refs = git(["for-each-ref"], cwd=remote(copy))
    prs = (copy / ".mlops" / "pull-requests.json").read_text()
    again = run(copy, "-m", "training", "run", "--env", "dev", "--config", ".mlops/demo-challenger.yaml")
    assert "verdict: no improvement" in again.stdout
    assert git(["for-each-ref"], cwd=remote(copy)) == refs
    assert (copy / ".mlops" / "pull-requests.json").read_text() == prs

    # Rollback is a PR too; once merged, prod serves the previous version again, and its canary would
    # compare with what that version was compared with (nothing: it was the first).
    run(copy, "-m", "delivery", "rollback", "--env", "prod")
    merge_open(copy)
    assert pin(copy, "prod")["MODEL_VERSION"] == "1"
    assert shadow_pin(copy) == "SHADOW_MODEL_VERSION=\n"
    assert served_version(copy, "prod") == 1


def shadow_pin(copy: Path) -> str:
    path = "gitops/apps/estimation-engine/overlays/prod/previous-model.env"
    return git(["show", f"main:{path}"], cwd=remote(copy)) + "\n"
