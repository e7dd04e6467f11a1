"""``python -m training``: the training job's command line.

Exit codes: 0 when the job did what it decided (including "no improvement"), 2 when the input is wrong
(config, data, pins, settings: the message names the culprit), 1 for anything unexpected.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from training.config import DEFAULT_CONFIG, ConfigError, load_config
from training.conformal import CalibrationError
from training.container_images import ImageImportError
from training.dataset import DataError
from training.environment_registries import RegistrySettingsError
from training.estimator import EstimatorConfigError
from training.gate import SWITCH_FLAG
from training.git import GitError
from training.gitops_remote import GitopsError
from training.pins import ENVIRONMENTS, PinError
from training.pull_requests.base import PullRequestError
from training.registry import RegistryError
from training.registry_retries import RetryBudget, RetryBudgetError

# Errors that mean "fix your input or environment", reported in one line without a traceback.
USER_ERRORS = (
    ConfigError, DataError, EstimatorConfigError, CalibrationError, PinError, GitopsError, PullRequestError,
    RegistryError, GitError, RegistrySettingsError, ImageImportError, RetryBudgetError,
)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    from training.pipeline import ChampionError
    from training.promotion import PromotionError
    from training.services import SettingsError

    try:
        RetryBudget.from_environment().apply()  # an unreachable registry fails within the budget, saying so
        return args.handler(args)
    except (*USER_ERRORS, ChampionError, PromotionError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


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

    pins = commands.add_parser("pins", help="print pins as they stand on the gitops remote's default branch")
    pins.add_argument("--env", choices=ENVIRONMENTS, help="only this environment (output can be sourced)")
    pins.set_defaults(handler=_pins)

    prs = commands.add_parser("prs", help="list pull requests on the local gitops remote")
    prs.add_argument("--all", action="store_true", help="include merged and closed ones")
    prs.add_argument("--show", type=int, metavar="N", help="print pull request N in full")
    prs.set_defaults(handler=_prs)

    merge = commands.add_parser("merge", help="merge pull request N on the local gitops remote")
    merge.add_argument("number", type=int)
    merge.set_defaults(handler=_merge)

    promote = commands.add_parser(
        "promote",
        help="copy an environment's model (into the target's registry) and image (into its container "
        "registry), then open the PR pinning them there",
    )
    promote.add_argument(
        "--from", dest="source", choices=ENVIRONMENTS, help="copy this environment's model and image"
    )
    promote.add_argument(
        "--model-version", type=int,
        help="this version instead of the pinned one: of --from's registry (copied), else of the target's",
    )  # fmt: skip
    promote.add_argument("--to", dest="target", choices=ENVIRONMENTS, required=True)
    promote.set_defaults(handler=_promote)

    verify = commands.add_parser(
        "verify-image", help="check that the image digest an environment pins is in its container registry"
    )
    verify.add_argument("--env", choices=ENVIRONMENTS, required=True)
    verify.add_argument(
        "--root",
        type=Path,
        default=None,
        help="repository checkout to read the overlay from (default: this one)",
    )
    verify.set_defaults(handler=_verify_image)

    rollback = commands.add_parser(
        "rollback", help="open a PR that reverts the last pin change of an environment"
    )
    rollback.add_argument("--env", choices=ENVIRONMENTS, required=True)
    rollback.set_defaults(handler=_rollback)

    pin_image = commands.add_parser(
        "pin-image", help="open a PR pinning a new engine image in an environment"
    )
    pin_image.add_argument("--env", choices=ENVIRONMENTS, required=True)
    pin_image.add_argument(
        "--name", help="image repository, e.g. crpriceenginedev.azurecr.io/estimation-engine"
    )
    pin_image.add_argument("--digest", help="sha256:<64 hex> (required for qa and prod)")
    pin_image.add_argument("--tag", help="image tag (dev may pin a tag)")
    pin_image.set_defaults(handler=_pin_image)

    from training.azureml.cli import add_commands as add_azureml_commands  # submit, schedule
    from training.config_init import add_command as add_init_command

    add_azureml_commands(commands)
    add_init_command(commands)
    return parser


def _run(args: argparse.Namespace) -> int:
    from training.pipeline import run
    from training.services import JobSettings, build_services

    config = load_config(args.config)
    services = build_services(JobSettings.from_environment())
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


def _pins(args: argparse.Namespace) -> int:
    from training.services import JobSettings, build_services

    remote = build_services(JobSettings.from_environment()).remote
    pins = remote.read_pins()
    for env in [args.env] if args.env else ENVIRONMENTS:
        if not args.env:
            print(f"# {env}")
        print(pins[env].render(), end="")
    return 0


def _prs(args: argparse.Namespace) -> int:
    from training.services import local_pull_requests

    provider = local_pull_requests()
    if args.show is not None:
        pr = provider.get(args.show)
        print(f"#{pr.number} [{pr.state}] {pr.title}\n{pr.head} -> {pr.base}\n\n{pr.body}")
        return 0
    listed = provider.list_all() if args.all else provider.list_open()
    if not listed:
        print("no pull requests" if args.all else "no open pull requests")
    for pr in listed:
        print(f"#{pr.number:<4} {pr.state:<7} {pr.head:<32} {pr.title}")
    return 0


def _report_change(result) -> int:
    pr = result.pull_request
    if pr is None:
        print(f"nothing to do: {result.status}")
        return 0
    print(f"pull request: {result.status}: #{pr.number} {pr.title} ({pr.head})\n{pr.url}")
    for number in result.superseded:
        print(f"pull request: superseded #{number}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _promote(args: argparse.Namespace) -> int:
    from training.promotion import promote
    from training.services import JobSettings, build_services

    services = build_services(JobSettings.from_environment())
    promotion = promote(services, args.target, source=args.source, model_version=args.model_version)
    if promotion.copy is not None:
        print(f"model: {promotion.copy.describe()}")
    print(promotion.image.describe())
    return _report_change(promotion.change)


def _verify_image(args: argparse.Namespace) -> int:
    from training.container_images import AzureContainerRegistries, verify_pinned_image
    from training.local_state import project_root

    print(verify_pinned_image(args.root or project_root(), AzureContainerRegistries(), args.env))
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from training.promotion import rollback
    from training.services import JobSettings, build_services

    return _report_change(rollback(build_services(JobSettings.from_environment()), args.env))


def _pin_image(args: argparse.Namespace) -> int:
    from training.promotion import pin_image
    from training.services import JobSettings, build_services

    services = build_services(JobSettings.from_environment())
    return _report_change(pin_image(services, args.env, name=args.name, digest=args.digest, tag=args.tag))


def _merge(args: argparse.Namespace) -> int:
    from training.services import local_pull_requests

    pr = local_pull_requests().merge(args.number)
    print(f"merged #{pr.number}: {pr.title}")
    return 0
