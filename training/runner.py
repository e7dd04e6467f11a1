"""The training job's local runner: the steps of training/steps.py chained in one process.

The order protects the invariants: the data and the champion are checked before anything is recorded; a
version is registered only after the gate says so; the bump PR is asked of delivery only for a registered
version; the decision is recorded whatever happens, and a failure after it is recorded with it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from delivery.git import head_commit
from delivery.pin_change import PinChangeResult
from delivery.services import Services
from model_contract.local_state import project_root, runs_dir
from model_contract.registry import RegisteredVersion
from training import tracking
from training.config import TrainingConfig
from training.decision_record import decision_record, write_decision
from training.gate import Verdict, not_comparable
from training.progress import Progress
from training.steps import (
    Evaluation,
    bump,
    evaluate,
    log_artifact,
    prepare,
    read_champion,
    record_evaluation,
    record_training,
    register,
    run_link,
    save_artifact,
    train,
)
from training.train import split_rows


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


def run(
    config: TrainingConfig,
    env: str,
    services: Services,
    force: bool = False,
    progress: Progress | None = None,
    switch_model: bool = False,
) -> RunOutcome:
    """Train, gate against ``env``'s champion, and register and bump when the challenger wins."""
    progress = progress or Progress()
    registry = services.registry(env)
    with progress.step("prepare data"):
        dataset = prepare(config)
        progress.report(
            f"   {len(dataset)} rows from {dataset.source}, fingerprint {dataset.fingerprint[:12]}"
        )
    with progress.step(f"read the champion pinned in {env}"):
        champion = read_champion(env, services.remote, registry)
        progress.report(f"   champion: {champion.pin.describe()} (registry {registry.registry_uri})")
    blocked = None if switch_model else champion.incomparability(config.model_name, dataset.features.columns)
    code_version = head_commit(project_root()) or "unknown"
    split = split_rows(dataset, config.split)
    tags = {"env": env, "git_commit": code_version}
    with tracking.tracked_run(registry.tracking_uri, config.model_name, f"train-{env}", tags) as tracked:
        folder = runs_dir() / tracked.run_id
        if blocked is not None:  # nothing to train for: the champion cannot be compared with
            verdict = not_comparable(config.gate, blocked, champion.pin.version, env, config.model_name)
            return _stopped(
                config, env, dataset.fingerprint, Evaluation(verdict, {}, None), tracked, progress
            )
        with progress.step("train"):
            challenger = train(config, dataset, split, code_version, tracked.run_id)
        with progress.step("evaluate on the test split"):
            evaluation = evaluate(
                config, dataset, split, dict(challenger.card.metrics), champion, force, switch_model
            )
        progress.report(f"   verdict: {evaluation.verdict.reason}")
        plots = record_training(config, env, dataset, split, challenger, folder / "plots")
        record_evaluation(evaluation)
        sha256 = None
        if evaluation.verdict.register:
            with tempfile.TemporaryDirectory(prefix="artifact-") as staging:
                sha256 = save_artifact(challenger, dataset, Path(staging) / "model")
                log_artifact(Path(staging) / "model")
    registered = bumped = None
    try:
        if evaluation.verdict.register and sha256 is not None:
            with progress.step("register"):
                registered = register(config, challenger.card, sha256, tracked, code_version, registry)
                progress.report(f"   registered {registered.name} v{registered.version}")
            with progress.step(f"open the bump pull request for {env}"):
                link = run_link(registry.tracking_uri, tracked.experiment_id)
                bumped = bump(env, registered, evaluation, champion.pin, champion.pin_text, services, link)
    except Exception as error:
        # The decision stands even if acting on it failed: record both, then let the caller report.
        failed = decision_record(config, env, dataset.fingerprint, evaluation, tracked.run_id, registered,
                                 bumped, error=f"{type(error).__name__}: {error}")  # fmt: skip
        write_decision(folder, failed)
        raise
    record = decision_record(config, env, dataset.fingerprint, evaluation, tracked.run_id, registered, bumped)
    return RunOutcome(
        tracked.run_id,
        evaluation.verdict,
        evaluation.challenger_metrics,
        evaluation.champion_metrics,
        registered,
        bumped,
        write_decision(folder, record),
        plots,
    )


def _stopped(
    config: TrainingConfig, env: str, fingerprint: str, evaluation: Evaluation, tracked: tracking.TrackedRun,
    progress: Progress,
) -> RunOutcome:  # fmt: skip
    """The outcome of a run that stops before training: its verdict logged and its decision recorded."""
    progress.report(f"   verdict: {evaluation.verdict.reason}")
    record_evaluation(evaluation)
    record = decision_record(config, env, fingerprint, evaluation, tracked.run_id)
    path = write_decision(runs_dir() / tracked.run_id, record)
    return RunOutcome(tracked.run_id, evaluation.verdict, {}, None, None, None, path, ())
