"""The stack's settings: one pydantic model, validated once from the Pulumi config, then passed typed.

Every component reads its knobs from :class:`Settings` instead of calling ``pulumi.Config`` itself, so a
bad value is refused once, up front, before any resource is declared, and every bad key of a stack file is
reported at once, one :class:`~model_contract.config_error.ConfigError` line per key. Field ``x_y`` is config key
``xY`` (``extra_tags`` is ``tags``). The defaults live in one place only: the ``config:`` block of
``Pulumi.yaml`` (``pulumi up`` applies them, and ``python -m infra plan`` applies them the same way), so a
key missing here means the project file lost its default, and the model has none to fall back on.

Each field's type refuses what is wrong with the key alone (:mod:`infra.setting_values`); the rules that
relate keys, and the AKS support table read with the deployment's date, are :func:`_stack_rules`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from infra.aks_versions import support_table
from infra.setting_values import (
    ArgoCdChart,
    ArgoRolloutsChart,
    Flag,
    HostName,
    HttpsUrl,
    KeyVaultSecretName,
    KubernetesMinor,
    NamePrefix,
    NonEmpty,
    ObjectIds,
    People,
    PrometheusChart,
    RegionName,
    RegistryName,
    ServicePrincipalRef,
    Tags,
    TagValue,
    VmSize,
    WholeNumber,
    between,
    refused,
)
from model_contract.config_error import REFUSED, ConfigError, Problem
from model_contract.pins import ENVIRONMENTS

PROJECT = "property-price-platform"

ServingTarget = Literal["aci", "aks"]
# The repository URL Pulumi.yaml ships with: Argo CD cannot clone it, so an AKS stack refuses it.
PLACEHOLDER_REPOSITORY_URL = "https://github.com/your-org/property-price-platform.git"
# Azure Container Instances pull with a managed identity only from Premium registries (the documented
# prerequisite of "Deploy to Azure Container Instances from Azure Container Registry using a managed identity").
ACI_REGISTRY_SKU = "Premium"


def _known_environment(value: str) -> str:
    if value not in ENVIRONMENTS:
        raise refused(f"{value!r} is not an environment")
    return value


class Settings(BaseModel):
    """What one stack deploys: each field is the Pulumi config key of its name in camelCase."""

    # python-re: the name rules need look-aheads, which pydantic's default (Rust) regex engine lacks.
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, regex_engine="python-re")

    stack: str
    environment: Annotated[str, AfterValidator(_known_environment)] = Field(
        description=f"one of {', '.join(ENVIRONMENTS)} (empty means the stack name)"
    )
    location: RegionName
    name_prefix: NamePrefix
    owner: TagValue
    extra_tags: Tags = Field(alias="tags")
    repository_url: HttpsUrl
    repository_revision: NonEmpty
    public_network_access: Flag
    container_registry_name: RegistryName
    container_registry_sku: Literal["Basic", "Standard", "Premium"]
    log_retention_days: WholeNumber = between(30, 730)
    compute_vm_size: VmSize
    compute_vm_priority: Literal["Dedicated", "LowPriority"]
    compute_min_nodes: WholeNumber = between(0)
    compute_max_nodes: WholeNumber = between(1)
    compute_idle_minutes_before_scale_down: WholeNumber = between(1, 1440)
    serving_target: ServingTarget
    aci_cpu_millicores: WholeNumber = between(100, 4000)
    aci_memory_mb: WholeNumber = between(512, 16384)
    container_expiry: Flag
    dev_ttl_hours: WholeNumber = between(1, 24 * 14)
    aks_kubernetes_version: KubernetesMinor
    aks_tier: Literal["Free", "Standard", "Premium"]
    aks_system_vm_size: VmSize
    aks_system_node_count: WholeNumber = between(1, 100)
    aks_user_vm_size: VmSize
    aks_user_min_nodes: WholeNumber = between(0, 1000)
    aks_user_max_nodes: WholeNumber = between(1, 1000)
    aks_admin_group_object_ids: ObjectIds
    aks_ingress_host: HostName
    # Who runs `pulumi up`: a person (az login) or a service principal / managed identity (CI).
    deployer_principal_type: Literal["", "User", "ServicePrincipal"] = Field(
        description="User or ServicePrincipal (empty only on stacks serving from aci)"
    )
    argocd_chart_version: ArgoCdChart
    argo_rollouts_chart_version: ArgoRolloutsChart
    prometheus_chart_version: PrometheusChart
    argocd_repository_secret: KeyVaultSecretName
    argocd_repository_username: NonEmpty
    pipeline_principal: ServicePrincipalRef
    data_scientists: People
    key_vault_secrets_officers: People
    promotion_into_principal: ServicePrincipalRef
    promotion_from_principal: ServicePrincipalRef

    @field_validator("environment", mode="before")
    @classmethod
    def _empty_means_the_stack(cls, value: object, info: ValidationInfo) -> object:
        return value or info.data.get("stack")

    @model_validator(mode="after")
    def _rules_across_keys(self, info: ValidationInfo) -> Settings:
        """Runs once every key is valid on its own; all broken rules are reported together."""
        today = (info.context or {}).get("today") or date.today()
        problems = list(_stack_rules(self, today))
        if problems:
            raise ConfigError(problems)
        return self

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


# The Pulumi config keys the model reads: every field but the stack's name, which Pulumi gives apart.
CONFIG_KEYS: tuple[str, ...] = tuple(
    str(field.alias) for name, field in Settings.model_fields.items() if name != "stack"
)

ConfigReader = Callable[[str], "str | None"]


def settings_from_config(read: ConfigReader, stack: str, today: date | None = None) -> Settings:
    """Build the settings from a raw reader (``pulumi.Config().get``): strings in, typed values out.

    ``today`` is the day the stack is deployed (default: today), against which the pinned Kubernetes minor
    is checked; the offline plan passes its injected clock. Raises :class:`ConfigError` naming every
    refused key.
    """
    raw = {key: value.strip() for key in CONFIG_KEYS if (value := read(key)) is not None}
    try:
        return Settings.model_validate({"stack": stack, **raw}, context={"today": today})
    except ValidationError as error:
        raise ConfigError(_problems(error, stack)) from None


def _problems(error: ValidationError, stack: str) -> Iterator[Problem]:
    """pydantic's errors as ``<key>: <what was wrong>; allowed: <what is allowed>`` lines."""
    for item in error.errors():
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, ConfigError):  # the rules across keys, already in shape
            yield from cause.problems
            continue
        alias, *index = item["loc"]
        field = _field(str(alias))
        key = f"{PROJECT}:{alias}" + "".join(f"[{position}]" for position in index)
        allowed = item.get("ctx", {}).get("allowed") or _allowed(field)
        yield Problem(key, _wrong(item, stack), allowed)


