"""The model-quality figure benchmarks/README.md states is the one the benchmark last recorded.

The benchmark (minutes of cross-validation) is not run here: it writes
``benchmarks/results/model_quality.json`` when someone runs it, and these tests hold the README to that
record, and the record to the config that is shipped. Until a run has been recorded, the README must
at least name the command that produces the figures and the file it writes.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO_ROOT
from training.config import load_config

README = REPO_ROOT / "benchmarks" / "README.md"
BENCHMARK = REPO_ROOT / "benchmarks" / "training" / "model_quality.py"
# The shipped model's row of the README's cross-validation table: its mean and sd are bold.
SHIPPED_ROW = re.compile(r"^\| shipped config: [^|]*\| \*\*(\d\.\d{4}) ± (\d\.\d{4})\*\* \|", re.MULTILINE)
COVERAGE_MEAN = re.compile(r"coverage on each held-out fold: [0-9.,\s]+\(mean (\d\.\d{3})")


def benchmark() -> ModuleType:
    """benchmarks/ is not a package: load the benchmark script as a module, without running it."""
    spec = importlib.util.spec_from_file_location("model_quality_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def disagreements(readme: str, record: dict, shipped_digest: str) -> list[str]:
    """How the README's shipped-model figures differ from a recorded run (empty when they agree)."""
    row, coverage = SHIPPED_ROW.search(readme), COVERAGE_MEAN.search(readme)
    if row is None or coverage is None:
        return ["benchmarks/README.md states no shipped-model CV RMSE row or coverage mean"]
    shipped = next(m for m in record["models"] if m["name"].startswith("shipped config: "))
    recorded = {
        "CV RMSE of log price (mean)": (f"{shipped['rmse_log_mean']:.4f}", row[1]),
        "CV RMSE of log price (sd)": (f"{shipped['rmse_log_sd']:.4f}", row[2]),
        "interval coverage (mean over folds)": (f"{record['shipped_coverage']['mean']:.3f}", coverage[1]),
    }
    problems = [
        f"{what}: README says {stated}, the run of {record['date']} recorded {measured}"
        for what, (measured, stated) in recorded.items()
        if measured != stated
    ]
    if record["shipped_config_digest"] != shipped_digest:
        problems.append(
            f"the run of {record['date']} measured another config than training/config.yaml: re-run "
            f"{record['command']}"
        )
    return problems


def test_the_readme_names_the_command_and_the_file_that_record_the_figures():
    text = README.read_text()
    module = benchmark()
    assert SHIPPED_ROW.search(text) and COVERAGE_MEAN.search(text)
    assert module.COMMAND in text
    assert module.RESULT_FILE.relative_to(REPO_ROOT).as_posix() in text


def test_the_readme_states_the_last_recorded_figures_of_the_shipped_config():
    module = benchmark()
    if not module.RESULT_FILE.exists():  # no run recorded yet: the README names how to make one (above)
        return
    record = json.loads(module.RESULT_FILE.read_text())
    assert disagreements(README.read_text(), record, load_config().digest()) == []


def test_a_recorded_run_that_disagrees_with_the_readme_is_reported(tmp_path: Path):
    module = benchmark()
    digest = load_config().digest()
    readme = README.read_text()
    row, coverage = SHIPPED_ROW.search(readme), COVERAGE_MEAN.search(readme)
    models = [
        module.model_figures("shipped config: blend", [float(row[1])] * 5, [1.0] * 5),
        module.model_figures("reference: ridge", [0.2] * 5, [1.0] * 5),
    ]
    models[0]["rmse_log_sd"] = float(row[2])
    agreeing = tmp_path / "agreeing.json"
    module.write_result(agreeing, module.result_record(digest, 2930, models, 0.9, [float(coverage[1])] * 5))
    record = json.loads(agreeing.read_text())
    assert record["command"] == module.COMMAND and record["date"]
    assert disagreements(readme, record, digest) == []

    worse = {**record, "models": [{**models[0], "rmse_log_mean": float(row[1]) + 0.01}, models[1]]}
    assert disagreements(readme, worse, digest) == [
        f"CV RMSE of log price (mean): README says {row[1]}, the run of {record['date']} recorded "
        f"{float(row[1]) + 0.01:.4f}"
    ]
    (stale,) = disagreements(readme, record, "another config")
    assert "re-run .venv/bin/python benchmarks/training/model_quality.py" in stale


@pytest.mark.parametrize("readme", ["# Benchmarks\n", "| shipped config: x | 0.1177 ± 0.0114 | 1 s |\n"])
def test_a_readme_without_the_shipped_figures_is_reported(readme):
    record = {"models": [], "shipped_coverage": {"mean": 0.9}, "date": "d", "shipped_config_digest": "x"}
    assert disagreements(readme, record, "x") == [
        "benchmarks/README.md states no shipped-model CV RMSE row or coverage mean"
    ]
