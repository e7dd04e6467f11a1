"""The decision record: why a run did or did not change anything, written beside its plots.

Every run writes one, whatever the verdict, so a "no improvement" (or a failure after the gate decided) can
be audited later next to the numbers that produced it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from delivery.pin_change import PinChangeResult
from model_contract.registry import RegisteredVersion
from training.config import TrainingConfig
from training.steps import Evaluation

DECISION_FILE = "decision.json"


def decision_record(
    config: TrainingConfig, env: str, data_fingerprint: str, evaluation: Evaluation, run_id: str,
    registered: RegisteredVersion | None = None, bumped: PinChangeResult | None = None,
    error: str | None = None,
) -> dict:  # fmt: skip
    """The decision record: why this run did or did not change anything (and what failed, if anything)."""
    return {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_id": run_id,
        "env": env,
        "model_name": config.model_name,
        "data_fingerprint": data_fingerprint,
        "gate": config.gate.model_dump(),
        "verdict": evaluation.verdict.as_dict(),
        "challenger_metrics": evaluation.challenger_metrics,
        "champion_metrics": evaluation.champion_metrics,
        "registered_version": registered.version if registered else None,
        "pull_request": _pr_summary(bumped),
        "error": error,
    }


def write_decision(folder: Path, record: dict) -> Path:
    """Write the decision record as ``decision.json`` in ``folder`` (beside the run's plots)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DECISION_FILE
    path.write_text(json.dumps(record, indent=2))
    return path


def _pr_summary(bump: PinChangeResult | None) -> dict | None:
    if bump is None:
        return None
    pr = bump.pull_request
    return {"status": bump.status, "number": pr.number if pr else None, "url": pr.url if pr else None,
            "superseded": list(bump.superseded)}  # fmt: skip
