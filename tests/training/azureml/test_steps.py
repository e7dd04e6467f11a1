"""The Azure ML components' command lines, run in-process on real parts (as in tests/training).

Each step runs exactly as its component runs it on the cluster: ``python -m training.azureml.step ...``
with folders for inputs and outputs. The registry and gitops remote are the test workspace's (MLOPS_HOME),
standing in for the workspace MLflow and GitHub/Azure Repos.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_contract.pins import ModelPin
from tests.conftest import write_small_config
from training.azureml.handoff import read_registration, read_training
from training.azureml.prepared_data import DATA_FILE, read_prepared
from training.azureml.step import main
from training.config import load_config
from training.progress import Progress
from training.runner import run


def run_steps(
    base: Path, config: Path, env: str = "dev", data: Path | None = None, force: bool = False
) -> Path:
    """The pipeline's five steps in order, wired as the dsl.pipeline wires them; returns the output root."""
    out = {name: base / name for name in ("prepared", "model", "decision", "registration", "bump")}
    data_args = ["--data", str(data)] if data else []
    steps = [
        ["prepare", "--config", str(config), *data_args, "--output", str(out["prepared"])],
        ["train", "--config", str(config), "--prepared", str(out["prepared"]), "--env", env,
         "--code-version", "abc123", "--output", str(out["model"])],
        ["evaluate", "--config", str(config), "--prepared", str(out["prepared"]), "--model", str(out["model"]),
         "--env", env, "--force", str(force).lower(), "--output", str(out["decision"])],
        ["register", "--config", str(config), "--model", str(out["model"]), "--decision", str(out["decision"]),
         "--output", str(out["registration"])],
        ["bump", "--decision", str(out["decision"]), "--registration", str(out["registration"]),
         "--output", str(out["bump"])],
    ]  # fmt: skip
    for argv in steps:
        assert main(argv) == 0, argv
    return base


def read(base: Path, step: str, name: str) -> dict:
    return json.loads((base / step / name).read_text())


def state_of(workspace):
    versions = workspace.registry.client.search_model_versions("name = 'ames-price'")
    prs = workspace.prs.store.read_text() if workspace.prs.store.exists() else ""
    return sorted(int(v.version) for v in versions), workspace.remote_log(), prs


@pytest.fixture
def config_file(tmp_path, ames):
    return write_small_config(tmp_path / "config", ames)


def test_first_model_goes_through_all_five_steps_to_a_bump_pr(workspace, config_file, tmp_path):
    out = run_steps(tmp_path / "run", config_file)
    prepared = read_prepared(out / "prepared")
    assert len(prepared) == 500 and (out / "prepared" / DATA_FILE).is_file()
    decision = read(out, "decision", "decision.json")
    assert decision["verdict"]["outcome"] == "first-model"
    assert decision["champion_pin"] == {
        "name": "ames-price",
        "version": None,
        "text": "MODEL_NAME=ames-price\nMODEL_VERSION=\n",
    }
    registration = read_registration(out / "registration")
    assert (registration.registered, registration.version) == (True, 1)
    version = workspace.registry.get("ames-price", 1)
    trained = read_training(out / "model")
    assert version.run_id == trained.run_id and version.sha256 == trained.sha256
    assert version.tags["git_commit"] == "abc123" and version.tags["data_fingerprint"] == prepared.fingerprint
    bump = read(out, "bump", "bump.json")
    assert bump["status"] == "opened"
    pr = workspace.prs.get(bump["number"])
    assert (pr.head, pr.title) == ("mlops/dev/bump-ames-price", "Bump ames-price to v1 in dev")
    assert "| RMSE (log price) |" in pr.body


def test_a_tie_ends_every_step_successfully_with_nothing_registered_and_force_overrides_it(
    workspace, config_file, tmp_path
):
    # The champion comes from the local runner: the steps must reproduce its model exactly (a tie).
    config = load_config(config_file)
    first = run(config, "dev", workspace.services(), progress=Progress(lambda _: None))
    workspace.prs.merge(first.bump.pull_request.number)
    before = state_of(workspace)
    out = run_steps(tmp_path / "rerun", config_file)
    decision = read(out, "decision", "decision.json")
    assert decision["verdict"]["outcome"] == "no-improvement"
    assert decision["challenger_metrics"] == decision["champion_metrics"] == first.metrics
    assert read_registration(out / "registration").registered is False
    assert read(out, "bump", "bump.json")["status"] == "skipped"
    assert state_of(workspace) == before

    # The same trained model, decided again with force=true (the pipeline's `force` input).
    forced = tmp_path / "forced"
    steps = [
        ["evaluate", "--config", str(config_file), "--prepared", str(out / "prepared"), "--model",
         str(out / "model"), "--env", "dev", "--force", "true", "--output", str(forced / "decision")],
        ["register", "--config", str(config_file), "--model", str(out / "model"), "--decision",
         str(forced / "decision"), "--output", str(forced / "registration")],
        ["bump", "--decision", str(forced / "decision"), "--registration", str(forced / "registration"),
         "--output", str(forced / "bump")],
    ]  # fmt: skip
    assert [main(argv) for argv in steps] == [0, 0, 0]
    assert read(forced, "decision", "decision.json")["verdict"]["outcome"] == "forced"
    # Same data, config and training code: the same lineage, so force reuses v1, which dev already pins.
    assert read_registration(forced / "registration").version == 1
    assert read(forced, "bump", "bump.json")["status"] == "already-pinned"


def test_prepare_reads_the_mounted_data_input_instead_of_the_config_source(
    workspace, config_file, tmp_path, ames
):
    mounted = tmp_path / "mounted" / "ames.parquet"
    mounted.parent.mkdir()
    ames.head(300).to_parquet(mounted, index=False)
    assert (
        main(
            ["prepare", "--config", str(config_file), "--data", str(mounted), "--output", str(tmp_path / "p")]
        )
        == 0
    )
    prepared = read_prepared(tmp_path / "p")
    assert len(prepared) == 300 and prepared.source == str(mounted)


def test_changed_prepared_data_is_refused_by_the_next_step(workspace, config_file, tmp_path, capsys):
    prepared = tmp_path / "p"
    assert main(["prepare", "--config", str(config_file), "--output", str(prepared)]) == 0
    frame = __import__("pandas").read_parquet(prepared / DATA_FILE)
    frame.loc[0, "__target__"] = 1.0
    frame.to_parquet(prepared / DATA_FILE, index=False)
    argv = [
        "train",
        "--config",
        str(config_file),
        "--prepared",
        str(prepared),
        "--env",
        "dev",
        "--output",
        str(tmp_path / "m"),
    ]
    assert main(argv) == 2
    assert "does not match the recorded" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_a_pinned_champion_missing_from_the_registry_fails_the_evaluate_step(
    workspace, config_file, tmp_path, capsys
):
    workspace.push_pin("dev", ModelPin("ames-price", 9))
    out = tmp_path / "run"
    evaluate = ["evaluate", "--config", str(config_file), "--prepared", str(out / "prepared"), "--model",
                str(out / "model"), "--env", "dev", "--output", str(out / "decision")]  # fmt: skip
    assert main(evaluate) == 2  # before it even looks at the (here absent) data and model
    assert "dev pins ames-price v9 but the registry" in capsys.readouterr().err
    assert not (out / "decision").exists()
