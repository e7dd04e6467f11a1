"""``python -m training submit|schedule``: offline dry runs, and submission against a fake MLClient.

No test constructs a real MLClient or credential: ``workspace_client`` is replaced by a fake that records
what would have been sent to the workspace.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from model_contract.config_error import ConfigError
from training.azureml import submission
from training.azureml.gitops_token import ensure_gitops_token
from training.azureml.workspace import WorkspaceTarget, job_environment, resolve_target
from training.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # marshmallow, inside azure-ai-ml

STACK_OUTPUTS = {
    "resourceGroupName": "rg-price-engine-dev",
    "workspaceName": "mlw-price-engine-dev",
    "trainingComputeName": "train-cpu",
    "trainingClientId": "11111111-2222-3333-4444-555555555555",
    "keyVaultUri": "https://kv-price-engine-dev.vault.azure.net/",
    "scoringUrl": None,
}
GITHUB = {
    "GITOPS_PROVIDER": "github",
    "GITHUB_REPOSITORY": "org/property-price-platform",
    "GITHUB_TOKEN": "ghp_secret",
}


class FakeJobs:
    """Stands in for MLClient.jobs: records the job, 'runs' it, serves the steps' records as outputs."""

    def __init__(self, status: str, records: dict[str, dict]):
        self.status, self.records, self.created = status, records, []

    def create_or_update(self, job, experiment_name=None):
        self.created.append((job, experiment_name))
        return SimpleNamespace(
            name="sharp_lamp_42", status="NotStarted", studio_url="https://ml.azure.com/runs/x"
        )

    def stream(self, name):
        if self.status != "Completed":
            raise RuntimeError("Job failed")

    def get(self, name):
        return SimpleNamespace(name=name, status=self.status)

    def download(self, name, download_path, output_name):
        file_name = submission.SUMMARY_OUTPUTS[output_name]
        folder = Path(download_path) / "named-outputs" / output_name
        folder.mkdir(parents=True)
        (folder / file_name).write_text(json.dumps(self.records[output_name]))


@pytest.fixture
def stack_outputs(tmp_path):
    path = tmp_path / "stack-outputs.json"
    path.write_text(json.dumps(STACK_OUTPUTS))
    return path


@pytest.fixture
def fake_workspace(monkeypatch):
    """Replace the real MLClient factory; returns the fake and the targets it was asked for."""
    records = {
        "decision": {"verdict": {"reason": "no improvement: rmse_log 0.1250 vs champion v3 0.1250"}},
        "registration": {"registered": False, "reason": "nothing registered: no improvement"},
        "bump": {"status": "skipped", "reason": "nothing registered", "number": None, "url": None},
    }
    fake = SimpleNamespace(jobs=FakeJobs("Completed", records), targets=[])

    def factory(target):
        fake.targets.append(target)
        return fake

    monkeypatch.setattr(submission, "workspace_client", factory)
    for name, value in GITHUB.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000000")
    return fake


def test_dry_run_writes_the_pipeline_yaml_without_credentials(tmp_path, monkeypatch):
    def no_client(target):
        raise AssertionError("a dry run must not reach Azure")

    monkeypatch.setattr(submission, "workspace_client", no_client)
    output = tmp_path / "out" / "job.yml"
    assert main(["submit", "--env", "qa", "--dry-run", "--output", str(output), "--compute", "cpu-big"]) == 0
    document = yaml.safe_load(output.read_text())
    assert list(document["jobs"]) == ["prepare", "train", "evaluate", "register", "bump"]
    assert document["inputs"]["env"] == "qa" and document["settings"]["default_compute"].endswith("cpu-big")
    assert "raw_data" not in document["inputs"]  # the shipped config uses the builtin data


def test_schedule_dry_run_writes_the_schedule_and_its_job(tmp_path):
    output = tmp_path / "schedule.yml"
    assert (
        main(["schedule", "--env", "dev", "--cron", "0 3 * * 1", "--dry-run", "--output", str(output)]) == 0
    )
    document = yaml.safe_load(output.read_text())
    assert document["trigger"] == {"time_zone": "UTC", "type": "cron", "expression": "0 3 * * 1"}
    assert (tmp_path / document["create_job"]).is_file()


