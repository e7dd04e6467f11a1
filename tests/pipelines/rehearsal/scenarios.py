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


def prod_cluster(*applications: dict) -> dict[str, Any]:
    """The prod cluster holding the prod Application; several answer successive reads in turn."""
    answer: Any = applications[0] if len(applications) == 1 else list(applications)
    return {"kubernetes": {"argocd": {"applications.argoproj.io": {PROD_APPLICATION: answer}}}}
