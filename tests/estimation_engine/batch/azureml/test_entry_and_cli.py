"""The parallel step's entry script run for real on files, and the submit/schedule command with a fake
workspace client (nothing reaches Azure)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

from estimation_engine.batch.azureml import entry
from estimation_engine.batch.azureml.cli import main
from model_contract.config_error import ConfigError
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_init_loads_the_model_once_and_run_estimates_each_file_of_a_mini_batch(
    batch_env, ames, tmp_path: Path
):
    folder = tmp_path / "portfolio"
    folder.mkdir()
    ames.head(30).to_parquet(folder / "part-0.parquet", index=False)
    ames.iloc[30:50].to_csv(folder / "part-1.csv.gz", index=False)
    output = tmp_path / "estimates"
    entry.init(["--model-name", batch_env.model_name, "--model-version", str(batch_env.versions[0]),
                "--output", str(output), "--some-driver-flag", "1"])  # fmt: skip
    lines = entry.run([str(folder / "part-0.parquet"), str(folder / "part-1.csv.gz")])
    assert len(lines) == 2 and lines[0].startswith("part-0.parquet: 30 read, 30 estimated")
    assert pq.read_table(output / "part-0.estimates.parquet").num_rows == 30
    assert pq.read_table(output / "part-1.estimates.parquet").num_rows == 20
    assert pq.read_table(output / "part-1.refused.parquet").num_rows == 0
    broken = folder / "part-2.csv"
    broken.write_text("Neighborhood\nNorth_Ames\n")  # required features missing: the mini-batch fails
    with pytest.raises(ConfigError, match=r"part-2\.csv"):
        entry.run([str(broken)])


class FakeWorkspace:
    def __init__(self) -> None:
        self.created = []
        self.scheduled = []
        self.jobs = SimpleNamespace(create_or_update=self._create, stream=lambda name: None,
                                    get=lambda name: SimpleNamespace(status="Completed"))  # fmt: skip
        self.schedules = SimpleNamespace(begin_create_or_update=self._schedule)

    def _create(self, job, experiment_name):
        self.created.append((job, experiment_name))
        return SimpleNamespace(name="job-1", studio_url="https://ml.azure.com/runs/job-1")

    def _schedule(self, schedule):
        self.scheduled.append(schedule)
        return SimpleNamespace(result=lambda: schedule)


@pytest.fixture
def stack_outputs(tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"resourceGroupName": "rg-prod", "workspaceName": "mlw-prod",
                                "trainingComputeName": "train-cpu", "trainingClientId": "1111-2222"}))  # fmt: skip
    return path


def _checkout(tmp_path: Path, version: str) -> Path:
    pin = tmp_path / "checkout/gitops/apps/estimation-engine/overlays/prod/model.env"
    pin.parent.mkdir(parents=True)
    pin.write_text(f"MODEL_NAME=ames-price\nMODEL_VERSION={version}\n")
    return tmp_path / "checkout"


def test_submit_runs_the_version_the_environment_pins_in_the_stacks_workspace(stack_outputs, tmp_path, monkeypatch, capsys):  # fmt: skip
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "0000-sub")
    seen = {}
    workspace = FakeWorkspace()

    def factory(coordinates):
        seen.update(coordinates)
        return workspace

    code = main(["submit", "--env", "prod", "--checkout", str(_checkout(tmp_path, "12")), "--input",
                 "azureml:portfolio:3", "--stack-outputs", str(stack_outputs), "--wait"], factory)  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert (seen["subscription_id"], seen["resource_group"], seen["workspace_name"]) == ("0000-sub", "rg-prod", "mlw-prod")  # fmt: skip
    ((job, experiment),) = workspace.created
    assert experiment == "ames-price-batch"
    assert job.inputs["model_version"]._data == 12 and job.tags["env"] == "prod"
    assert job.jobs["estimate"].environment_variables["AZURE_CLIENT_ID"] == "1111-2222"
    assert "estimates: data asset ames-price-estimates" in capsys.readouterr().out


def test_schedule_and_dry_run_need_no_workspace_and_a_missing_one_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    checkout = str(_checkout(tmp_path, "12"))
    written = tmp_path / "schedule.yml"
    code = main(["schedule", "--env", "prod", "--checkout", checkout, "--input", "azureml:portfolio:3",
                 "--cron", "0 2 * * *", "--dry-run", "--yaml", str(written)], lambda _: pytest.fail("no client"))  # fmt: skip
    assert code == 0 and (tmp_path / "schedule.job.yml").is_file()
    code = main(["submit", "--env", "prod", "--checkout", checkout, "--input", "azureml:portfolio:3"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--subscription-id" in err and "--resource-group" in err and "--workspace-name" in err


def test_an_environment_without_a_pinned_version_is_refused(tmp_path, capsys):
    code = main(["submit", "--env", "prod", "--checkout", str(_checkout(tmp_path, "")),
                 "--input", "azureml:portfolio:3", "--dry-run"])  # fmt: skip
    assert code == 2 and "--env: prod pins no version of ames-price yet" in capsys.readouterr().err


def test_the_serving_path_imports_neither_azure_ai_ml_nor_the_batch_job_modules():
    probe = (
        "import sys; import estimation_engine.cli, estimation_engine.api.app, estimation_engine.batch.runner; "
        "print(sorted(m for m in sys.modules if m.startswith(('azure.ai.ml', 'estimation_engine.batch.azureml'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