def test_submit_reads_the_workspace_from_the_stack_outputs_and_reports_the_decision(
    fake_workspace, stack_outputs, tmp_path, capsys
):
    summary = tmp_path / "summary.json"
    argv = ["submit", "--env", "dev", "--stack-outputs", str(stack_outputs), "--summary", str(summary)]
    assert main(argv) == 0
    (target,) = fake_workspace.targets
    assert (target.resource_group, target.workspace_name, target.compute) == (
        "rg-price-engine-dev", "mlw-price-engine-dev", "train-cpu"
    )  # fmt: skip
    ((job, experiment),) = fake_workspace.jobs.created
    assert experiment == "ames-price"
    variables = job.jobs["bump"].environment_variables
    assert variables == {
        "GITOPS_PROVIDER": "github",
        "GITHUB_REPOSITORY": "org/property-price-platform",
        "AZURE_CLIENT_ID": STACK_OUTPUTS["trainingClientId"],
        "GITOPS_TOKEN_KEY_VAULT_URL": STACK_OUTPUTS["keyVaultUri"],
        "GITOPS_TOKEN_SECRET_NAME": "gitops-token",
    }  # the token itself never leaves the submitting shell
    out = capsys.readouterr().out
    assert "verdict: no improvement" in out and "pull request: skipped" in out
    recorded = json.loads(summary.read_text())
    assert recorded["status"] == "Completed" and recorded["records"]["registration"]["registered"] is False


def test_a_failed_pipeline_run_fails_the_command(fake_workspace, stack_outputs, capsys):
    fake_workspace.jobs.status = "Failed"
    assert main(["submit", "--env", "dev", "--stack-outputs", str(stack_outputs)]) == 1
    assert "job sharp_lamp_42: Failed" in capsys.readouterr().out


def test_flags_override_the_stack_outputs(stack_outputs):
    target = resolve_target(stack_outputs, {"workspace_name": "other", "compute": None}, environ={})
    assert (target.workspace_name, target.compute, target.subscription_id) == ("other", "train-cpu", None)
    with pytest.raises(ConfigError, match=r"^--subscription-id: not given"):
        target.require_workspace()


def test_submitting_with_the_local_gitops_default_is_refused(stack_outputs, monkeypatch, capsys):
    monkeypatch.delenv("GITOPS_PROVIDER", raising=False)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "sub")
    assert main(["submit", "--env", "dev", "--stack-outputs", str(stack_outputs)]) == 2
    assert capsys.readouterr().err.startswith(
        "error: GITOPS_PROVIDER: 'local': a job in Azure ML cannot read or bump pins in a local remote; allowed: "
    )


def test_a_missing_stack_outputs_file_is_named(tmp_path, capsys):
    assert (
        main(["submit", "--stack-outputs", str(tmp_path / "nope.json"), "--dry-run", "--output", "x.yml"])
        == 2
    )
    assert "nope.json does not exist" in capsys.readouterr().err


def test_job_environment_carries_no_token():
    variables = job_environment(WorkspaceTarget(key_vault_url="https://kv.vault.azure.net/"), environ={
        "GITOPS_PROVIDER": "azure-repos", "AZURE_DEVOPS_ORG_URL": "https://dev.azure.com/org",
        "AZURE_DEVOPS_EXT_PAT": "pat", "SYSTEM_ACCESSTOKEN": "token", "GITHUB_TOKEN": "ghp",
    })  # fmt: skip
    assert not {"AZURE_DEVOPS_EXT_PAT", "SYSTEM_ACCESSTOKEN", "GITHUB_TOKEN"} & set(variables)
    assert variables["GITOPS_TOKEN_KEY_VAULT_URL"] == "https://kv.vault.azure.net/"


def test_the_job_reads_the_gitops_token_from_the_key_vault():
    environ = {"GITOPS_PROVIDER": "github", "GITOPS_TOKEN_KEY_VAULT_URL": "https://kv.vault.azure.net/",
               "GITOPS_TOKEN_SECRET_NAME": "gitops-token"}  # fmt: skip
    asked = []
    assert (
        ensure_gitops_token(environ, lambda vault, name: asked.append((vault, name)) or "ghp_x")
        == "GITHUB_TOKEN"
    )
    assert environ["GITHUB_TOKEN"] == "ghp_x" and asked == [("https://kv.vault.azure.net/", "gitops-token")]
    # A token already present wins; the local provider needs none.
    assert ensure_gitops_token({"GITOPS_PROVIDER": "azure-repos", "SYSTEM_ACCESSTOKEN": "t"}, None) is None
    assert ensure_gitops_token({}, None) is None
    with pytest.raises(ConfigError, match="GITOPS_TOKEN_KEY_VAULT_URL"):
        ensure_gitops_token({"GITOPS_PROVIDER": "azure-repos"}, None)
