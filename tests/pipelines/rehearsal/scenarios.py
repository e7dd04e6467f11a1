"""Building blocks of rehearsal scenarios: what the cloud answers (see the stand-ins for the format)."""

from __future__ import annotations

from typing import Any

PROD_APPLICATION = "estimation-engine-prod"
BLOCKED_BY_WINDOW = "Sync operation blocked by sync window"


def argo_application(
    revision: str, phase: str, health: str, message: str = "", synced: str | None = None
) -> dict:
    """An Argo CD Application whose last sync operation was for ``revision``, as the controller writes it."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": PROD_APPLICATION, "namespace": "argocd"},
        "status": {
            "sync": {
                "status": "Synced" if phase == "Succeeded" else "OutOfSync",
                "revision": synced or revision,
            },
            "health": {"status": health},
            "operationState": {
                "phase": phase,
                "message": message,
                "operation": {"sync": {"revision": revision}, "initiatedBy": {"automated": True}},
                "syncResult": {"revision": revision},
            },
        },
    }


ABORTED_CANARY = (
    'RolloutAborted: Rollout aborted update to revision 4: Metric "shadow-moved-share" assessed Failed due '
    "to failed (2) > failureLimit (1)"
)


def aborted_canary(revision: str, retrying: bool = True) -> dict:
    """The prod Application while Argo CD syncs ``revision`` and prod's Rollout aborts its canary: the sync
    task of the Rollout failed with the Rollout's health message, and Argo CD retries the operation
    (gitops-engine sync_context.go setResourceResult; controller/appcontroller.go "Retrying attempt")."""
    message = "one or more synchronization tasks completed unsuccessfully"
    application = argo_application(
        revision,
        "Running" if retrying else "Failed",
        "Degraded",
        f"{message}. Retrying attempt #1 at 10:42AM." if retrying else f"{message} (retried 5 times).",
    )
    application["status"]["operationState"]["syncResult"]["resources"] = [
        {"group": "", "kind": "ConfigMap", "name": "estimation-engine-model-5bk8tmgf2h", "namespace":
         "estimation-engine", "status": "Synced", "syncPhase": "Sync", "hookPhase": "Succeeded",
         "message": "configmap/estimation-engine-model-5bk8tmgf2h created"},
        {"group": "argoproj.io", "kind": "Rollout", "name": "estimation-engine", "namespace":
         "estimation-engine", "status": "Synced", "syncPhase": "Sync", "hookPhase": "Failed",
         "message": ABORTED_CANARY},
    ]  # fmt: skip
    return application


def prod_cluster(*applications: dict) -> dict[str, Any]:
    """The prod cluster holding the prod Application; several answer successive reads in turn."""
    answer: Any = applications[0] if len(applications) == 1 else list(applications)
    return {"kubernetes": {"argocd": {"applications.argoproj.io": {PROD_APPLICATION: answer}}}}
