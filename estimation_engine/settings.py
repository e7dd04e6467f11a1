"""The engine's settings: read once from environment variables, typed and validated before anything starts.

Every setting has one environment variable (the names are the deployment contract shared with the gitops
overlays and the Pulumi program). A bad value stops the process at start with one line per offending
variable (model_contract.config_error's shape: ``<variable>: <what was wrong>; allowed: <what is
allowed>``), instead of surfacing as a strange failure under load.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from estimation_engine.model.cpu_budget import usable_cpus
from model_contract.config_error import ConfigError, Problem, refused, validation_problems
from model_contract.local_state import state_dir
from model_contract.pins import MODEL_NAME_RULE, MODEL_VERSION_RULE, is_model_name, is_model_version
from model_contract.registry_retries import DEFAULT_BUDGET_SECONDS, MAX_BUDGET_SECONDS

DEFAULT_PORT = 8080
DEFAULT_MAX_BATCH_SIZE = 1000
DEFAULT_MOVED_THRESHOLDS = ("0.05", "0.1", "0.2")
_SERVED_PIN = {"MODEL_NAME", "MODEL_VERSION"}
_THRESHOLDS_RULE = "comma-separated numbers above 0, each once, e.g. 0.05,0.1,0.2"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class LoadFailurePolicy(StrEnum):
    """What the process does when the pinned model cannot be loaded."""

    STAY_UNREADY = "stay-unready"  # keep answering /health/live, report the reason on /health/ready
    EXIT = "exit"  # exit non-zero, so the orchestrator's restart policy and events show it


class CacheTrust(StrEnum):
    """Where the expected checksum of a cached artifact comes from when the engine starts."""

    REGISTRY = "registry"  # ask the registry on every start (safe default; costs the MLflow import)
    CACHE = "cache"  # trust the checksum recorded when the cached copy was downloaded and verified


class UnknownCategoryPolicy(StrEnum):
    """What happens to a categorical level the model did not see in training."""

    WARN = "warn"  # accept it (the pipeline encodes it as unknown) and say so in the item's warnings
    REJECT = "reject"  # refuse the request with a 422 naming the field


class EngineSettings(BaseModel):
    """Typed settings. Field aliases are the environment variable names."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    model_name: str | None = Field(None, alias="MODEL_NAME")
    model_version: int | None = Field(None, alias="MODEL_VERSION")
    model_path: Path | None = Field(None, alias="MODEL_PATH")
    model_sha256: str | None = Field(None, alias="MODEL_SHA256")
    tracking_uri: str | None = Field(None, alias="MLFLOW_TRACKING_URI")
    registry_uri: str | None = Field(None, alias="MLFLOW_REGISTRY_URI")
    cache_dir: Path = Field(
        default_factory=lambda: state_dir() / "engine-cache", alias="ENGINE_MODEL_CACHE_DIR"
    )
    cache_trust: CacheTrust = Field(CacheTrust.REGISTRY, alias="ENGINE_CACHE_TRUST")
    host: str = Field("127.0.0.1", alias="ENGINE_HOST")
    port: int = Field(DEFAULT_PORT, alias="ENGINE_PORT", ge=1, le=65535)
    max_batch_size: int = Field(DEFAULT_MAX_BATCH_SIZE, alias="ENGINE_MAX_BATCH_SIZE", ge=1, le=100_000)
    max_body_bytes: int = Field(32 * 1024 * 1024, alias="ENGINE_MAX_BODY_BYTES", ge=1024)
    max_concurrency: int = Field(512, alias="ENGINE_MAX_CONCURRENCY", ge=1)
    on_load_failure: LoadFailurePolicy = Field(LoadFailurePolicy.STAY_UNREADY, alias="ENGINE_ON_LOAD_FAILURE")
    unknown_categories: UnknownCategoryPolicy = Field(
        UnknownCategoryPolicy.WARN, alias="ENGINE_UNKNOWN_CATEGORIES"
    )
    fast_path: bool = Field(True, alias="ENGINE_FAST_PATH")
    model_threads: int = Field(1, alias="ENGINE_MODEL_THREADS", ge=1, le=64)
    batch_threads: int = Field(
        default_factory=lambda: min(usable_cpus(), 4), alias="ENGINE_BATCH_THREADS", ge=1, le=64
    )
    log_level: str = Field("INFO", alias="ENGINE_LOG_LEVEL")
    shutdown_grace_seconds: int = Field(20, alias="ENGINE_SHUTDOWN_GRACE_SECONDS", ge=0, le=3600)
    # How long registry calls may retry before the load fails as registry-unreachable (the training job
    # reads the same variable): keep it inside the orchestrator's readiness budget.
    registry_retry_seconds: float = Field(
        DEFAULT_BUDGET_SECONDS, alias="REGISTRY_RETRY_SECONDS", ge=1, le=MAX_BUDGET_SECONDS
    )
    # The shadow comparison of a canary (estimation_engine/model/shadow.py): the version it replaces, named
    # by the prod overlay's previous-model.env; empty, or the served version, means no comparison.
    shadow_model_version: int | None = Field(None, alias="SHADOW_MODEL_VERSION")
    shadow_share: float = Field(1.0, alias="ENGINE_SHADOW_SHARE", ge=0, le=1, allow_inf_nan=False)
    shadow_moved_thresholds: tuple[str, ...] = Field(
        DEFAULT_MOVED_THRESHOLDS, alias="ENGINE_SHADOW_MOVED_THRESHOLDS", description=_THRESHOLDS_RULE
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise refused(f"{value!r} is not a log level", "DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("model_sha256")
    @classmethod
    def _hex_digest(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256.match(value):
            raise refused(f"{value!r} is not a sha256", "64 lowercase hex digits (the artifact's sha256)")
        return value

    @field_validator("shadow_moved_thresholds", mode="before")
    @classmethod
    def _thresholds(cls, value: object) -> tuple[str, ...]:
        """Labels exactly as written (the analysis names one of them), each a number above 0."""
        written = value.split(",") if isinstance(value, str) else value
        if not isinstance(written, (list, tuple)):
            raise refused(f"{value!r} is not a list of thresholds")
        labels = tuple(str(item).strip() for item in written)
        for label in labels:
            if not _positive_number(label):
                raise refused(f"{label!r} is not a number above 0")
        if len(set(labels)) != len(labels) or not labels:
            raise refused(f"{value!r} names a threshold twice or none")
        return labels

    @property
    def shadow_version(self) -> int | None:
        """The version to compare against, or None: shadow comparison off."""
        if self.shadow_model_version is None or self.shadow_model_version == self.model_version:
            return None
        return self.shadow_model_version

    @property
    def model_label(self) -> str:
        """How logs name the model this process is meant to serve."""
        if self.model_path is not None:
            return f"folder {self.model_path}"
        return (
            f"{self.model_name} v{self.model_version}"
            if self.model_version
            else f"{self.model_name} (no version)"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EngineSettings:
        """Read and validate the settings; ConfigError lists every offending variable at once."""
        environ = os.environ if environ is None else environ
        aliases = {field.alias for field in cls.model_fields.values()}
        # An empty variable means "not set" (an overlay may carry `MODEL_VERSION=` for "no model yet").
        raw = {key: value.strip() for key, value in environ.items() if key in aliases and value.strip()}
        problems = _pin_problems(raw)
        settings = None
        try:
            settings = cls.model_validate(raw)
        except ValidationError as error:
            pin_reported = {problem.key for problem in problems}
            if pin_reported & _SERVED_PIN:  # one line for the served pin: its rule, not pydantic's types
                pin_reported |= _SERVED_PIN
            problems += [p for p in validation_problems(error, cls) if p.key not in pin_reported]
        if problems or settings is None:
            raise ConfigError(problems)
        return settings


def unknown_engine_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """ENGINE_* variables that are no setting: most likely typos, which would otherwise be silently ignored."""
    environ = os.environ if environ is None else environ
    known = {field.alias for field in EngineSettings.model_fields.values()}
    return sorted(key for key in environ if key.startswith("ENGINE_") and key not in known)


def _positive_number(text: str) -> bool:
    try:
        number = float(text)
    except ValueError:
        return False
    return math.isfinite(number) and number > 0


def _pin_problems(raw: Mapping[str, str]) -> list[Problem]:
    """The pins follow the same rules as the pin file (model_contract.pins says them once)."""
    return _served_pin_problems(raw) + _shadow_pin_problems(raw)


def _shadow_pin_problems(raw: Mapping[str, str]) -> list[Problem]:
    shadow = raw.get("SHADOW_MODEL_VERSION")
    if shadow is None:
        return []
    if not is_model_version(shadow):
        return [Problem("SHADOW_MODEL_VERSION", f"{shadow!r} is not a version", MODEL_VERSION_RULE)]
    if "MODEL_PATH" in raw:
        allowed = (
            "empty with MODEL_PATH (the shadow is a registry version of MODEL_NAME, like the served one)"
        )
        return [Problem("SHADOW_MODEL_VERSION", "set with MODEL_PATH", allowed)]
    return []


def _served_pin_problems(raw: Mapping[str, str]) -> list[Problem]:
    if "MODEL_PATH" in raw:
        return []
    if "MODEL_NAME" not in raw:
        return [
            Problem(
                "MODEL_NAME", "not set", "a model name with MODEL_VERSION, or MODEL_PATH to a model folder"
            )
        ]
    problems = []
    if not is_model_name(raw["MODEL_NAME"]):
        problems.append(Problem("MODEL_NAME", f"{raw['MODEL_NAME']!r} is not a model name", MODEL_NAME_RULE))
    if not is_model_version(raw.get("MODEL_VERSION", "")):
        problems.append(
            Problem("MODEL_VERSION", f"{raw['MODEL_VERSION']!r} is not a version", MODEL_VERSION_RULE)
        )
    return problems
