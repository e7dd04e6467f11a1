"""``python -m delivery``: every change to what runs where, each one a pull request on the gitops remote.

Exit codes: 0 when done (including "nothing to do"), 2 when the input is wrong (settings, pins, registries,
images: the message names the culprit), 1 for anything unexpected.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from delivery.container_images import ImageImportError
from delivery.git import GitError
from delivery.gitops_remote import GitopsError
from delivery.pin_change import PinChangeResult
from delivery.pin_requests import PromotionError
from delivery.pull_requests.base import PullRequestError
from model_contract.config_error import ConfigError
from model_contract.pins import ENVIRONMENTS, PinError
from model_contract.registry import RegistryError
from model_contract.registry_retries import RetryBudget

# Errors that mean "fix your input or environment", reported in one line without a traceback.
USER_ERRORS = (
    ConfigError, PinError, GitopsError, PullRequestError, RegistryError, GitError, ImageImportError, PromotionError,
)  # fmt: skip
COMMANDS = ("promote", "rollback", "pin-image", "verify-image", "pins", "prs", "merge")


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(_parser().parse_args(argv), USER_ERRORS)


def run_command(args: argparse.Namespace, user_errors: tuple[type[Exception], ...]) -> int:
    """Run a parsed command (this CLI's or the training job's) within the registry's retry budget: an
    error of ``user_errors`` is the user's to fix, one ``error:`` line per problem and exit code 2."""
    try:
        RetryBudget.from_environment().apply()  # an unreachable registry fails within the budget, saying so
        return args.handler(args)
    except user_errors as error:
        print("\n".join(f"error: {line}" for line in str(error).splitlines()), file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m delivery", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    return parser


def report_change(result: PinChangeResult) -> int:
    """Print what a pin change did: its pull request, those it superseded, and any warning."""
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
    from delivery.promote import promote
    from delivery.services import build_services
    from delivery.settings import DeliverySettings

    services = build_services(DeliverySettings.from_environment())
    promotion = promote(services, args.target, source=args.source, model_version=args.model_version)
    if promotion.copy is not None:
        print(f"model: {promotion.copy.describe()}")
    print(promotion.image.describe())
    return report_change(promotion.change)


def _rollback(args: argparse.Namespace) -> int:
    from delivery.rollback import rollback
    from delivery.services import build_services
    from delivery.settings import DeliverySettings

    return report_change(rollback(build_services(DeliverySettings.from_environment()), args.env))


def _pin_image(args: argparse.Namespace) -> int:
    from delivery.image_pin import pin_image
    from delivery.services import build_services
    from delivery.settings import DeliverySettings

    services = build_services(DeliverySettings.from_environment())
    return report_change(pin_image(services, args.env, name=args.name, digest=args.digest, tag=args.tag))


def _verify_image(args: argparse.Namespace) -> int:
    from delivery.container_images import AzureContainerRegistries, verify_pinned_image
    from model_contract.local_state import project_root

    print(verify_pinned_image(args.root or project_root(), AzureContainerRegistries(), args.env))
    return 0


def _pins(args: argparse.Namespace) -> int:
    from delivery.services import build_services
    from delivery.settings import DeliverySettings

    remote = build_services(DeliverySettings.from_environment()).remote
    pins = remote.read_pins()
    for env in [args.env] if args.env else ENVIRONMENTS:
        if not args.env:
            print(f"# {env}")
        print(pins[env].render(), end="")
    return 0


def _prs(args: argparse.Namespace) -> int:
    from delivery.services import local_pull_requests

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


def _merge(args: argparse.Namespace) -> int:
    from delivery.services import local_pull_requests

    pr = local_pull_requests().merge(args.number)
    print(f"merged #{pr.number}: {pr.title}")
    return 0
