"""When a stage, job or step runs: what it depends on, and what its condition's status functions see.

As documented (https://learn.microsoft.com/azure/devops/pipelines/process/conditions and
.../process/stages): a stage depends on the previous one unless ``dependsOn`` says otherwise, a job on
none; a condition defaults to ``succeeded()``, which for a stage or job asks about its dependencies and for
a step about the previous steps of its job.
"""

from __future__ import annotations

SUCCEEDED = ("Succeeded", "SucceededWithIssues")


def stage_dependencies(stage: dict, order: list[str], name: str) -> list[str]:
    if "dependsOn" in stage:
        value = stage["dependsOn"]
        return [value] if isinstance(value, str) else list(value or [])
    index = order.index(name)
    return order[index - 1 : index] if index else []


def job_dependencies(job: dict) -> list[str]:
    value = job.get("dependsOn", [])
    return [value] if isinstance(value, str) else list(value or [])


def dependency_status(results: list[str]):
    def status(function: str, names: tuple[str, ...]) -> bool:
        chosen = results
        if function == "always":
            return True
        if function == "canceled":
            return False
        if function == "succeeded":
            return all(r in SUCCEEDED for r in chosen)
        if function == "failed":
            return any(r == "Failed" for r in chosen)
        return all(r in (*SUCCEEDED, "Failed") for r in chosen)  # succeededOrFailed

    return status


def step_status(failed: bool):
    def status(function: str, names: tuple[str, ...]) -> bool:
        return {"succeeded": not failed, "failed": failed, "succeededorfailed": True, "always": True,
                "canceled": False}[function]  # fmt: skip

    return status
