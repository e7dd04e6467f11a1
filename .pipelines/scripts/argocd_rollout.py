"""Argo CD's verdict on a merged commit: read the Application until it has synced the commit, then say how.

    python .pipelines/scripts/argocd_rollout.py --application estimation-engine-prod --commit <sha>

Only the Application object is read (``kubectl get applications.argoproj.io``, the one thing the pipeline's
principal may read in the ``argocd`` namespace), never an Argo CD API server and never the workload: the
cluster verifies the deployment itself, in the PostSync hook (gitops/apps/estimation-engine/base/
smoke-test-job.yaml) that fails the sync when the engine's smoke test fails.

Verdicts, written as the pipeline variable ROLLOUT (``##vso[task.setvariable]``) and printed:

* ``healthy``  - the last sync operation synced a revision containing the commit, succeeded (its PostSync
  smoke test included) and the Application is Healthy;
* ``failed``   - that operation Failed or Errored (after Argo CD's own retries), or it succeeded but the
  Application is Degraded, or the operation reports prod's Rollout aborted (its canary analysis failed, or
  the canary never became ready): the only verdict that asks for a rollback. An aborted Rollout is final
  at once: the stable pods serve again and stay aborted until the Rollout's template changes, so Argo CD's
  retries of the same revision cannot help and are not waited for;
* ``deferred`` - a sync window blocks the sync (Argo CD keeps the operation Running with the message
  "Sync operation blocked by sync window", controller/sync.go): the change has not been deployed, so there
  is nothing to roll back; it deploys when the window closes;
* ``not-deployed`` - there is no Application and the checkout's overlay pins no image yet (the all-zero
  digest): the ApplicationSet's selector creates no Application for such pins (gitops/argocd/
  applicationset.yaml), so nothing was deployed and there is nothing to roll back;
* ``timeout``  - none of these before the deadline: a person looks, nothing is rolled back.

An absent Application whose overlay pins a real image is waited for: the ApplicationSet controller creates
it when its git generator next reads the pins (it polls every three minutes by default: argo-cd
applicationset/generators/git.go, GetRequeueAfter).

Exit status 0 for every verdict (the pipeline decides what each means); 2 when the Application cannot be
read at all. A revision "contains" the commit when the commit is its ancestor (git merge-base
--is-ancestor): Argo CD may sync a later merge that includes this one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BLOCKED_BY_WINDOW = "Sync operation blocked by sync window"
# Argo Rollouts v1.9 writes the Rollout's status.message as "<reason>: <message>" (utils/rollout/
# rolloututil.go CalculateRolloutPhase); Argo CD's health check (resource_customizations/argoproj.io/
# Rollout/health.lua) surfaces it as the resource's health message, and the sync records it in
# operationState.syncResult.resources[] with hookPhase Failed (gitops-engine sync_context.go).
ROLLOUT_ABORTED = "RolloutAborted"
VERDICTS = ("healthy", "failed", "deferred", "not-deployed", "timeout")
NO_IMAGE_DIGEST = "sha256:" + "0" * 64  # model_contract.pins.NO_IMAGE_DIGEST: the overlay pins no image yet


@dataclass(frozen=True)
class Observation:
    """What one read of the Application says about the commit: a final verdict, or None to keep waiting."""

    verdict: str | None
    reason: str


def observe(application: dict, contains: Callable[[str], bool]) -> Observation:
    """Judge the commit from the Application's status (``contains(revision)``: the revision includes it)."""
    status = application.get("status") or {}
    operation = status.get("operationState") or {}
    phase = operation.get("phase", "")
    message = operation.get("message", "")
    revision = (operation.get("syncResult") or {}).get("revision") or (
        (operation.get("operation") or {}).get("sync") or {}
    ).get("revision", "")
    health = (status.get("health") or {}).get("status", "")
    if phase == "Running" and message.startswith(BLOCKED_BY_WINDOW):
        return Observation(
            "deferred", f"{message} (revision {revision[:12] or 'unknown'} waits for the window to close)"
        )
    if not revision or not contains(revision):
        sync = status.get("sync") or {}
        compared = sync.get("revision", "")
        if sync.get("status") == "Synced" and compared and contains(compared) and health == "Healthy":
            # The commit changed nothing Argo CD renders for this Application: no sync was needed.
            return Observation("healthy", f"{compared[:12]} renders what is already live: Synced and Healthy")
        return Observation(
            None,
            f"last operation is for {revision[:12] or 'nothing'}; Argo CD compares {compared[:12] or 'nothing'}",
        )
    aborted = _aborted_rollout(operation)
    if aborted:
        return Observation("failed", f"sync of {revision[:12]} stopped: prod's canary was aborted: {aborted}")
    if phase in ("Failed", "Error"):
        return Observation("failed", f"sync of {revision[:12]} {phase.lower()}: {message}")
    if phase == "Succeeded" and health == "Healthy":
        return Observation(
            "healthy", f"sync of {revision[:12]} succeeded (PostSync smoke test included), Healthy"
        )
    if phase == "Succeeded" and health == "Degraded":
        return Observation(
            "failed",
            f"sync of {revision[:12]} succeeded but the Application is Degraded: {_health_message(status)}",
        )
    return Observation(None, f"sync of {revision[:12]} is {phase or 'pending'}, health {health or 'unknown'}")


