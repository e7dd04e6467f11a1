"""``python -m infra plan|reap``: the commands that need no Pulumi CLI.

* ``plan --stack <env> [--json] [-c key=value ...] [--config-file f.yaml]`` prints what
  ``pulumi up --stack <env>`` would create (see infra.plan); ``-c`` sets a value on top of the stack file,
  like ``pulumi up --config``.
* ``reap [--dry-run]`` deletes expired dev container groups (see infra.reaper).
* ``providers [--check]`` lists the Azure resource providers the stacks need (see infra.resource_providers)
  and, with ``--check``, asks the Azure CLI which are not registered in the current subscription.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from infra.expiry import parse_timestamp, utc_now
from model_contract.config_error import ConfigError, Problem

COMMANDS = ("plan", "reap", "providers")


def is_command(argv: Sequence[str]) -> bool:
    return bool(argv) and (argv[0] in COMMANDS or argv[0] in ("-h", "--help"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="show what `pulumi up --stack <env>` would create, offline")
    plan.add_argument("--stack", required=True, help="stack name (environments/Pulumi.<stack>.yaml)")
    plan.add_argument("--json", action="store_true", help="print JSON instead of a tree")
    plan.add_argument("--now", type=parse_timestamp, help="clock for the expiry tag (ISO 8601, default: now)")
    plan.add_argument(
        "--gitops-root", type=Path, help="folder holding gitops/ (default: this repository), for fixtures"
    )
    plan.add_argument(
        "-c",
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting on top of the stack file, like `pulumi up --config` (repeatable)",
    )
    plan.add_argument("--config-file", type=Path, help="YAML mapping of settings on top of the stack file")
    reap = commands.add_parser("reap", help="delete container groups whose expires-at tag has passed")
    reap.add_argument("--dry-run", action="store_true", help="report what would be deleted, delete nothing")
    reap.add_argument(
        "--subscription-id",
        default=os.environ.get("AZURE_SUBSCRIPTION_ID"),
        help="subscription to sweep (default: $AZURE_SUBSCRIPTION_ID)",
    )
    reap.add_argument("--now", type=parse_timestamp, help="treat this time as now (ISO 8601)")
    providers = commands.add_parser(
        "providers", help="the Azure resource providers the stacks need, one namespace a line"
    )
    providers.add_argument(
        "--check", action="store_true", help="exit 1 naming those not registered (`az provider show`)"
    )
    return parser


def print_usage() -> int:
    """No command and no Pulumi engine: say how to use this entry point."""
    _parser().print_help(sys.stderr)
    print("\n(`pulumi up --stack <env>` runs the Pulumi program in this folder.)", file=sys.stderr)
    return 2


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    if args.command == "plan":
        return _plan(args)
    if args.command == "providers":
        return _providers(args)
    return _reap(args)


def _plan(args: argparse.Namespace) -> int:
    from infra.plan import build_plan
    from infra.plan_render import plan_json, plan_tree
    from infra.stack_config import REPOSITORY_ROOT, load_config_file

    clock = (lambda: args.now) if args.now else utc_now
    try:
        values = load_config_file(args.config_file) if args.config_file else {}
        values.update(_key_values(args.config))
        plan = build_plan(
            args.stack, clock=clock, gitops_root=args.gitops_root or REPOSITORY_ROOT, config_values=values
        )
    except ValueError as error:  # ConfigError (one line per problem), OverlayError, ArgoCdManifestError
        for line in str(error).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    sys.stdout.write(plan_json(plan) if args.json else plan_tree(plan))
    for message in plan.warnings if args.json else []:
        print(f"warning: {message}", file=sys.stderr)
    return 0


def _key_values(pairs: Sequence[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    refused = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if sep and key.strip():
            values[key.strip()] = value
        else:
            refused.append(
                Problem("--config", f"{pair!r} is not KEY=VALUE", "KEY=VALUE, e.g. repositoryUrl=https://...")
            )
    if refused:
        raise ConfigError(refused)
    return values


def _providers(args: argparse.Namespace) -> int:
    from infra.resource_providers import REQUIRED_PROVIDERS, unregistered

    if not args.check:
        sys.stdout.write("".join(f"{provider.namespace}\n" for provider in REQUIRED_PROVIDERS))
        return 0
    try:
        missing = unregistered()
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for namespace in missing:
        print(f"not registered: {namespace} (az provider register --namespace {namespace} --wait)")
    return 1 if missing else 0


def _reap(args: argparse.Namespace) -> int:
    from infra.reaper import azure_container_groups, reap

    if not args.subscription_id:
        missing = Problem("--subscription-id", "not set", "a subscription id, or AZURE_SUBSCRIPTION_ID set")
        print(f"error: {missing}", file=sys.stderr)
        return 2
    summary = reap(azure_container_groups(args.subscription_id), args.now or utc_now(), dry_run=args.dry_run)
    sys.stdout.write(summary.render())
    return 1 if summary.failed else 0
