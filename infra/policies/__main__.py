"""The CrossGuard policy pack: every rule of infra.policies.rules as a mandatory Pulumi policy.

Run with ``pulumi preview --stack <env> --policy-pack infra/policies`` (or ``pulumi up``). Resource rules
see the engine's inputs; the config rule reads the project and stack files of this repository, since a
policy pack is not handed the stack's configuration.
"""

import sys
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent.parent
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))

from pulumi_policy import (  # noqa: E402
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.policies.rules import RULES, Rule, plain_secrets_in_config  # noqa: E402
from infra.stack_config import available_stacks, load_stack_config  # noqa: E402


def resource_policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule.violations(args.resource_type, args.props):
            report_violation(message, args.urn)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate,
    )


def validate_config(_args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for stack in available_stacks(REPOSITORY_ROOT):
        config = load_stack_config(stack, REPOSITORY_ROOT)
        values = {key: item.value for key, item in config.values.items()}
        for message in plain_secrets_in_config(
            values, config.secret_keys(), f"environments/Pulumi.{stack}.yaml"
        ):
            report_violation(message)


PolicyPack(
    name="property-price-platform",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        *(resource_policy(rule) for rule in RULES),
        StackValidationPolicy(
            name="no-plain-secrets-in-config",
            description="Secret-looking settings are stored encrypted (pulumi config set --secret).",
            enforcement_level=EnforcementLevel.MANDATORY,
            validate=validate_config,
        ),
    ],
)
