"""Submitting the pipeline job or its schedule to the workspace, and reporting what the run decided.

``MLClient`` is made by a factory so that tests pass a fake: nothing here is exercised against Azure in
the test suite. The real factory authenticates with ``DefaultAzureCredential`` (the Azure CLI login in a
pipeline's AzureCLI task, a managed identity, or environment credentials).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.azureml.handoff import BUMP_FILE, REGISTRATION_FILE
from training.azureml.workspace import WorkspaceTarget
from training.decision_record import DECISION_FILE

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.ai.ml.entities import JobSchedule, PipelineJob

ClientFactory = Callable[[WorkspaceTarget], "MLClient"]
Report = Callable[[str], None]
# Pipeline outputs whose record files summarise a run: output name -> file inside it.
SUMMARY_OUTPUTS = {"decision": DECISION_FILE, "registration": REGISTRATION_FILE, "bump": BUMP_FILE}


@dataclass
class SubmissionResult:
    job_name: str
    status: str
    studio_url: str | None
    records: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == "Completed"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def workspace_client(target: WorkspaceTarget) -> MLClient:
    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential

    target.require_workspace()
    return MLClient(
        DefaultAzureCredential(),
        subscription_id=target.subscription_id,
        resource_group_name=target.resource_group,
        workspace_name=target.workspace_name,
    )


def submit(
    job: PipelineJob,
    target: WorkspaceTarget,
    wait: bool = True,
    client_factory: ClientFactory | None = None,
    report: Report = print,
) -> SubmissionResult:
    """Create the job; with ``wait``, stream its logs until it ends and collect the steps' records."""
    client = (client_factory or workspace_client)(target)
    created = client.jobs.create_or_update(job, experiment_name=job.experiment_name)
    report(f"submitted {created.name} to {target.workspace_name}: {created.studio_url}")
    if not wait:
        return SubmissionResult(created.name, str(created.status), created.studio_url)
    try:
        client.jobs.stream(created.name)
    except Exception as error:  # stream raises when the job fails; the status below says how
        report(f"job {created.name} did not complete: {error}")
    final = client.jobs.get(created.name)
    result = SubmissionResult(created.name, str(final.status), created.studio_url)
    if result.succeeded:
        result.records = _collect_records(client, created.name, job, report)
    return result


def create_schedule(
    schedule: JobSchedule,
    target: WorkspaceTarget,
    client_factory: ClientFactory | None = None,
    report: Report = print,
) -> str:
    """Create or update the schedule (same name: updated in place); returns its name."""
    client = (client_factory or workspace_client)(target)
    created = client.schedules.begin_create_or_update(schedule).result()
    report(
        f"schedule {created.name}: {created.trigger.expression} ({created.trigger.time_zone}) in {target.workspace_name}"
    )
    return created.name


def describe(result: SubmissionResult) -> list[str]:
    """Lines for a person (and a pipeline log): what the run decided and did."""
    lines = [f"job {result.job_name}: {result.status}"]
    decision = result.records.get("decision")
    if decision:
        lines.append(f"verdict: {decision['verdict']['reason']}")
    registration = result.records.get("registration")
    if registration:
        lines.append(f"registration: {registration['reason']}")
    bump = result.records.get("bump")
    if bump:
        where = f" #{bump['number']} {bump['url']}" if bump.get("number") else ""
        lines.append(f"pull request: {bump['status']}{where}")
    return lines


def _collect_records(client: MLClient, job_name: str, job: PipelineJob, report: Report) -> dict[str, Any]:
    records: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pipeline-outputs-") as folder:
        for output, file_name in SUMMARY_OUTPUTS.items():
            if output not in job.outputs:
                continue
            client.jobs.download(name=job_name, download_path=folder, output_name=output)
            found = sorted(Path(folder).rglob(file_name))
            if not found:
                report(f"warning: output {output} of {job_name} has no {file_name}")
                continue
            records[output] = json.loads(found[0].read_text())
    return records
