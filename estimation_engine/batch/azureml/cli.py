"""``python -m estimation_engine.batch.azureml submit|schedule``: batch estimates on the Azure ML cluster.

    python -m estimation_engine.batch.azureml submit --env prod --input azureml:portfolio:3 --dry-run --yaml job.yml
    python -m estimation_engine.batch.azureml submit --env prod --input azureml:portfolio:3 --stack-outputs outputs.json
    python -m estimation_engine.batch.azureml schedule --env prod --input azureml:portfolio@latest \\
        --cron "0 2 * * *" --stack-outputs outputs.json

The model is the version ``--env``'s overlay pins at submission (or ``--model-version`` of ``--model-name``
/ ``MODEL_NAME``): a schedule keeps the version it was created with, so re-create it after a bump. The
workspace comes from the infra stack's outputs (``pulumi stack output --json --stack <env> > FILE``) or
from the flags, flags winning; the subscription from ``--subscription-id`` or ``AZURE_SUBSCRIPTION_ID``.
Exit status 2 for a refused command line, 1 when the job did not complete.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from model_contract.azureml_job_files import read_stack_outputs
from model_contract.config_error import ConfigError, Problem
from model_contract.pins import ENVIRONMENTS

# Workspace coordinate -> the infra program's stack output (infra/program.py).
STACK_OUTPUTS = {
    "resource_group": "resourceGroupName",
    "workspace_name": "workspaceName",
    "compute": "trainingComputeName",
    "client_id": "trainingClientId",
}
ClientFactory = Callable[[Mapping[str, str]], Any]


def main(argv: Sequence[str] | None = None, client_factory: ClientFactory | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.handler(args, client_factory or workspace_client)
    except ConfigError as error:
        for problem in error.problems:
            print(f"batch on azureml: {problem}", file=sys.stderr)
        return 2


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m estimation_engine.batch.azureml", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    commands = root.add_subparsers(required=True, metavar="COMMAND")
    submit = commands.add_parser("submit", help="run the batch-estimates pipeline once")
    _common(submit)
    submit.add_argument("--wait", action="store_true", help="stream the job's logs until it ends")
    submit.set_defaults(handler=_submit)
    schedule = commands.add_parser("schedule", help="create or update a schedule that runs it on a cron")
    _common(schedule)
    schedule.add_argument("--cron", required=True, help='cron expression, e.g. "0 2 * * *" (daily 02:00)')
    schedule.add_argument("--time-zone", default="UTC")
    schedule.add_argument("--name", help="schedule name (default <model>-batch-estimates)")
    schedule.set_defaults(handler=_schedule)
    return root


def _common(command: argparse.ArgumentParser) -> None:
    model = command.add_mutually_exclusive_group(required=True)
    model.add_argument("--env", choices=ENVIRONMENTS, help="use the version this environment's overlay pins")
    model.add_argument("--model-version", type=int, help="version of --model-name (default MODEL_NAME)")
    command.add_argument("--model-name")
    command.add_argument(
        "--checkout", type=Path, help="with --env: the checkout holding gitops/ (default: this one)"
    )
    command.add_argument("--input", required=True, help="portfolio: azureml:<asset>:<version> folder of CSV/Parquet files")  # fmt: skip
    command.add_argument("--output-name", help="estimates data asset name (default <model>-estimates)")
    command.add_argument("--output-version", help="estimates data asset version (default: the next one)")
    command.add_argument("--instances", type=int, default=1, help="cluster nodes (default 1)")
    command.add_argument("--processes-per-instance", type=int, default=2, help="worker processes per node (default 2)")  # fmt: skip
    command.add_argument("--files-per-call", type=int, default=1, help="files per run() call (default 1)")
    command.add_argument("--stack-outputs", type=Path, help="JSON of the infra stack's outputs")
    command.add_argument("--subscription-id")
    command.add_argument("--resource-group")
    command.add_argument("--workspace-name")
    command.add_argument(
        "--compute", help="compute cluster (default: the stack's training cluster, train-cpu)"
    )
    command.add_argument(
        "--dry-run", action="store_true", help="build and write the YAML only; needs no Azure"
    )
    command.add_argument("--yaml", type=Path, help="with --dry-run: where to write the YAML (default stdout)")


def job_settings(args: argparse.Namespace, workspace: Mapping[str, str]) -> Any:
    from estimation_engine.batch.azureml.pipeline_job import DEFAULT_COMPUTE, BatchJobSettings
    from estimation_engine.batch.batch_model import read_pin

    if args.env:
        pin = read_pin(args.env, args.checkout)
        name, version = pin.name, pin.version
    else:
        name, version = args.model_name or os.environ.get("MODEL_NAME", ""), args.model_version
        if not name:
            raise ConfigError.of(
                "--model-name", "not given and MODEL_NAME is not set", "a registered model name"
            )
    variables = {"AZURE_CLIENT_ID": workspace["client_id"]} if workspace.get("client_id") else {}
    return BatchJobSettings(
        model_name=name, model_version=version, portfolio=args.input,
        compute=workspace.get("compute") or DEFAULT_COMPUTE, instances=args.instances,
        processes_per_instance=args.processes_per_instance, files_per_call=args.files_per_call,
        output_name=args.output_name, output_version=args.output_version,
        environment_variables=variables, env=args.env,
    )  # fmt: skip


def workspace_from(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Stack outputs, then flags over them."""
    values: dict[str, str] = {}
    if args.stack_outputs is not None:
        outputs = read_stack_outputs(args.stack_outputs)
        values.update({key: outputs[output] for key, output in STACK_OUTPUTS.items() if outputs.get(output)})
    if environ.get("AZURE_SUBSCRIPTION_ID"):
        values["subscription_id"] = environ["AZURE_SUBSCRIPTION_ID"]
    flags = {"subscription_id": args.subscription_id, "resource_group": args.resource_group,
             "workspace_name": args.workspace_name, "compute": args.compute}  # fmt: skip
    values.update({key: value for key, value in flags.items() if value})
    return values