def _aborted_rollout(operation: dict) -> str:
    """The message of an aborted Rollout among the operation's resource results, or ``""``."""
    for result in (operation.get("syncResult") or {}).get("resources") or []:
        if (
            result.get("group") == "argoproj.io"
            and result.get("kind") == "Rollout"
            and result.get("hookPhase") in ("Failed", "Error")
            and str(result.get("message", "")).startswith(ROLLOUT_ABORTED)
        ):
            return f"Rollout {result.get('name', '?')}: {result['message']}"
    return ""


def _health_message(status: dict) -> str:
    return (status.get("health") or {}).get("message") or "see `kubectl -n argocd describe application`"


class Cluster:
    """Reads the Application with kubectl, and answers "does this revision contain the commit" with git."""

    def __init__(self, application: str, namespace: str, commit: str) -> None:
        self.application, self.namespace, self.commit = application, namespace, commit
        self.fetched = False

    def read(self) -> dict | None:
        """The Application, or None when the cluster has none of that name."""
        result = subprocess.run(
            ["kubectl", "get", "applications.argoproj.io", self.application, "--namespace", self.namespace,
             "--output", "json"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if result.returncode != 0 and "(NotFound)" in result.stderr:
            return None
        if result.returncode != 0:
            raise RuntimeError(
                f"cannot read Application {self.namespace}/{self.application}: {result.stderr.strip()}"
            )
        return json.loads(result.stdout)

    def contains(self, revision: str) -> bool:
        if not self._known(revision) and not self.fetched:
            # A later merge than the pipeline's checkout: fetch main once (persisted checkout credentials).
            self.fetched = True
            subprocess.run(
                ["git", "fetch", "--quiet", "origin", "main"], capture_output=True, timeout=120, check=False
            )
        if not self._known(revision):
            return False
        return (
            subprocess.run(
                ["git", "merge-base", "--is-ancestor", self.commit, revision], check=False
            ).returncode
            == 0
        )

    @staticmethod
    def _known(revision: str) -> bool:
        return (
            subprocess.run(
                ["git", "cat-file", "-e", f"{revision}^{{commit}}"], capture_output=True, check=False
            ).returncode
            == 0
        )


def absent(application: str, pins_an_image: bool) -> Observation:
    """No Application: final when the overlay pins no image (the ApplicationSet will not create one)."""
    if not pins_an_image:
        return Observation(
            "not-deployed",
            f"no Application {application}: the overlay pins no image yet (the all-zero digest), so the "
            "ApplicationSet creates none and nothing was deployed; it appears once a real digest is merged",
        )
    return Observation(None, f"no Application {application} yet: the ApplicationSet creates it from the pins")


def pins_an_image(overlay: Path | None) -> bool:
    """Does the overlay's kustomization.yaml pin the engine image by a real digest (not the placeholder)?"""
    return overlay is None or NO_IMAGE_DIGEST not in overlay.read_text()


def wait(
    cluster: Cluster,
    timeout_seconds: float,
    poll_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    overlay: Path | None = None,
) -> Observation:
    deadline = clock() + timeout_seconds
    last = ""
    image_pinned = pins_an_image(overlay)
    while True:
        application = cluster.read()
        observation = (
            absent(cluster.application, image_pinned)
            if application is None
            else observe(application, cluster.contains)
        )
        if observation.reason != last:
            print(f"argocd: {observation.reason}", flush=True)
            last = observation.reason
        if observation.verdict is not None:
            return observation
        if clock() >= deadline:
            return Observation(
                "timeout",
                f"no verdict on {cluster.commit[:12]} within {timeout_seconds:.0f}s: {observation.reason}",
            )
        sleep(poll_seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--application", required=True)
    parser.add_argument("--namespace", default="argocd")
    parser.add_argument("--commit", required=True, help="the merged commit whose deployment is judged")
    parser.add_argument("--timeout-seconds", type=float, default=1800)
    parser.add_argument("--poll-seconds", type=float, default=15)
    parser.add_argument(
        "--overlay",
        type=Path,
        help="the environment's overlay kustomization.yaml in the checkout (says whether it pins an image)",
    )
    args = parser.parse_args(argv)
    try:
        outcome = wait(
            Cluster(args.application, args.namespace, args.commit),
            args.timeout_seconds,
            args.poll_seconds,
            overlay=args.overlay,
        )
    except (RuntimeError, json.JSONDecodeError, OSError) as error:
        print(f"##vso[task.logissue type=error]{error}")
        return 2
    level = {"healthy": None, "deferred": "warning", "not-deployed": "warning"}.get(outcome.verdict, "error")
    print(f"##vso[task.logissue type={level}]{outcome.reason}" if level else f"argocd: {outcome.reason}")
    print(f"##vso[task.setvariable variable=ROLLOUT]{outcome.verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