def _field(alias: str) -> FieldInfo:
    return next(field for field in Settings.model_fields.values() if field.alias == alias)


def _allowed(field: FieldInfo) -> str:
    """A field's description says what it accepts; a choice of literals says it by itself."""
    if field.description:
        return field.description
    return f"one of {', '.join(get_args(field.annotation))}"


def _wrong(item: Any, stack: str) -> str:
    value, context = item.get("input"), item.get("ctx", {})
    if item["type"] == "missing":
        return f"not set (no default in Pulumi.yaml, no value in environments/Pulumi.{stack}.yaml)"
    if item["type"] == REFUSED:
        return context["wrong"]
    if isinstance(value, str) and not value.strip():
        return "empty"
    if item["type"] == "greater_than_equal":
        return f"{value} is below {context['ge']}"
    if item["type"] == "less_than_equal":
        return f"{value} is above {context['le']}"
    if item["type"] == "literal_error":
        return f"{value!r} is not one of the choices"
    return f"{value!r} is malformed"


def _stack_rules(settings: Settings, today: date) -> Iterator[Problem]:
    """Rules that involve more than one key (or the date); each problem names the key to change."""
    yield from _node_ranges(settings)
    yield from _environment_rules(settings)
    if settings.serves_from_aks:
        yield from _aks_rules(settings, today)
    elif settings.container_registry_sku != ACI_REGISTRY_SKU:
        yield Problem(
            f"{PROJECT}:containerRegistrySku",
            f"{settings.container_registry_sku!r} on a stack serving from aci: Container Instances pull with a "
            f"managed identity only from {ACI_REGISTRY_SKU} registries",
            ACI_REGISTRY_SKU,
        )


