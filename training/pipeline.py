"""The training pipeline's local runner: prepare -> train -> evaluate vs champion -> register -> bump.

Each step is a function the Azure ML pipeline's components call too (training/azureml/), so there is one
implementation of what the job does. The order protects the invariants: the data and the champion are
checked before anything is recorded; a version is registered only after the gate says so; the bump PR
is proposed only for a registered version.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from training import tracking
from training.artifact import Estimates, PriceModel, load_model_artifact, model_frame, save_model_artifact
from training.config import TrainingConfig
from training.dataset import Dataset, load_dataset
from training.evaluation import coverage_by_price_band, metrics, save_plots
from training.gate import Verdict, decide
from training.git import head_commit
from training.gitops_remote import GitopsRemote
from training.local_state import project_root, runs_dir
from training.pin_change import PinChangeResult, Preview, propose
from training.pins import ModelPin, model_pin_path
from training.pull_requests.base import PullRequestProvider
from training.registry import (
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
from training.train import Split, fit, split_rows, with_metrics

Report = Callable[[str], None]
_MLFLOW_TAG_LIMIT = 5000


class ChampionError(RuntimeError):
    """The pinned champion cannot be found or loaded: the gate cannot be trusted, so the run stops."""


@dataclass(frozen=True)
class Services:
    """Where the pipeline reads and writes: registry, tracking, gitops remote, PR provider."""

    registry: ModelRegistry
    remote: GitopsRemote
    provider: PullRequestProvider
    preview: Preview | None = None


@dataclass(frozen=True)
class Champion:
    pin: ModelPin
    pin_text: str
    model: PriceModel | None


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    verdict: Verdict
    metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    registered: RegisteredVersion | None
    bump: PinChangeResult | None
    decision_path: Path
    plots: tuple[Path, ...]


class Progress:
    """Readable progress: which step, how long it took."""

    def __init__(self, report: Report = print) -> None:
        self.report = report

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        self.report(f"-> {name} ...")
        yield
        self.report(f"   {name}: done in {time.perf_counter() - started:.1f}s")


def read_champion(env: str, remote: GitopsRemote, registry: ModelRegistry) -> Champion:
    """The version pinned in ``env`` on the remote's default branch, loaded from the registry."""
    with remote.checkout() as checkout:
        pin = checkout.model_pin(env)
        text = checkout.read(str(model_pin_path(env))) or ""
    if pin.version is None:
        return Champion(pin, text, None)
    try:
        version = registry.get(pin.name, pin.version)
    except ModelNotFoundError as error:
        raise ChampionError(
            f"{env} pins {pin.describe()} but the registry at {registry.registry_uri} has no such version: "
            "the gate cannot compare against it (fix the pin or point MLFLOW_TRACKING_URI at the right registry)"
        ) from error
    with tempfile.TemporaryDirectory(prefix="champion-") as folder:
        path = registry.download(version, Path(folder) / "model")
        return Champion(pin, text, load_model_artifact(path, version.sha256))


def score(model: PriceModel, dataset: Dataset, rows: np.ndarray) -> dict[str, float]:
    """A model's metrics on the given rows of the dataset (the challenger's test split, for both)."""
    return metrics(dataset.target.to_numpy()[rows], estimate_rows(model, dataset, rows))


def estimate_rows(model: PriceModel, dataset: Dataset, rows: np.ndarray) -> Estimates:
    """Estimates for some rows, typed by the model's own signature (a champion may predate new columns)."""
    return model.estimate(model_frame(dataset.features.iloc[rows], model.card.features))


def run(
    config: TrainingConfig,
    env: str,
    services: Services,
    force: bool = False,
    progress: Progress | None = None,
) -> RunOutcome:
    """Train, gate against ``env``'s champion, and register and bump when the challenger wins."""
    progress = progress or Progress()
    with progress.step("prepare data"):
        dataset = load_dataset(config)
        progress.report(
            f"   {len(dataset)} rows from {dataset.source}, fingerprint {dataset.fingerprint[:12]}"
        )
    with progress.step(f"read the champion pinned in {env}"):
        champion = read_champion(env, services.remote, services.registry)
        progress.report(f"   champion: {champion.pin.describe()}")
    code_version = head_commit(project_root()) or "unknown"
    split = split_rows(len(dataset), config.split)
    with tracking.tracked_run(
        services.registry.tracking_uri,
        config.model_name,
        f"train-{env}",
        {"env": env, "git_commit": code_version},
    ) as tracked:
        with progress.step("train"):
            challenger = fit(config, dataset, split, code_version)
        with progress.step("evaluate on the test split"):
            challenger_metrics = score(challenger, dataset, split.test)
            champion_metrics = score(champion.model, dataset, split.test) if champion.model else None
            verdict = decide(config.gate, challenger_metrics, champion_metrics, champion.pin.version, force)
            challenger = with_metrics(challenger, challenger_metrics, tracked.run_id)
        progress.report(f"   verdict: {verdict.reason}")
        outputs = _record(config, env, dataset, split, challenger, verdict, champion_metrics, tracked)
    registered = bump = None
    if verdict.register:
        with progress.step("register"):
            registered = _register(
                config, dataset, challenger, outputs["sha256"], tracked, code_version, services
            )
            progress.report(f"   registered {registered.name} v{registered.version}")
        with progress.step(f"open the bump pull request for {env}"):
            bump = _bump(
                env, registered, verdict, challenger_metrics, champion_metrics, champion, services, tracked
            )
    decision = _write_decision(outputs["folder"], config, env, dataset, verdict, challenger_metrics,
                               champion_metrics, registered, bump, tracked)  # fmt: skip
    return RunOutcome(
        tracked.run_id,
        verdict,
        challenger_metrics,
        champion_metrics,
        registered,
        bump,
        decision,
        outputs["plots"],
    )


