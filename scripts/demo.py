"""``make demo``: the main job on the embedded default, twice, the way a team runs it.

1. Train on the shipped Ames data, gate against dev's pinned champion, register, open the bump PR on the
   local gitops remote, and merge it (a person would review it first).
2. Train again on the same data with the same seed: the challenger ties the champion, so the run ends
   with "no improvement" — exit code 0, nothing registered, nothing bumped.

State lives in .mlops/ (git-ignored); running the demo again continues from there.
"""

from __future__ import annotations

import sys
import time

from training.cli import main as training
from training.local_state import state_dir
from training.services import local_pull_requests


def banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def merge_open_bumps(env: str) -> list[int]:
    """Merge the open bump PRs for ``env``: in real life this is a reviewer pressing the button."""
    provider = local_pull_requests()
    merged = []
    for pr in provider.list_open():
        if pr.head.startswith(f"mlops/{env}/"):
            print(f"$ python -m training merge {pr.number}")
            training(["merge", str(pr.number)])
            merged.append(pr.number)
    return merged


def run_job(env: str) -> None:
    print(f"$ python -m training run --env {env}", flush=True)
    if training(["run", "--env", env]) != 0:
        sys.exit("demo: the training job failed (see the message above)")


def main() -> int:
    started = time.perf_counter()
    banner("1. train, gate against dev's champion, register, open the bump PR")
    run_job("dev")
    banner("merge the bump PR (a reviewer would do this)")
    if not merge_open_bumps("dev"):
        print("nothing to merge: dev already pins the best model")
    banner("2. retrain on the same data: the gate must say 'no improvement'")
    run_job("dev")
    banner("where things are")
    print("$ python -m training pins --env dev\n", end="")
    training(["pins", "--env", "dev"])
    state = state_dir()
    print(f"registry and runs: {state / 'mlflow.db'} (artifacts in {state / 'mlartifacts'})")
    print(f"decision records and plots: {state / 'runs'}/<run id>/")
    print(f"gitops remote: {state / 'gitops.git'}; pull requests: python -m training prs --all")
    print(
        f"MLflow UI: .venv/bin/mlflow ui --backend-store-uri sqlite:///{state / 'mlflow.db'} --host 127.0.0.1"
    )
    print(f"\ndemo finished in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
