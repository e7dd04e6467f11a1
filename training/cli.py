"""``python -m training``: the training job's command line.

Exit codes: 0 when the job did what it decided (including "no improvement"), 2 when the input is wrong
(config, data, pins, settings: the message names the culprit), 1 for anything unexpected.

The commands that change what runs where without training (promote, rollback, pin-image, verify-image,
pins, prs, merge) moved to ``python -m delivery``; for one release ``python -m training <command>`` says
so on one line and runs it there.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from delivery import cli as delivery_cli
from model_contract.pins import ENVIRONMENTS
from training.config import DEFAULT_CONFIG, load_config
from training.conformal import CalibrationError
from training.dataset import DataError
from training.gate import SWITCH_FLAG

# Errors that mean "fix your input or environment", reported without a traceback: the training job's own,
# and delivery's (ConfigError among them; the job reads the champion and opens its PR through delivery).
USER_ERRORS = (DataError, CalibrationError, *delivery_cli.USER_ERRORS)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in delivery_cli.COMMANDS:
        print(
            f"note: `python -m training {argv[0]}` moved to `python -m delivery {argv[0]}`; "
            "this alias goes in the next release",
            file=sys.stderr,
        )
        return delivery_cli.main(argv)
    from training.steps import ChampionError

    return delivery_cli.run_command(_parser().parse_args(argv), (*USER_ERRORS, ChampionError))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="train, gate against the env's champion, register, open the bump PR"
    )
    run.add_argument("--env", choices=ENVIRONMENTS, default="dev", help="environment whose champion to beat")
    run.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="training config YAML")
    run.add_argument("--force", action="store_true", help="register and bump even if not better")
    run.add_argument(
        SWITCH_FLAG, dest="switch_model", action="store_true",
        help="replace a champion that cannot be compared (another model name, or features the data lacks)",
    )  # fmt: skip
    run.set_defaults(handler=_run)

    from training.azureml.cli import add_commands as add_azureml_commands  # submit, schedule
    from training.config_init import add_command as add_init_command

    add_azureml_commands(commands)
    add_init_command(commands)
    return parser


def _run(args: argparse.Namespace) -> int:
    from training.runner import run
    from training.services import job_services

    config = load_config(args.config)
    services = job_services()
    outcome = run(config, args.env, services, force=args.force, switch_model=args.switch_model)
    print(f"verdict: {outcome.verdict.reason}")
    if outcome.registered is not None:
        print(f"registered: {outcome.registered.name} v{outcome.registered.version}")
    if outcome.bump is not None:
        pr = outcome.bump.pull_request
        where = f"#{pr.number} {pr.title} ({pr.head})" if pr else f"{args.env} already pins it"
        print(f"pull request: {outcome.bump.status}: {where}")
        for number in outcome.bump.superseded:
            print(f"pull request: superseded #{number}")
        for warning in outcome.bump.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    print(f"decision record: {outcome.decision_path}")
    return 0