def _record(
    config: TrainingConfig, env: str, dataset: Dataset, split: Split, model: PriceModel, verdict: Verdict,
    champion_metrics: dict[str, float] | None, tracked: tracking.TrackedRun,
) -> dict:  # fmt: skip
    """Log params, metrics, plots and (if it will be registered) the model artifact to the run."""
    folder = runs_dir() / tracked.run_id
    tracking.log_params({"env": env, "config": config.model_dump(mode="json")})
    tracking.log_metrics(model.card.metrics, prefix="test_")
    if champion_metrics:
        tracking.log_metrics(champion_metrics, prefix="champion_test_")
    test = dataset.target.to_numpy()[split.test]
    estimates = estimate_rows(model, dataset, split.test)
    plots = tuple(save_plots(test, estimates, config.intervals.coverage, folder / "plots"))
    tracking.log_folder(folder / "plots", "plots")
    tracking.log_json({"bands": coverage_by_price_band(test, estimates)}, "coverage_by_price_band.json")
    tracking.log_json(verdict.as_dict(), "gate_verdict.json")
    sha256 = None
    if verdict.register:
        with tempfile.TemporaryDirectory(prefix="artifact-") as staging:
            artifact = Path(staging) / "model"
            requirements = _pip_requirements()
            sha256 = save_model_artifact(artifact, model.pipeline, model.card, dataset.features, requirements)
            tracking.log_folder(artifact, tracking.MODEL_ARTIFACT_PATH)
    return {"folder": folder, "plots": plots, "sha256": sha256}


def _register(
    config: TrainingConfig, dataset: Dataset, model: PriceModel, sha256: str, tracked: tracking.TrackedRun,
    code_version: str, services: Services,
) -> RegisteredVersion:  # fmt: skip
    config_text = config.as_yaml()
    tags = {
        TAG_SHA256: sha256,
        TAG_LINEAGE: model.card.lineage_key,
        TAG_METRICS: json.dumps(model.card.metrics, sort_keys=True),
        TAG_FINGERPRINT: dataset.fingerprint,
        TAG_CONFIG: config_text if len(config_text) < _MLFLOW_TAG_LIMIT else f"sha256:{config.digest()}",
        TAG_GIT_COMMIT: code_version,
        TAG_SIGNATURE: ",".join(f"{f.name}:{f.kind}{'*' if f.required else ''}" for f in dataset.schema),
    }
    return services.registry.register(config.model_name, tracked.run_id, tracked.model_uri, tags)


def _bump(
    env: str, version: RegisteredVersion, verdict: Verdict, challenger: dict[str, float],
    champion_metrics: dict[str, float] | None, champion: Champion, services: Services,
    tracked: tracking.TrackedRun,
) -> PinChangeResult:  # fmt: skip
    from training.bump import bump_change

    link = f"MLflow {services.registry.tracking_uri}, experiment {tracked.experiment_id}"
    change = bump_change(
        env, version, verdict, challenger, champion_metrics, champion.pin, champion.pin_text, link
    )
    return propose(change, services.remote, services.provider, services.preview)


def _write_decision(
    folder: Path, config: TrainingConfig, env: str, dataset: Dataset, verdict: Verdict,
    challenger: dict[str, float], champion: dict[str, float] | None, registered: RegisteredVersion | None,
    bump: PinChangeResult | None, tracked: tracking.TrackedRun,
) -> Path:  # fmt: skip
    """The decision record: why this run did or did not change anything, as JSON beside its plots."""
    record = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_id": tracked.run_id,
        "env": env,
        "model_name": config.model_name,
        "data_fingerprint": dataset.fingerprint,
        "gate": config.gate.model_dump(),
        "verdict": verdict.as_dict(),
        "challenger_metrics": challenger,
        "champion_metrics": champion,
        "registered_version": registered.version if registered else None,
        "pull_request": _pr_summary(bump),
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "decision.json"
    path.write_text(json.dumps(record, indent=2))
    return path


def _pr_summary(bump: PinChangeResult | None) -> dict | None:
    if bump is None:
        return None
    pr = bump.pull_request
    return {"status": bump.status, "number": pr.number if pr else None, "url": pr.url if pr else None,
            "superseded": list(bump.superseded)}  # fmt: skip


def _pip_requirements() -> list[str]:
    """Pin the serving-critical libraries to the versions that trained the model."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("scikit-learn", "numpy", "pandas", "scipy")]