def _node_ranges(settings: Settings) -> Iterator[Problem]:
    for low, high, low_key, high_key in (
        (settings.compute_min_nodes, settings.compute_max_nodes, "computeMinNodes", "computeMaxNodes"),
        (settings.aks_user_min_nodes, settings.aks_user_max_nodes, "aksUserMinNodes", "aksUserMaxNodes"),
    ):
        if low > high:
            yield Problem(f"{PROJECT}:{low_key}", f"{low} exceeds {high_key} ({high})", f"at most {high}")


def _environment_rules(settings: Settings) -> Iterator[Problem]:
    """What each environment's place in dev -> qa -> prod forbids."""
    env = settings.environment
    if settings.container_expiry and settings.is_production:
        yield Problem(
            f"{PROJECT}:containerExpiry", "true on a prod stack", "false: production is never reaped"
        )
    elif settings.container_expiry and settings.serves_from_aks:
        yield Problem(
            f"{PROJECT}:containerExpiry",
            "true on a stack serving from aks",
            "false: expiry only applies to servingTarget aci",
        )
    if settings.promotion_into_principal is not None and env == ENVIRONMENTS[0]:
        yield Problem(
            f"{PROJECT}:promotionIntoPrincipal",
            f"set on {env}, the first environment: nothing is promoted into it (models arrive from training)",
            "empty",
        )
    if settings.promotion_from_principal is not None and env == ENVIRONMENTS[-1]:
        yield Problem(
            f"{PROJECT}:promotionFromPrincipal",
            f"set on {env}, the last environment: nothing is promoted out of it",
            "empty",
        )
    if settings.serving_target == "aci" and settings.is_production:
        yield Problem(
            f"{PROJECT}:servingTarget",
            "'aci' on a prod stack: Container Instances have no rolling update, autoscaling or Argo CD",
            "aks",
        )


def _aks_rules(settings: Settings, today: date) -> Iterator[Problem]:
    """What an AKS stack needs before anything is declared: a minor AKS accepts, who deploys, and a repository
    Argo CD can clone. ACI stacks create no cluster, so none of these apply to them."""
    table = support_table()
    minor = settings.aks_kubernetes_version
    problem = table.problem(minor, today)
    if problem is not None:
        yield Problem(f"{PROJECT}:aksKubernetesVersion", f"{minor!r} {problem}", table.allowed(today))
    if not settings.deployer_principal_type:
        yield Problem(
            f"{PROJECT}:deployerPrincipalType",
            "not set on an AKS stack, which grants whoever runs `pulumi up` cluster admin (ARM refuses a role "
            "assignment whose principal type is wrong)",
            "User when a person runs it (az login), ServicePrincipal when a pipeline's service connection "
            f"does: `pulumi config set deployerPrincipalType User --stack {settings.stack}`",
        )
    if settings.repository_url == PLACEHOLDER_REPOSITORY_URL:
        yield Problem(
            f"{PROJECT}:repositoryUrl",
            f"the placeholder {PLACEHOLDER_REPOSITORY_URL}, which Argo CD cannot sync this stack from",
            "the HTTPS URL of your copy of this repository: "
            f"`pulumi config set repositoryUrl https://... --stack {settings.stack}`",
        )
