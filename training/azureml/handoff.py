"""The small JSON records the Azure ML steps pass to each other through their output folders.

Each step writes one record into its output folder; the next step reads it. A step that has nothing to
do (the gate said no) still writes its record, saying so, so that every step of a non-improving run
completes successfully and the pipeline ends green with nothing registered.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from model_contract.pins import ModelPin
from training.decision_record import DECISION_FILE
from training.gate import Verdict
from training.steps import Evaluation
from training.train import Split

TRAINING_FILE = "training.json"
REGISTRATION_FILE = "registration.json"
BUMP_FILE = "bump.json"
MODEL_FOLDER = "model"


class HandoffError(ValueError):
    """A step's input folder does not hold the record the previous step should have written."""


@dataclass(frozen=True)
class TrainingRecord:
    """What the train step produced: its MLflow run, the artifact's checksum, and the exact split."""

    run_id: str
    artifact_uri: str
    experiment_id: str
    sha256: str
    code_version: str
    env: str
    train_rows: list[int]
    calibration_rows: list[int]
    test_rows: list[int]

    @property
    def split(self) -> Split:
        return Split(
            train=np.asarray(self.train_rows, dtype=int),
            calibration=np.asarray(self.calibration_rows, dtype=int),
            test=np.asarray(self.test_rows, dtype=int),
        )

    @classmethod
    def from_split(cls, split: Split, **values: Any) -> TrainingRecord:
        rows = {
            "train_rows": split.train.tolist(),
            "calibration_rows": split.calibration.tolist(),
            "test_rows": split.test.tolist(),
        }
        return cls(**values, **rows)


@dataclass(frozen=True)
class Registration:
    """What the register step did: a version, or nothing and why."""

    registered: bool
    reason: str
    name: str | None = None
    version: int | None = None


@dataclass(frozen=True)
class BumpRecord:
    """What the bump step did: the pull request it opened or updated, or why there is none."""

    status: str
    reason: str
    number: int | None = None
    url: str | None = None
    superseded: tuple[int, ...] = ()


def write_record(record: TrainingRecord | Registration | BumpRecord, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(asdict(record), indent=2))
    return path


def read_training(folder: Path) -> TrainingRecord:
    return TrainingRecord(**_fields(TrainingRecord, _read(folder / TRAINING_FILE)))


def read_registration(folder: Path) -> Registration:
    return Registration(**_fields(Registration, _read(folder / REGISTRATION_FILE)))


def read_decision(folder: Path) -> dict:
    """The decision record the evaluate step wrote (training.decision_record.decision_record plus the champion pin)."""
    record = _read(folder / DECISION_FILE)
    for key in (
        "env",
        "run_id",
        "experiment_id",
        "verdict",
        "challenger_metrics",
        "champion_metrics",
        "champion_pin",
    ):
        if key not in record:
            raise HandoffError(f"{folder / DECISION_FILE}: missing key {key!r}")
    return record


def evaluation_from_decision(record: dict) -> Evaluation:
    verdict = Verdict(**_fields(Verdict, record["verdict"]))
    return Evaluation(verdict, record["challenger_metrics"], record["champion_metrics"])


def champion_pin_from_decision(record: dict) -> tuple[ModelPin, str]:
    """The pin the gate compared against, and the pin file's text then (the bump is computed against it)."""
    pin = record["champion_pin"]
    return ModelPin(pin["name"], pin["version"]), pin["text"]


def _fields(cls: type, raw: dict) -> dict:
    names = {field.name for field in fields(cls)}
    required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
    missing = [name for name in required if name not in raw]
    if missing:
        raise HandoffError(f"{cls.__name__} record lacks {', '.join(missing)}")
    return {key: value for key, value in raw.items() if key in names}


def _read(path: Path) -> dict:
    if not path.is_file():
        raise HandoffError(f"{path} is missing: the step that writes it did not run or wrote elsewhere")
    try:
        value = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise HandoffError(f"{path}: not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise HandoffError(f"{path}: expected a JSON object")
    return value
