"""The steps of a training run: prepare -> train -> evaluate vs champion -> register -> bump.

``training.runner.run`` chains them in one process; the Azure ML components (training/azureml/step.py) run
each in its own job and pass what lies between them as files. Neither has a copy of what they do. The
bump itself is delivery's (delivery/bump.py): this step asks for it.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from delivery.bump import open_bump
from delivery.gitops_remote import GitopsRemote
from delivery.pin_change import PinChangeResult
from delivery.services import Services
from model_contract.artifact import (
    Estimates,
    ModelCard,
    PriceModel,
    load_model_artifact,
    model_frame,
    save_model_artifact,
)
from model_contract.pins import ModelPin, model_pin_path
from model_contract.registry import (
    TAG_CONFIG,
    TAG_FINGERPRINT,
    TAG_GIT_COMMIT,
    TAG_LINEAGE,
    TAG_METRICS,
    TAG_SHA256,
    TAG_SIGNATURE,
    ModelNotFoundError,
    ModelRegistry,
    RegisteredVersion,
)
from training import tracking
from training.config import TrainingConfig
from training.dataset import Dataset, load_dataset
from training.evaluation import coverage_by_price_band, metrics, save_plots
from training.gate import Verdict, decide, incomparability, not_comparable, switched
from training.train import Split, fit, with_metrics

_MLFLOW_TAG_LIMIT = 5000


class ChampionError(RuntimeError):
    """The pinned champion cannot be found or loaded: the gate cannot be trusted, so the run stops."""


@dataclass(frozen=True)
class Champion:
    env: str
    pin: ModelPin
    pin_text: str
    model: PriceModel | None

    def incomparability(self, model_name: str, columns: Collection[str]) -> str | None:
        """Why this champion cannot be scored on a run of ``model_name`` over ``columns`` (None: it can)."""
        return incomparability(self.pin, self.model.card if self.model else None, model_name, columns)


def read_champion(env: str, remote: GitopsRemote, registry: ModelRegistry) -> Champion:
    """The version pinned in ``env`` on the remote's default branch, loaded from the registry."""
    with remote.checkout() as checkout:
        pin = checkout.model_pin(env)
        text = checkout.read(str(model_pin_path(env))) or ""
    if pin.version is None:
        return Champion(env, pin, text, None)
    try:
        version = registry.get(pin.name, pin.version)
    except ModelNotFoundError as error:
        raise ChampionError(
            f"{env} pins {pin.describe()} but the registry at {registry.registry_uri} has no such version: "
            "the gate cannot compare against it (fix the pin or point MLFLOW_TRACKING_URI at the right registry)"
        ) from error
    with tempfile.TemporaryDirectory(prefix="champion-") as folder:
        path = registry.download(version, Path(folder) / "model")
        return Champion(env, pin, text, load_model_artifact(path, version.sha256))


def score(model: PriceModel, dataset: Dataset, rows: np.ndarray) -> dict[str, float]:
    """A model's metrics on the given rows of the dataset (the challenger's test split, for both)."""
    return metrics(dataset.target.to_numpy()[rows], estimate_rows(model, dataset, rows))


def estimate_rows(model: PriceModel, dataset: Dataset, rows: np.ndarray) -> Estimates:
    """Estimates for some rows, typed by the model's own signature (a champion may predate new columns)."""
    return model.estimate(model_frame(dataset.features.iloc[rows], model.card.features))


@dataclass(frozen=True)
class Evaluation:
    """The gate's verdict with the numbers it was given: both models on the same test split."""

    verdict: Verdict
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None


def prepare(config: TrainingConfig) -> Dataset:
    """Step 1: read, validate and fingerprint the configured data (nothing is recorded before this)."""
    return load_dataset(config)


def train(
    config: TrainingConfig, dataset: Dataset, split: Split, code_version: str, run_id: str | None
) -> PriceModel:
    """Step 2: fit the challenger and write its test-split metrics and run id into its card."""
    challenger = fit(config, dataset, split, code_version)
    return with_metrics(challenger, score(challenger, dataset, split.test), run_id)


