"""Which model a batch runs, and loading it exactly as the engine does.

The model is named like the engine's own pin: a version of ``MODEL_NAME`` (``--model-version``), the version
an environment's gitops overlay pins (``--env``, read through model_contract.pins), or an artifact folder
(``--model-path``). Everything else comes from the engine's settings (``EngineSettings.from_env``): the
registry (``MLFLOW_TRACKING_URI``; with ``--env``, that environment's registry as
model_contract.environment_registries finds it), the download cache, the checksum rule, the
unknown-category policy. The model is then loaded by ``load_pinned_model`` and compiled and verified as
the engine's fast path is, so a batch estimates with the same model object the engine would serve.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from estimation_engine.model.model_loading import ServedModel, load_pinned_model
from estimation_engine.model.verified_fast_path import verified_fast_path
from estimation_engine.settings import EngineSettings
from model_contract.config_error import ConfigError
from model_contract.environment_registries import EnvironmentRegistries, registry_variable
from model_contract.local_state import project_root
from model_contract.pins import ENVIRONMENTS, ModelPin, PinError, model_pin_path, parse_model_pin

if TYPE_CHECKING:
    from estimation_engine.model.fast_path import Predict

log = logging.getLogger(__name__)
_PINNED_VARIABLES = ("MODEL_NAME", "MODEL_VERSION", "MODEL_PATH", "MODEL_SHA256")


@dataclass(frozen=True)
class ModelChoice:
    """What the command line named: exactly one of the three."""

    version: int | None = None
    env: str | None = None
    path: Path | None = None
    name: str | None = None  # with --model-version: overrides MODEL_NAME
    checkout: Path | None = None  # with --env: the repository checkout whose gitops/ holds the pins


def batch_settings(choice: ModelChoice, environ: Mapping[str, str] | None = None) -> EngineSettings:
    """The engine's settings from the environment, with the model the command line chose."""
    environ = dict(os.environ if environ is None else environ)
    values = {key: value for key, value in environ.items() if key not in _PINNED_VARIABLES}
    if choice.path is not None:
        values["MODEL_PATH"] = str(choice.path)
        if choice.name:
            values["MODEL_NAME"] = choice.name
    elif choice.env is not None:
        values.update(_pinned_in(choice.env, choice.checkout or project_root(), environ))
    else:
        values["MODEL_NAME"] = choice.name or environ.get("MODEL_NAME", "")
        values["MODEL_VERSION"] = str(choice.version)
        if environ.get("MODEL_SHA256") and not choice.name:
            values["MODEL_SHA256"] = environ["MODEL_SHA256"]
    return EngineSettings.from_env(values)


def read_pin(env: str, checkout: Path | None = None) -> ModelPin:
    """The model version ``env``'s gitops overlay pins in ``checkout`` (default: this repository);
    ConfigError when there is none."""
    if env not in ENVIRONMENTS:
        raise ConfigError.of("--env", f"{env!r} is not an environment", ", ".join(ENVIRONMENTS))
    pin_file = (checkout or project_root()) / model_pin_path(env)
    try:
        pin = parse_model_pin(pin_file.read_text(), str(pin_file))
    except FileNotFoundError as error:
        raise ConfigError.of(
            "--checkout", f"{pin_file} does not exist", "a checkout of this repository (it holds gitops/)"
        ) from error
    except PinError as error:
        raise ConfigError.of(
            "--env", str(error), "a well-formed pin file (model_contract/pins.py)"
        ) from error
    if pin.version is None:
        raise ConfigError.of(
            "--env",
            f"{env} pins no version of {pin.name} yet ({pin_file})",
            "an environment that serves a model",
        )
    return pin


def _pinned_in(env: str, checkout: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """MODEL_NAME/MODEL_VERSION from ``env``'s pin file, and the registry that numbers that version."""
    pin = read_pin(env, checkout)
    specific = {name: environ[registry_variable(name)] for name in ENVIRONMENTS if environ.get(registry_variable(name))}  # fmt: skip
    location = EnvironmentRegistries.resolve(
        specific, environ.get("MLFLOW_TRACKING_URI"), environ.get("MLFLOW_REGISTRY_URI")
    ).location(env)
    values = {
        "MODEL_NAME": pin.name,
        "MODEL_VERSION": str(pin.version),
        "MLFLOW_TRACKING_URI": location.tracking_uri,
    }
    if location.registry_uri:
        values["MLFLOW_REGISTRY_URI"] = location.registry_uri
    return values


@dataclass
class BatchModel:
    """The loaded model and its evaluation: the compiled fast path when it verified, else the pipeline."""

    served: ServedModel
    compiled: Predict | None

    @property
    def evaluation(self) -> str:
        return "fast-path" if self.compiled is not None else "pipeline"


def load_batch_model(settings: EngineSettings, threads: int) -> BatchModel:
    """Load what ``settings`` pin (ModelLoadError names the cause) and compile it as the engine does."""
    served = load_pinned_model(settings)
    return BatchModel(served, verified_fast_path(served, threads) if settings.fast_path else None)
