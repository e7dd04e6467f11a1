"""Batches run by the real command line against the models the real training code registered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from estimation_engine.cli import main
from tests.conftest import RegisteredModels


@dataclass
class BatchRun:
    code: int
    out: str
    err: str
    output: Path
    refused: Path

    def estimates(self) -> pd.DataFrame:
        return pq.read_table(self.output).to_pandas()

    def refusals(self) -> pd.DataFrame:
        return pq.read_table(self.refused).to_pandas()


@pytest.fixture
def batch_env(
    registered_models: RegisteredModels, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> RegisteredModels:
    """The engine's settings as an operator would export them, pointing at the test registry."""
    for name in ("MODEL_NAME", "MODEL_VERSION", "MODEL_PATH", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODEL_NAME", registered_models.model_name)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered_models.tracking_uri)
    monkeypatch.setenv("ENGINE_MODEL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ENGINE_LOG_LEVEL", "WARNING")
    return registered_models


@pytest.fixture
def run_batch(batch_env: RegisteredModels, tmp_path: Path, capsys: pytest.CaptureFixture) -> Callable[..., BatchRun]:  # fmt: skip
    """``python -m estimation_engine batch`` in this process, on the first registered version by default."""

    def run(source: Path, *extra: str, model: tuple[str, ...] | None = None) -> BatchRun:
        output = tmp_path / "out" / "estimates.parquet"
        output.parent.mkdir(exist_ok=True)
        model = model or ("--model-version", str(batch_env.versions[0]))
        code = main(["batch", *model, "--input", str(source), "--output", str(output), *extra])
        captured = capsys.readouterr()
        return BatchRun(
            code, captured.out, captured.err, output, output.with_name("estimates.refused.parquet")
        )

    return run


@pytest.fixture
def portfolio(ames: pd.DataFrame) -> pd.DataFrame:
    """200 Ames properties with an id, the sale price left in (a column the model does not take)."""
    frame = ames.sample(n=200, random_state=7).reset_index(drop=True)
    frame.insert(0, "id", [f"P{number:05d}" for number in range(len(frame))])
    return frame