def evaluate(
    config: TrainingConfig, dataset: Dataset, split: Split, challenger_metrics: dict[str, float],
    champion: Champion, force: bool = False, switch_model: bool = False,
) -> Evaluation:  # fmt: skip
    """Step 3: score the champion on the challenger's test split and let the gate decide.

    A champion that cannot be compared (another model name, required features missing from the data)
    is not scored: the verdict is "not-comparable", or "switched" when the user asked to switch.
    """
    reason = champion.incomparability(config.model_name, dataset.features.columns)
    if reason is not None:
        verdict = (
            switched(config.gate, reason, challenger_metrics, champion.pin)
            if switch_model
            else not_comparable(config.gate, reason, champion.pin.version, champion.env, config.model_name)
        )
        return Evaluation(verdict, dict(challenger_metrics), None)
    champion_metrics = score(champion.model, dataset, split.test) if champion.model else None
    verdict = decide(config.gate, challenger_metrics, champion_metrics, champion.pin.version, force)
    return Evaluation(verdict, dict(challenger_metrics), champion_metrics)


def record_training(
    config: TrainingConfig, env: str, dataset: Dataset, split: Split, model: PriceModel, plots_folder: Path
) -> tuple[Path, ...]:
    """Log the run's params, test metrics, plots and coverage by price band to the active MLflow run."""
    tracking.log_params({"env": env, "config": config.model_dump(mode="json")})
    tracking.log_metrics(model.card.metrics, prefix="test_")
    test = dataset.target.to_numpy()[split.test]
    estimates = estimate_rows(model, dataset, split.test)
    plots = tuple(save_plots(test, estimates, config.intervals.coverage, plots_folder))
    tracking.log_folder(plots_folder, "plots")
    tracking.log_json({"bands": coverage_by_price_band(test, estimates)}, "coverage_by_price_band.json")
    return plots


def record_evaluation(evaluation: Evaluation) -> None:
    """Log the champion's metrics and the verdict, so a "no improvement" can be audited later."""
    if evaluation.champion_metrics:
        tracking.log_metrics(evaluation.champion_metrics, prefix="champion_test_")
    tracking.log_json(evaluation.verdict.as_dict(), "gate_verdict.json")


def save_artifact(model: PriceModel, dataset: Dataset, folder: Path) -> str:
    """Write the model artifact folder and return its sha256 (what the registry records)."""
    return save_model_artifact(folder, model.pipeline, model.card, dataset.features, _pip_requirements())


def log_artifact(folder: Path) -> None:
    """Attach a saved artifact folder to the active run, where registration points at it."""
    tracking.log_folder(folder, tracking.MODEL_ARTIFACT_PATH)


def register(
    config: TrainingConfig, card: ModelCard, sha256: str, tracked: tracking.TrackedRun, code_version: str,
    registry: ModelRegistry,
) -> RegisteredVersion:  # fmt: skip
    """Step 4 (only when the verdict says so): a registry version for the run's logged artifact.

    Idempotent: the registry returns the existing version for the same run id or lineage key.
    """
    config_text = config.as_yaml()
    tags = {
        TAG_SHA256: sha256,
        TAG_LINEAGE: card.lineage_key,
        TAG_METRICS: json.dumps(dict(card.metrics), sort_keys=True),
        TAG_FINGERPRINT: card.data_fingerprint,
        TAG_CONFIG: config_text if len(config_text) < _MLFLOW_TAG_LIMIT else f"sha256:{config.digest()}",
        TAG_GIT_COMMIT: code_version,
        TAG_SIGNATURE: ",".join(f"{f.name}:{f.kind}{'*' if f.required else ''}" for f in card.features),
    }
    return registry.register(config.model_name, tracked.run_id, tracked.model_uri, tags)


def bump(
    env: str, version: RegisteredVersion, evaluation: Evaluation, champion_pin: ModelPin,
    champion_pin_text: str, services: Services, run_link: str,
) -> PinChangeResult:  # fmt: skip
    """Step 5: ask delivery for the pull request pinning ``version`` in ``env`` (opened, or updated)."""
    return open_bump(
        env, version, evaluation.verdict, evaluation.challenger_metrics, evaluation.champion_metrics,
        champion_pin, champion_pin_text, services, run_link,
    )  # fmt: skip


def run_link(tracking_uri: str, experiment_id: str) -> str:
    """Where a person finds the training run, for the bump PR's body."""
    return f"MLflow {tracking_uri}, experiment {experiment_id}"


def _pip_requirements() -> list[str]:
    """Pin the serving-critical libraries to the versions that trained the model."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("scikit-learn", "numpy", "pandas", "scipy")]
