"""``python -m training submit`` and ``python -m training schedule``: the Azure ML pipeline from the CLI.

``add_commands`` is called by training/cli.py's parser. Nothing from ``azure-ai-ml`` is imported until a
command runs, so ``python -m training --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model_contract.pins import ENVIRONMENTS
from training.config import DEFAULT_CONFIG


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``submit`` and ``schedule`` to the ``python -m training`` subcommands."""
    submit = commands.add_parser(
        "submit", help="run the training pipeline on the Azure ML compute cluster (or write its YAML)"
    )
    _pipeline_arguments(submit)
    submit.add_argument(
        "--steps",
        choices=("all", "prepare"),
        default="all",
        help="all: prepare, train, evaluate, register, bump; prepare: only register the prepared data asset",
    )
    submit.add_argument("--force", action="store_true", help="register and bump even if not better")
    submit.add_argument(
        "--switch-model", action="store_true",
        help="replace a champion that cannot be compared (another model name, or features the data lacks)",
    )  # fmt: skip
    submit.add_argument("--no-wait", action="store_true", help="return once submitted, without streaming")
    submit.add_argument("--summary", type=Path, help="write what the run decided (JSON) to this file")
    submit.set_defaults(handler=_submit)

    schedule = commands.add_parser(
        "schedule", help="create or update an Azure ML schedule that retrains periodically"
    )
    _pipeline_arguments(schedule)
    schedule.add_argument("--cron", required=True, help='cron expression, e.g. "0 3 * * 1" (Mondays 03:00)')
    schedule.add_argument("--time-zone", default="UTC", help="time zone of the cron expression (default UTC)")
    schedule.add_argument("--name", help="schedule name (default <model>-retrain-<env>)")
    schedule.set_defaults(handler=_schedule, steps="all", force=False, switch_model=False)


def _pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env", choices=ENVIRONMENTS, default="dev", help="environment whose champion to beat"
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="training config YAML")
    parser.add_argument(
        "--data",
        help="training data: a local file, azureml:<asset>:<version> (or @latest), or a blob URL; the "
        "prepared-data asset (azureml:<model>-prepared:<version>) skips the prepare step",
    )
    parser.add_argument(
        "--data-asset-name", help="name of the prepared data asset (default <model>-prepared)"
    )
    workspace = parser.add_argument_group("workspace (from --stack-outputs, overridden by flags)")
    workspace.add_argument("--stack-outputs", type=Path, help="JSON from `pulumi stack output --json`")
    workspace.add_argument("--subscription-id", help="default $AZURE_SUBSCRIPTION_ID")
    workspace.add_argument("--resource-group")
    workspace.add_argument("--workspace-name")
    workspace.add_argument("--compute", help="compute cluster (default the stack's trainingComputeName)")
    workspace.add_argument(
        "--key-vault-url", help="key vault holding the gitops token (https://<name>.vault.azure.net)"
    )
    workspace.add_argument(
        "--gitops-token-secret", default="gitops-token", help="name of that secret (default gitops-token)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="write the job YAML to --output; no credentials used"
    )
    parser.add_argument("--output", type=Path, help="where --dry-run writes the YAML")


def _submit(args: argparse.Namespace) -> int:
    return _guarded(_do_submit, args)


def _schedule(args: argparse.Namespace) -> int:
    return _guarded(_do_schedule, args)


def _do_submit(args: argparse.Namespace) -> int:
    from model_contract.azureml_job_files import job_to_yaml
    from training.azureml.pipeline_job import build_pipeline_job
    from training.azureml.submission import describe, submit

    target, settings = _settings(args)
    job = build_pipeline_job(settings)
    if args.dry_run:
        print(
            f"wrote {job_to_yaml(job, args.output)} (submit it with `az ml job create -f` or without --dry-run)"
        )
        return 0
    result = submit(job, target, wait=not args.no_wait)
    for line in describe(result):
        print(line)
    if args.summary:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        args.summary.write_text(result.to_json())
    return 0 if result.succeeded or args.no_wait else 1


def _do_schedule(args: argparse.Namespace) -> int:
    from model_contract.azureml_job_files import schedule_to_yaml
    from training.azureml.pipeline_job import build_schedule
    from training.azureml.submission import create_schedule

    target, settings = _settings(args)
    schedule = build_schedule(settings, args.cron, args.time_zone, args.name)
    if args.dry_run:
        print(f"wrote {schedule_to_yaml(schedule, args.output)} (create it with `az ml schedule create -f`)")
        return 0
    create_schedule(schedule, target)
    return 0


def _settings(args: argparse.Namespace):
    from delivery.git import head_commit
    from model_contract.local_state import project_root
    from training.azureml.pipeline_job import PipelineSettings
    from training.azureml.workspace import job_environment, require_remote_gitops, resolve_target
    from training.config import load_config

    if args.dry_run and args.output is None:
        raise _usage("given without --output FILE")
    overrides = {
        "subscription_id": args.subscription_id,
        "resource_group": args.resource_group,
        "workspace_name": args.workspace_name,
        "compute": args.compute,
        "key_vault_url": args.key_vault_url,
    }
    target = resolve_target(args.stack_outputs, overrides)
    variables = job_environment(target, args.gitops_token_secret)
    if not args.dry_run:
        target.require_workspace()
        if args.steps == "all":
            require_remote_gitops(variables)
    settings = PipelineSettings(
        env=args.env,
        config_path=args.config,
        config=load_config(args.config),
        compute=target.compute,
        code_version=head_commit(project_root()) or "unknown",
        data=args.data,
        force=args.force,
        switch_model=args.switch_model,
        steps=args.steps,
        prepared_data_name=args.data_asset_name,
        environment_variables=variables,
    )
    return target, settings


def _usage(message: str) -> Exception:
    from model_contract.config_error import ConfigError

    return ConfigError.of("--dry-run", message, "--dry-run with --output FILE")


def _guarded(command, args: argparse.Namespace) -> int:
    """Wrong settings are the user's to fix: one line on stderr and exit code 2, as in training/cli.py."""
    from model_contract.config_error import ConfigError

    try:
        return command(args)
    except ConfigError as error:
        print("\n".join(f"error: {line}" for line in str(error).splitlines()), file=sys.stderr)
        return 2