def workspace_client(workspace: Mapping[str, str]) -> Any:
    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential

    missing = [
        key for key in ("subscription_id", "resource_group", "workspace_name") if not workspace.get(key)
    ]
    if missing:
        raise ConfigError(
            Problem(f"--{key.replace('_', '-')}", "not given, so there is no workspace to submit to",
                    f"the flag, or the stack output {STACK_OUTPUTS.get(key, 'AZURE_SUBSCRIPTION_ID')} (--stack-outputs)")
            for key in missing
        )  # fmt: skip
    return MLClient(
        DefaultAzureCredential(),
        subscription_id=workspace["subscription_id"],
        resource_group_name=workspace["resource_group"],
        workspace_name=workspace["workspace_name"],
    )


def _submit(args: argparse.Namespace, client_factory: ClientFactory) -> int:
    from estimation_engine.batch.azureml.pipeline_job import build_pipeline_job
    from model_contract.azureml_job_files import job_to_yaml

    workspace = workspace_from(args)
    job = build_pipeline_job(job_settings(args, workspace))
    if args.dry_run:
        return _show(job_to_yaml, job, args.yaml)
    client = client_factory(workspace)
    created = client.jobs.create_or_update(job, experiment_name=job.experiment_name)
    print(f"submitted {created.name}: {created.studio_url}")
    if not args.wait:
        return 0
    try:
        client.jobs.stream(created.name)
    except Exception as error:  # stream raises when the job fails; the status below says how
        print(f"job {created.name} did not complete: {error}", file=sys.stderr)
    status = client.jobs.get(created.name).status
    print(f"job {created.name}: {status}; estimates: data asset {job.outputs.estimates.name}")
    return 0 if status == "Completed" else 1


def _schedule(args: argparse.Namespace, client_factory: ClientFactory) -> int:
    from estimation_engine.batch.azureml.pipeline_job import build_schedule
    from model_contract.azureml_job_files import schedule_to_yaml

    workspace = workspace_from(args)
    schedule = build_schedule(job_settings(args, workspace), args.cron, args.time_zone, args.name)
    if args.dry_run:
        return _show(schedule_to_yaml, schedule, args.yaml)
    created = client_factory(workspace).schedules.begin_create_or_update(schedule).result()
    print(f"schedule {created.name}: {created.trigger.expression} ({created.trigger.time_zone})")
    return 0


def _show(write: Callable[[Any, Path], Path], thing: Any, destination: Path | None) -> int:
    if destination is not None:
        print(f"wrote {write(thing, destination)}")
        return 0
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        print(write(thing, Path(folder) / "job.yml").read_text())
    return 0
