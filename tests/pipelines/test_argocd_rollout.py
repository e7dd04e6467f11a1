""".pipelines/scripts/argocd_rollout.py: the verdict deploy-prod reads from the prod Application.

The Application objects are shaped as Argo CD's controller writes them (controller/appcontroller.go autoSync,
controller/sync.go: an operation a sync window blocks stays Running with "Sync operation blocked by sync
window"). The rehearsal runs the script for real; these tests cover every verdict and the waiting.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from model_contract.pins import NO_IMAGE_DIGEST
from tests.pipelines.pipeline_files import PIPELINES_DIR
from tests.pipelines.rehearsal.scenarios import (
    ABORTED_CANARY,
    BLOCKED_BY_WINDOW,
    aborted_canary,
    argo_application,
)

_spec = importlib.util.spec_from_file_location(
    "argocd_rollout", PIPELINES_DIR / "scripts" / "argocd_rollout.py"
)
rollout = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = rollout  # dataclasses look their module up there
_spec.loader.exec_module(rollout)

MERGED, LATER, BEFORE = "c" * 40, "d" * 40, "b" * 40


def contains(revision: str) -> bool:
    """The merged commit is in itself and in the later merge, not in what came before."""
    return revision in (MERGED, LATER)


@pytest.mark.parametrize(
    ("application", "verdict"),
    [
        (argo_application(MERGED, "Succeeded", "Healthy"), "healthy"),
        (argo_application(LATER, "Succeeded", "Healthy"), "healthy"),
        (
            argo_application(MERGED, "Failed", "Healthy", "PostSync Job estimation-engine-smoke-test failed"),
            "failed",
        ),
        (argo_application(MERGED, "Error", "Missing", "rpc error"), "failed"),
        (argo_application(MERGED, "Succeeded", "Degraded"), "failed"),
        (argo_application(MERGED, "Running", "Healthy", BLOCKED_BY_WINDOW, synced=BEFORE), "deferred"),
        (argo_application(BEFORE, "Running", "Healthy", BLOCKED_BY_WINDOW), "deferred"),
        (argo_application(MERGED, "Running", "Progressing", "waiting for PostSync hook"), None),
        (argo_application(BEFORE, "Succeeded", "Healthy"), None),
        (argo_application(BEFORE, "Failed", "Degraded"), None),
        ({"status": {}}, None),
    ],
    ids=[
        "synced",
        "later-merge-synced",
        "hook-failed",
        "error",
        "degraded",
        "window",
        "window-older-op",
        "running",
        "not-yet",
        "older-failure",
        "no-status",
    ],
)
def test_each_application_state_gives_its_verdict(application, verdict):
    assert rollout.observe(application, contains).verdict == verdict


def test_an_aborted_canary_is_a_failure_at_once_while_argo_cd_still_retries():
    """Argo CD retries the failed sync of the same revision, which cannot un-abort the Rollout: the verdict
    does not wait for the retries, and names the metric that failed."""
    observation = rollout.observe(aborted_canary(MERGED), contains)
    assert observation.verdict == "failed"
    assert "Rollout estimation-engine" in observation.reason and ABORTED_CANARY in observation.reason
    assert rollout.observe(aborted_canary(MERGED, retrying=False), contains).verdict == "failed"


def test_an_aborted_canary_of_an_older_revision_is_not_blamed_on_the_merged_commit():
    assert rollout.observe(aborted_canary(BEFORE), contains).verdict is None


def test_a_rollout_still_in_its_canary_steps_is_waited_for():
    """Argo CD keeps the sync Running until the Rollout is Healthy (all steps passed): no verdict yet."""
    application = argo_application(
        MERGED, "Running", "Progressing", "waiting for healthy state of argoproj.io/Rollout/estimation-engine"
    )
    application["status"]["operationState"]["syncResult"]["resources"] = [
        {"group": "argoproj.io", "kind": "Rollout", "name": "estimation-engine", "hookPhase": "Running",
         "message": "more replicas need to be updated"}
    ]  # fmt: skip
    assert rollout.observe(application, contains).verdict is None


def test_an_older_failure_is_not_blamed_on_the_merged_commit():
    """Argo CD not having picked up the merge yet must not open a rollback for it."""
    observation = rollout.observe(argo_application(BEFORE, "Failed", "Degraded"), contains)
    assert observation.verdict is None and BEFORE[:12] in observation.reason


def test_a_commit_that_renders_nothing_new_is_healthy_without_a_sync():
    application = argo_application(BEFORE, "Succeeded", "Healthy", synced=MERGED)
    assert rollout.observe(application, contains).verdict == "healthy"


class FakeCluster:
    application = "estimation-engine-prod"

    def __init__(self, *answers: dict | None) -> None:
        self.answers, self.reads, self.commit = list(answers), 0, MERGED

    def read(self) -> dict | None:
        self.reads += 1
        return self.answers[min(self.reads, len(self.answers)) - 1]

    def contains(self, revision: str) -> bool:
        return contains(revision)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_waiting_polls_until_argo_cd_has_synced_the_commit():
    cluster = FakeCluster(argo_application(BEFORE, "Succeeded", "Healthy"), argo_application(MERGED, "Running", "Progressing"),
                          argo_application(MERGED, "Succeeded", "Healthy"))  # fmt: skip
    clock = Clock()
    assert rollout.wait(cluster, 600, 15, clock, clock.sleep).verdict == "healthy"
    assert cluster.reads == 3 and clock.now == 30


def test_waiting_ends_in_timeout_at_the_deadline():
    clock = Clock()
    observation = rollout.wait(
        FakeCluster(argo_application(BEFORE, "Succeeded", "Healthy")), 60, 15, clock, clock.sleep
    )
    assert observation.verdict == "timeout" and clock.now == 60


def test_the_verdict_becomes_the_rollout_variable(monkeypatch, capsys):
    monkeypatch.setattr(
        rollout,
        "Cluster",
        lambda *args: FakeCluster(argo_application(MERGED, "Failed", "Healthy", "hook failed")),
    )
    assert rollout.main(["--application", "estimation-engine-prod", "--commit", MERGED]) == 0
    out = capsys.readouterr().out
    assert (
        "##vso[task.setvariable variable=ROLLOUT]failed" in out and "##vso[task.logissue type=error]" in out
    )


def test_an_unreadable_application_is_an_error_not_a_verdict(monkeypatch, capsys):
    class Forbidden(FakeCluster):
        def read(self) -> dict:
            raise RuntimeError("Error from server (Forbidden)")

    monkeypatch.setattr(rollout, "Cluster", lambda *args: Forbidden())
    assert rollout.main(["--application", "estimation-engine-prod", "--commit", MERGED]) == 2
    assert "ROLLOUT" not in capsys.readouterr().out


def test_no_application_for_an_overlay_pinning_no_image_is_not_deployed(tmp_path):
    overlay = tmp_path / "kustomization.yaml"
    overlay.write_text(f"images:\n  - name: estimation-engine\n    digest: {NO_IMAGE_DIGEST}\n")
    clock = Clock()
    observation = rollout.wait(FakeCluster(None), 60, 15, clock, clock.sleep, overlay=overlay)
    assert observation.verdict == "not-deployed" and clock.now == 0


def test_no_application_yet_for_a_pinned_image_is_waited_for_until_the_applicationset_creates_it(tmp_path):
    overlay = tmp_path / "kustomization.yaml"
    overlay.write_text("images:\n  - name: estimation-engine\n    digest: sha256:" + "ab" * 32 + "\n")
    clock = Clock()
    cluster = FakeCluster(None, None, argo_application(MERGED, "Succeeded", "Healthy"))
    observation = rollout.wait(cluster, 600, 15, clock, clock.sleep, overlay=overlay)
    assert observation.verdict == "healthy" and cluster.reads == 3


def test_the_placeholder_digest_is_the_pin_contracts():
    assert rollout.NO_IMAGE_DIGEST == NO_IMAGE_DIGEST
