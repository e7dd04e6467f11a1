"""The stack's settings: one typed, validated object built once from the Pulumi config.

Every component reads its knobs from :class:`Settings` instead of calling ``pulumi.Config`` itself, so a
bad value is refused once, up front, with the name of the key to fix, before any resource is declared.
The defaults live in one place only: the ``config:`` block of ``Pulumi.yaml`` (``pulumi up`` applies them,
and ``python -m infra plan`` applies them the same way). A key missing here therefore means the project
file lost its default, which is reported as such.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from infra.aks_versions import support_table
from infra.argocd_release import RELEASES as ARGOCD_RELEASES
from training.pins import ENVIRONMENTS

PROJECT = "property-price-platform"

ServingTarget = Literal["aci", "aks"]
SERVING_TARGETS: tuple[str, ...] = ("aci", "aks")
REGISTRY_SKUS: tuple[str, ...] = ("Basic", "Standard", "Premium")
VM_PRIORITIES: tuple[str, ...] = ("Dedicated", "LowPriority")
AKS_TIERS: tuple[str, ...] = ("Free", "Standard", "Premium")
PRINCIPAL_TYPES: tuple[str, ...] = ("ServicePrincipal", "User", "Group")
# Who can run `pulumi up`: a person (az login) or a service principal / managed identity (CI).
DEPLOYER_TYPES: tuple[str, ...] = ("User", "ServicePrincipal")
# The repository URL Pulumi.yaml ships with: Argo CD cannot clone it, so an AKS stack refuses it.
PLACEHOLDER_REPOSITORY_URL = "https://github.com/your-org/property-price-platform.git"
# Azure Container Instances pull with a managed identity only from Premium registries (the documented
# prerequisite of "Deploy to Azure Container Instances from Azure Container Registry using a managed identity").
ACI_REGISTRY_SKU = "Premium"

_REGISTRY_NAME = re.compile(r"^[a-zA-Z0-9]{5,50}$")
_NAME_PREFIX = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{0,13}[a-z0-9]$")
_LOCATION = re.compile(r"^[a-z][a-z0-9]+$")
_VM_SIZE = re.compile(r"^[A-Za-z][A-Za-z0-9_]+$")
_K8S_MINOR = re.compile(r"^1\.\d{2}$")
_CHART_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_TAG_FORBIDDEN = re.compile(r"[<>%&\\?/]")
_HOST = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_KEY_VAULT_SECRET = re.compile(r"^[0-9a-zA-Z-]{1,127}$")


class SettingsError(ValueError):
    """A stack setting is missing or invalid; the message names the key."""


@dataclass(frozen=True)
class Principal:
    """A Microsoft Entra principal named in stack config as ``<principalType>:<objectId>``.

    The type travels with the id because ARM needs it on every role assignment: a wrong one is refused
    (``UnmatchedPrincipalType``) and a missing one fails new principals with ``PrincipalNotFound``.
    """

    object_id: str
    principal_type: str

    def __str__(self) -> str:
        return f"{self.principal_type}:{self.object_id}"


@dataclass(frozen=True)
class Settings:
    """What one stack deploys. Field names follow the config keys in ``Pulumi.yaml``."""

    stack: str
    environment: str
    location: str
    name_prefix: str
    owner: str
    extra_tags: Mapping[str, str]
    repository_url: str
    repository_revision: str
    public_network_access: bool
    container_registry_name: str
    container_registry_sku: str
    log_retention_days: int
    compute_vm_size: str
    compute_vm_priority: str
    compute_min_nodes: int
    compute_max_nodes: int
    compute_idle_minutes_before_scale_down: int
    serving_target: ServingTarget
    aci_cpu_millicores: int
    aci_memory_mb: int
    container_expiry: bool
    dev_ttl_hours: int
    aks_kubernetes_version: str
    aks_tier: str
    aks_system_vm_size: str
    aks_system_node_count: int
    aks_user_vm_size: str
    aks_user_min_nodes: int
    aks_user_max_nodes: int
    aks_admin_group_object_ids: tuple[str, ...]
    aks_ingress_host: str
    deployer_principal_type: str
    argocd_chart_version: str
    argocd_repository_secret: str
    argocd_repository_username: str
    pipeline_principal: Principal | None
    data_scientists: tuple[Principal, ...]
    key_vault_secrets_officers: tuple[Principal, ...]
    promotion_into_principal: Principal | None
    promotion_from_principal: Principal | None

    @property
    def is_production(self) -> bool:
        return self.environment == "prod"

    @property
    def serves_from_aks(self) -> bool:
        return self.serving_target == "aks"

    @property
    def registry_login_server(self) -> str:
        """Azure answers with the login server in lower case whatever the case of the registry name."""
        return f"{self.container_registry_name.lower()}.azurecr.io"

    def resource_tags(self) -> dict[str, str]:
        """The tags every resource carries: who owns it, what it belongs to, and how it is managed."""
        tags = {
            "environment": self.environment,
            "project": PROJECT,
            "managed-by": "pulumi",
            "pulumi-stack": self.stack,
            "owner": self.owner,
        }
        tags.update(self.extra_tags)
        return tags


ConfigReader = Callable[[str], "str | None"]


def settings_from_config(read: ConfigReader, stack: str, today: date | None = None) -> Settings:
    """Build the settings from a raw reader (``pulumi.Config().get``): strings in, typed values out.

    ``today`` is the day the stack is deployed (default: today), against which the pinned Kubernetes minor
    is checked; the offline plan passes its injected clock.
    """
    return _SettingsParser(read, stack, today or date.today()).parse()


class _SettingsParser:
    def __init__(self, read: ConfigReader, stack: str, today: date) -> None:
        self._read = read
        self._stack = stack
        self._today = today

    def parse(self) -> Settings:
        environment = self._environment()
        settings = Settings(
            stack=self._stack,
            environment=environment,
            location=self._matching("location", _LOCATION, "a region name such as westeurope"),
            name_prefix=self._matching(
                "namePrefix",
                _NAME_PREFIX,
                "2-15 lowercase letters, digits and single hyphens, starting with a letter",
            ),
            owner=self._tag_value("owner"),
            extra_tags=self._extra_tags(),
            repository_url=self._https_url("repositoryUrl"),
            repository_revision=self._non_empty("repositoryRevision"),
            public_network_access=self._bool("publicNetworkAccess"),
            container_registry_name=self._matching(
                "containerRegistryName", _REGISTRY_NAME, "5-50 letters and digits (Azure's rule)"
            ),
            container_registry_sku=self._choice("containerRegistrySku", REGISTRY_SKUS),
            log_retention_days=self._int("logRetentionDays", minimum=30, maximum=730),
            compute_vm_size=self._vm_size("computeVmSize"),
            compute_vm_priority=self._choice("computeVmPriority", VM_PRIORITIES),
            compute_min_nodes=self._int("computeMinNodes", minimum=0),
            compute_max_nodes=self._int("computeMaxNodes", minimum=1),
            compute_idle_minutes_before_scale_down=self._int(
                "computeIdleMinutesBeforeScaleDown", minimum=1, maximum=1440
            ),
            serving_target=self._choice("servingTarget", SERVING_TARGETS),  # type: ignore[arg-type]
            aci_cpu_millicores=self._int("aciCpuMillicores", minimum=100, maximum=4000),
            aci_memory_mb=self._int("aciMemoryMb", minimum=512, maximum=16384),
            container_expiry=self._bool("containerExpiry"),
            dev_ttl_hours=self._int("devTtlHours", minimum=1, maximum=24 * 14),
            aks_kubernetes_version=self._matching(
                "aksKubernetesVersion", _K8S_MINOR, "a pinned minor version such as 1.36"
            ),
            aks_tier=self._choice("aksTier", AKS_TIERS),
            aks_system_vm_size=self._vm_size("aksSystemVmSize"),
            aks_system_node_count=self._int("aksSystemNodeCount", minimum=1, maximum=100),
            aks_user_vm_size=self._vm_size("aksUserVmSize"),
            aks_user_min_nodes=self._int("aksUserMinNodes", minimum=0, maximum=1000),
            aks_user_max_nodes=self._int("aksUserMaxNodes", minimum=1, maximum=1000),
            aks_admin_group_object_ids=self._guids("aksAdminGroupObjectIds"),
            aks_ingress_host=self._optional_host("aksIngressHost"),
            deployer_principal_type=self._optional_choice("deployerPrincipalType", DEPLOYER_TYPES),
            argocd_chart_version=self._argocd_chart("argocdChartVersion"),
            argocd_repository_secret=self._optional_matching(
                "argocdRepositorySecret", _KEY_VAULT_SECRET, "a Key Vault secret name (letters, digits, -)"
            ),
            argocd_repository_username=self._non_empty("argocdRepositoryUsername"),
            pipeline_principal=self._optional_principal("pipelinePrincipal", ("ServicePrincipal",)),
            data_scientists=self._principals("dataScientists", ("Group", "User")),
            key_vault_secrets_officers=self._principals("keyVaultSecretsOfficers", ("Group", "User")),
            promotion_into_principal=self._optional_principal(
                "promotionIntoPrincipal", ("ServicePrincipal",)
            ),
            promotion_from_principal=self._optional_principal(
                "promotionFromPrincipal", ("ServicePrincipal",)
            ),
        )
        _check_consistency(settings)
        _check_aks(settings, self._today)
        return settings

    # -- raw access -----------------------------------------------------------------------------------

    def _raw(self, key: str) -> str:
        value = self._read(key)
        if value is None:
            raise SettingsError(
                f"{PROJECT}:{key} is not set: give it a default in Pulumi.yaml or a value in "
                f"environments/Pulumi.{self._stack}.yaml"
            )
        return value

    def _fail(self, key: str, value: object, expected: str) -> SettingsError:
        return SettingsError(f"{PROJECT}:{key} is {value!r}: expected {expected}")

    # -- typed readers --------------------------------------------------------------------------------

    def _environment(self) -> str:
        value = self._raw("environment") or self._stack
        if value not in ENVIRONMENTS:
            raise self._fail(
                "environment", value, f"one of {', '.join(ENVIRONMENTS)} (empty means the stack name)"
            )
        return value

    def _non_empty(self, key: str) -> str:
        value = self._raw(key).strip()
        if not value:
            raise self._fail(key, value, "a non-empty string")
        return value

    def _matching(self, key: str, pattern: re.Pattern[str], expected: str) -> str:
        value = self._raw(key).strip()
        if not pattern.match(value):
            raise self._fail(key, value, expected)
        return value

    def _optional_matching(self, key: str, pattern: re.Pattern[str], expected: str) -> str:
        value = self._raw(key).strip()
        if value and not pattern.match(value):
            raise self._fail(key, value, f"{expected}, or empty")
        return value

    def _optional_choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self._raw(key).strip()
        if value and value not in choices:
            raise self._fail(key, value, f"one of {', '.join(choices)}")
        return value

    def _argocd_chart(self, key: str) -> str:
        value = self._matching(key, _CHART_VERSION, "an exact chart version such as 10.1.1")
        if value not in ARGOCD_RELEASES:
            raise self._fail(
                key,
                value,
                f"an argo-cd chart listed in infra/argocd_release.py ({', '.join(ARGOCD_RELEASES)}): the "
                "chart, the argocd CLI of the pipelines and the CRD schemas of the tests move together",
            )
        return value

    def _principal(self, key: str, entry: str, types: tuple[str, ...]) -> Principal:
        kind, sep, object_id = entry.strip().partition(":")
        if not sep or kind not in types or not _GUID.match(object_id):
            raise self._fail(
                key, entry, f"<principalType>:<objectId> with principalType {' or '.join(types)}"
            )
        return Principal(object_id.lower(), kind)

    def _optional_principal(self, key: str, types: tuple[str, ...]) -> Principal | None:
        value = self._raw(key).strip()
        return self._principal(key, value, types) if value else None

    def _principals(self, key: str, types: tuple[str, ...]) -> tuple[Principal, ...]:
        principals = tuple(self._principal(key, entry, types) for entry in self._list(key))
        if len({principal.object_id for principal in principals}) != len(principals):
            raise self._fail(key, [str(p) for p in principals], "each principal once")
        return principals

    def _vm_size(self, key: str) -> str:
        return self._matching(key, _VM_SIZE, "an Azure VM size such as Standard_D4s_v5 (not empty)")

    def _choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self._raw(key).strip()
        if value not in choices:
            raise self._fail(key, value, f"one of {', '.join(choices)}")
        return value

    def _bool(self, key: str) -> bool:
        value = self._raw(key).strip().lower()
        if value not in ("true", "false"):
            raise self._fail(key, value, "true or false")
        return value == "true"

    def _int(self, key: str, minimum: int | None = None, maximum: int | None = None) -> int:
        raw = self._raw(key).strip()
        try:
            value = int(raw)
        except ValueError:
            raise self._fail(key, raw, "an integer") from None
        if minimum is not None and value < minimum:
            raise self._fail(key, value, f"at least {minimum}")
        if maximum is not None and value > maximum:
            raise self._fail(key, value, f"at most {maximum}")
        return value

    def _list(self, key: str) -> list[str]:
        raw = self._raw(key)
        try:
            value = json.loads(raw) if raw.strip() else []
        except json.JSONDecodeError:
            raise self._fail(key, raw, "a list of strings") from None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self._fail(key, value, "a list of strings")
        return value

    def _https_url(self, key: str) -> str:
        value = self._non_empty(key)
        if not value.startswith("https://"):
            raise self._fail(key, value, "an https:// URL that Argo CD can clone")
        return value

    def _tag_value(self, key: str) -> str:
        value = self._non_empty(key)
        if len(value) > 256 or _TAG_FORBIDDEN.search(value):
            raise self._fail(key, value, "a tag value of at most 256 characters without <>%&\\?/")
        return value

    def _extra_tags(self) -> dict[str, str]:
        tags: dict[str, str] = {}
        for entry in self._list("tags"):
            name, sep, value = entry.partition("=")
            name, value = name.strip(), value.strip()
            if not sep or not name:
                raise self._fail("tags", entry, "key=value entries")
            if len(name) > 512 or len(value) > 256 or _TAG_FORBIDDEN.search(name):
                raise self._fail(
                    "tags", entry, "tag names up to 512 characters without <>%&\\?/ and values up to 256"
                )
            if name in tags:
                raise self._fail("tags", entry, f"each tag once ({name} is repeated)")
            tags[name] = value
        return tags

    def _guids(self, key: str) -> tuple[str, ...]:
        values = self._list(key)
        for value in values:
            if not _GUID.match(value):
                raise self._fail(key, value, "Microsoft Entra object ids (GUIDs)")
        return tuple(values)

    def _optional_host(self, key: str) -> str:
        value = self._raw(key).strip()
        if value and not _HOST.match(value):
            raise self._fail(key, value, "a DNS host name such as price.example.com, or empty")
        return value


def _check_consistency(settings: Settings) -> None:
    """Rules that involve more than one key; each message names the key to change."""
    if settings.compute_min_nodes > settings.compute_max_nodes:
        raise SettingsError(
            f"{PROJECT}:computeMinNodes ({settings.compute_min_nodes}) must not exceed "
            f"computeMaxNodes ({settings.compute_max_nodes})"
        )
    if settings.aks_user_min_nodes > settings.aks_user_max_nodes:
        raise SettingsError(
            f"{PROJECT}:aksUserMinNodes ({settings.aks_user_min_nodes}) must not exceed "
            f"aksUserMaxNodes ({settings.aks_user_max_nodes})"
        )
    if settings.container_expiry and settings.is_production:
        raise SettingsError(f"{PROJECT}:containerExpiry is true on a prod stack: production is never reaped")
    if settings.container_expiry and settings.serving_target != "aci":
        raise SettingsError(
            f"{PROJECT}:containerExpiry only applies to servingTarget aci (this stack serves from "
            f"{settings.serving_target})"
        )
    if settings.promotion_into_principal is not None and settings.environment == ENVIRONMENTS[0]:
        raise SettingsError(
            f"{PROJECT}:promotionIntoPrincipal is set on {settings.environment}, the first environment: nothing "
            "is promoted into it (models arrive there from training)"
        )
    if settings.promotion_from_principal is not None and settings.environment == ENVIRONMENTS[-1]:
        raise SettingsError(
            f"{PROJECT}:promotionFromPrincipal is set on {settings.environment}, the last environment: nothing "
            "is promoted out of it"
        )
    if settings.serving_target == "aci" and settings.is_production:
        raise SettingsError(
            f"{PROJECT}:servingTarget is aci on a prod stack: production serves from aks "
            "(Container Instances have no rolling update, autoscaling or Argo CD)"
        )


def _check_aks(settings: Settings, today: date) -> None:
    """What an AKS stack needs before anything is declared: a minor AKS accepts, who deploys, and a repository
    Argo CD can clone. ACI stacks create no cluster, so none of these apply to them."""
    if settings.serving_target == "aci":
        if settings.container_registry_sku != ACI_REGISTRY_SKU:
            raise SettingsError(
                f"{PROJECT}:containerRegistrySku is {settings.container_registry_sku!r} on a stack serving from "
                f"aci: Container Instances pull with a managed identity only from {ACI_REGISTRY_SKU} registries"
            )
        return
    problem = support_table().problem(settings.aks_kubernetes_version, today)
    if problem is not None:
        raise SettingsError(
            f"{PROJECT}:aksKubernetesVersion is {settings.aks_kubernetes_version!r}: {problem}"
        )
    if not settings.deployer_principal_type:
        raise SettingsError(
            f"{PROJECT}:deployerPrincipalType is not set: an AKS stack grants whoever runs `pulumi up` cluster "
            "admin, and ARM refuses a role assignment whose principal type is wrong. Set User when a person runs "
            "it (az login), ServicePrincipal when a pipeline's service connection does: "
            f"`pulumi config set deployerPrincipalType User --stack {settings.stack}`"
        )
    if settings.repository_url == PLACEHOLDER_REPOSITORY_URL:
        raise SettingsError(
            f"{PROJECT}:repositoryUrl is the placeholder {PLACEHOLDER_REPOSITORY_URL}: Argo CD syncs this stack "
            "from it. Set the HTTPS URL of your copy of this repository: "
            f"`pulumi config set repositoryUrl https://... --stack {settings.stack}`"
        )
