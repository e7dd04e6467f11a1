"""Each environment's own registry: the MLflow store in which that environment's pin numbers versions.

Every stack declares its own Azure ML workspace, so dev, qa and prod each have their own registry, and
``MODEL_VERSION=7`` in qa's pin means version 7 *of qa's registry*. Where each one is:

1. ``MLFLOW_TRACKING_URI_<ENV>`` (``MLFLOW_TRACKING_URI_DEV``, ``_QA``, ``_PROD``): that environment's
   workspace, e.g. ``pulumi stack output mlflowTrackingUri --stack qa``;
2. else ``MLFLOW_TRACKING_URI`` (with ``MLFLOW_REGISTRY_URI``), the one registry MLflow itself knows,
   e.g. inside an Azure ML job, where Azure ML sets it to the job's workspace;
3. else the embedded default: ``.mlops/registries/<env>/``.

A promotion reads one environment's registry and writes another's, so it refuses the generic variable
(2): with only ``MLFLOW_TRACKING_URI`` set, "dev's version 7" would be looked up in whatever registry that
names, and the wrong model promoted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from model_contract.config_error import ConfigError, Problem
from model_contract.local_state import default_tracking_uri
from model_contract.pins import ENVIRONMENTS
from model_contract.registry import ModelRegistry

GENERIC_VARIABLE = "MLFLOW_TRACKING_URI"
LOCAL_DEFAULT = "the embedded default"


def registry_variable(env: str) -> str:
    return f"{GENERIC_VARIABLE}_{env.upper()}"


@dataclass(frozen=True)
class RegistryLocation:
    """Where an environment's registry is, and which setting said so (for messages)."""

    env: str
    tracking_uri: str
    registry_uri: str | None
    origin: str  # the variable that named it, or LOCAL_DEFAULT

    @property
    def environment_specific(self) -> bool:
        return self.origin != GENERIC_VARIABLE


@dataclass
class EnvironmentRegistries:
    """The registry of each environment, opened on first use."""

    locations: Mapping[str, RegistryLocation]
    _opened: dict[str, ModelRegistry] = field(default_factory=dict, repr=False)

    @classmethod
    def resolve(
        cls, specific_uris: Mapping[str, str], generic: str | None, generic_registry: str | None = None
    ) -> EnvironmentRegistries:
        """Apply the order of the module docstring: per-environment URI, generic URI, local default."""
        locations = {}
        for env in ENVIRONMENTS:
            specific = specific_uris.get(env)
            if specific:
                locations[env] = RegistryLocation(env, specific, None, registry_variable(env))
            elif generic:
                locations[env] = RegistryLocation(env, generic, generic_registry, GENERIC_VARIABLE)
            else:
                locations[env] = RegistryLocation(env, default_tracking_uri(env), None, LOCAL_DEFAULT)
        return cls(locations)

    @classmethod
    def of(cls, registries: Mapping[str, ModelRegistry]) -> EnvironmentRegistries:
        """Already-opened registries (tests and the demo build them this way)."""
        locations = {
            env: RegistryLocation(env, registry.tracking_uri, registry.registry_uri, registry_variable(env))
            for env, registry in registries.items()
        }
        return cls(locations, dict(registries))

    def location(self, env: str) -> RegistryLocation:
        if env not in self.locations:
            raise ConfigError.of("environment", f"{env!r} has no registry", ", ".join(self.locations))
        return self.locations[env]

    def registry(self, env: str) -> ModelRegistry:
        if env not in self._opened:
            location = self.location(env)
            self._opened[env] = ModelRegistry(location.tracking_uri, location.registry_uri)
        return self._opened[env]

    def for_promotion(self, source: str, target: str) -> tuple[ModelRegistry, ModelRegistry]:
        """The source's and the target's registries; refused unless each is named for its environment."""
        vague = [env for env in (source, target) if not self.location(env).environment_specific]
        if vague:
            raise ConfigError(
                Problem(
                    registry_variable(env),
                    f"not set, and {GENERIC_VARIABLE} names one registry for every environment while a "
                    f"promotion from {source} to {target} reads {source}'s registry and writes {target}'s",
                    f"{env}'s own MLflow registry: pulumi stack output mlflowTrackingUri --stack {env}",
                )
                for env in vague
            )
        return self.registry(source), self.registry(target)
