"""Resource names: one helper for every Azure naming rule the stack runs into.

Azure names differ per resource type in length, characters and scope, and some of them (storage, key
vault) are global. Two more facts shape the names here:

* Azure ML workspaces and key vaults are *soft-deleted* on destroy and keep blocking their name for up to
  90 days, and storage and key vault names are global. Those get a random suffix (a ``random.RandomString``
  kept in the stack's state, so it is stable across updates and new after a destroy).
* Autonaming by the provider would append 8 characters to an already long name and break the 24-character
  limit of storage accounts and key vaults. So the suffix is short and the stem is shortened to fit.

The container registry name is the exception: it is a setting, because the gitops overlays name its host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi

from model_contract.config_error import ConfigError

SUFFIX_LENGTH = 6


@dataclass(frozen=True)
class NameRule:
    """Azure's naming rule of one resource type."""

    kind: str
    min_length: int
    max_length: int
    pattern: re.Pattern[str]
    separator: str = "-"
    lowercase: bool = True

    @property
    def allowed(self) -> str:
        return f"{self.min_length}-{self.max_length} characters matching {self.pattern.pattern}"

    def check(self, name: str) -> str:
        """``name`` if Azure accepts it; a name built from the settings (namePrefix, the environment) that
        Azure would refuse is a configuration error, reported before any resource is declared."""
        if not self.min_length <= len(name) <= self.max_length or not self.pattern.match(name):
            raise ConfigError.of(f"{self.kind} name", f"{name!r} breaks Azure's rule", self.allowed)
        return name


_ALNUM_HYPHEN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
RULES = {
    "resource_group": NameRule("resource group", 1, 90, re.compile(r"^[-\w.()]*[-\w()]$")),
    "log_analytics": NameRule("log analytics workspace", 4, 63, _ALNUM_HYPHEN),
    "app_insights": NameRule("application insights", 1, 260, re.compile(r"^[^%&\\?/]+$")),
    "storage_account": NameRule("storage account", 3, 24, re.compile(r"^[a-z0-9]+$"), separator=""),
    "key_vault": NameRule("key vault", 3, 24, re.compile(r"^[a-z](?!.*--)[a-z0-9-]*[a-z0-9]$"), separator=""),
    "ml_workspace": NameRule("machine learning workspace", 3, 33, re.compile(r"^[a-z0-9][a-z0-9_-]*$")),
    "compute": NameRule("compute", 2, 16, re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")),
    "identity": NameRule("managed identity", 3, 128, re.compile(r"^[a-z0-9][a-z0-9_-]*$")),
    "aks": NameRule("kubernetes cluster", 1, 63, re.compile(r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$")),
    "aks_dns_prefix": NameRule("kubernetes DNS prefix", 1, 54, _ALNUM_HYPHEN),
    "agent_pool": NameRule("agent pool", 1, 12, re.compile(r"^[a-z][a-z0-9]*$"), separator=""),
    "container_group": NameRule(
        "container group", 1, 63, re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]*[a-z0-9]$")
    ),
    "dns_label": NameRule("DNS label", 3, 63, re.compile(r"^[a-z](?!.*--)[a-z0-9-]*[a-z0-9]$")),
}


def fit(rule_name: str, parts: list[str], suffix: str = "") -> str:
    """Join ``parts`` (and ``suffix``) with the rule's separator, shortening the stem to fit the length.

    The suffix is never shortened: it is what keeps a global or soft-deleted name unique.
    """
    rule = RULES[rule_name]
    clean = [_clean(part, rule) for part in parts if part]
    stem = rule.separator.join(part for part in clean if part)
    tail = f"{rule.separator}{suffix}" if suffix else ""
    room = rule.max_length - len(tail)
    if room < 1:
        raise ConfigError.of(
            f"{rule.kind} name", f"suffix {suffix!r} leaves no room for a stem", rule.allowed
        )
    stem = stem[:room].rstrip("-_.")
    return rule.check(stem + tail)


def _clean(part: str, rule: NameRule) -> str:
    value = part.lower() if rule.lowercase else part
    if rule.separator == "":
        return re.sub(r"[^a-z0-9]", "", value)
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", value)).strip("-")


@dataclass(frozen=True)
class Naming:
    """Names of one stack's resources: ``<abbreviation>-<prefix>-<environment>[-<suffix>]``."""

    prefix: str
    environment: str

    def fixed(self, rule_name: str, abbreviation: str, *extra: str) -> str:
        return fit(rule_name, [abbreviation, self.prefix, self.environment, *extra])

    def unique(self, rule_name: str, abbreviation: str, suffix: pulumi.Input[str]) -> pulumi.Output[str]:
        """A name that must not collide globally or with a soft-deleted predecessor."""
        return pulumi.Output.from_input(suffix).apply(
            lambda value: fit(rule_name, [abbreviation, self.prefix, self.environment], value)
        )

    def resource_group(self) -> str:
        return self.fixed("resource_group", "rg")

    def node_resource_group(self) -> str:
        return self.fixed("resource_group", "rg", "aks-nodes")

    def log_analytics(self) -> str:
        return self.fixed("log_analytics", "log")

    def app_insights(self) -> str:
        return self.fixed("app_insights", "appi")

    def identity(self, purpose: str) -> str:
        return self.fixed("identity", "id", purpose)

    def aks_cluster(self) -> str:
        return self.fixed("aks", "aks")

    def aks_dns_prefix(self) -> str:
        """``<prefix>-<environment>``: the API server's host name, so no resource abbreviation in it."""
        return fit("aks_dns_prefix", [self.prefix, self.environment])

    def container_group(self) -> str:
        return self.fixed("container_group", "ci")

    def storage_account(self, suffix: pulumi.Input[str]) -> pulumi.Output[str]:
        return self.unique("storage_account", "st", suffix)

    def key_vault(self, suffix: pulumi.Input[str]) -> pulumi.Output[str]:
        return self.unique("key_vault", "kv", suffix)

    def ml_workspace(self, suffix: pulumi.Input[str]) -> pulumi.Output[str]:
        return self.unique("ml_workspace", "mlw", suffix)

    def dns_label(self, suffix: pulumi.Input[str]) -> pulumi.Output[str]:
        return pulumi.Output.from_input(suffix).apply(
            lambda value: fit("dns_label", [self.prefix, self.environment], value)
        )


def compute_name(purpose: str) -> str:
    """Compute names are scoped to the workspace, so they need no prefix: ``train-cpu``."""
    return fit("compute", [purpose])


def agent_pool_name(purpose: str) -> str:
    return fit("agent_pool", [purpose])
