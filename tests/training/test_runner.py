"""The main job end to end on real parts: real training, the SQLite registry, git with a bare remote.

Each gate outcome is produced by real models: a deliberately weak config (a few boosting rounds) against
the small default config on the same data and split.
"""

import dataclasses
import json

import pytest

from model_contract.pins import ModelPin
from training.config import load_config
from training.dataset import DataError
from training.progress import Progress
from training.runner import run
from training.steps import ChampionError

QUIET = Progress(lambda _: None)


def weak(config):
    """The same data and split, a model that is clearly worse (three boosting rounds, no blend)."""
    estimator = config.model.estimators[0].model_copy(
        update={"params": {"max_iter": 3, "learning_rate": 0.1}}
    )
    return config.model_copy(update={"model": config.model.model_copy(update={"estimators": (estimator,)})})


def state_of(workspace):
    """What a failed or non-improving run must not change: registry versions, remote refs, PR records."""
    versions = workspace.registry.client.search_model_versions("name = 'ames-price'")
    prs = workspace.prs.store.read_text() if workspace.prs.store.exists() else ""
    return sorted(int(v.version) for v in versions), workspace.remote_log(), prs


def first_model_merged(workspace, config):
    outcome = run(config, "dev", workspace.services(), progress=QUIET)
    workspace.prs.merge(outcome.bump.pull_request.number)
    return outcome


def test_no_champion_registers_version_1_and_opens_a_one_line_bump(workspace, small_config):
    outcome = run(small_config, "dev", workspace.services(), progress=QUIET)
    assert outcome.verdict.outcome == "first-model"
    assert outcome.registered.version == 1
    pr = outcome.bump.pull_request
    assert (outcome.bump.status, pr.head, pr.title) == (
        "opened",
        "mlops/dev/bump-ames-price",
        "Bump ames-price to v1 in dev",
    )
    assert "| RMSE (log price) |" in pr.body and outcome.registered.tags["data_fingerprint"] in pr.body
    assert "python -m delivery rollback --env dev" in pr.body
    assert workspace.pin("dev").version is None  # not deployed until the PR merges
    workspace.prs.merge(pr.number)
    assert workspace.pin("dev") == ModelPin("ames-price", 1)
    tags = outcome.registered.tags
    for key in (
        "artifact_sha256",
        "metrics",
        "data_fingerprint",
        "training_config",
        "git_commit",
        "run_id",
        "signature",
    ):
        assert tags.get(key), key
    record = json.loads(outcome.decision_path.read_text())
    assert record["verdict"]["outcome"] == "first-model" and record["registered_version"] == 1
    assert {p.name for p in outcome.plots} == {
        "predicted_vs_actual.png", "residuals.png", "interval_coverage_by_price_band.png"
    }  # fmt: skip


def test_a_better_challenger_is_registered_and_bumped(workspace, small_config):
    first_model_merged(workspace, weak(small_config))
    outcome = run(small_config, "dev", workspace.services(), progress=QUIET)
    assert outcome.verdict.outcome == "improved"
    assert outcome.metrics["rmse_log"] < outcome.champion_metrics["rmse_log"]
    assert outcome.registered.version == 2
    assert "champion v1" in outcome.bump.pull_request.body


def test_retraining_the_same_model_is_a_tie_that_ends_quietly(workspace, small_config):
    first_model_merged(workspace, small_config)
    before = state_of(workspace)
    outcome = run(small_config, "dev", workspace.services(), progress=QUIET)
    assert outcome.verdict.outcome == "no-improvement"
    assert outcome.metrics["rmse_log"] == outcome.champion_metrics["rmse_log"]  # deterministic
    assert (outcome.registered, outcome.bump) == (None, None)
    assert state_of(workspace) == before
    assert json.loads(outcome.decision_path.read_text())["verdict"]["register"] is False


def test_a_worse_challenger_registers_nothing(workspace, small_config):
    first_model_merged(workspace, small_config)
    before = state_of(workspace)
    outcome = run(weak(small_config), "dev", workspace.services(), progress=QUIET)
    assert outcome.verdict.outcome == "no-improvement"
    assert outcome.metrics["rmse_log"] > outcome.champion_metrics["rmse_log"]
    assert state_of(workspace) == before


def test_force_registers_and_bumps_a_worse_challenger(workspace, small_config):
    first_model_merged(workspace, small_config)
    outcome = run(weak(small_config), "dev", workspace.services(), force=True, progress=QUIET)
    assert outcome.verdict.outcome == "forced"
    assert outcome.registered.version == 2 and outcome.bump.status == "opened"


def test_a_pinned_champion_missing_from_the_registry_is_an_error_not_a_pass(workspace, small_config):
    workspace.push_pin("dev", ModelPin("ames-price", 9))
    before = state_of(workspace)
    with pytest.raises(
        ChampionError, match=r"dev pins ames-price v9 but the registry .* has no such version"
    ):
        run(small_config, "dev", workspace.services(), progress=QUIET)
    assert state_of(workspace) == before


def test_running_twice_before_merging_updates_the_same_pr_and_version(workspace, small_config):
    first = run(small_config, "dev", workspace.services(), progress=QUIET)
    second = run(small_config, "dev", workspace.services(), progress=QUIET)
    assert second.registered.version == first.registered.version == 1
    assert second.bump.pull_request.number == first.bump.pull_request.number
    assert [pr.number for pr in workspace.prs.list_all()] == [1]


def test_bad_data_fails_before_anything_is_recorded(workspace, small_config, tmp_path):
    (tmp_path / "config" / "empty.csv").write_text("")
    config = small_config.model_copy(
        update={"data": small_config.data.model_copy(update={"source": "empty.csv"})}
    )
    before = state_of(workspace)
    with pytest.raises(DataError, match="file is empty"):
        run(config, "dev", workspace.services(), progress=QUIET)
    assert state_of(workspace) == before
    assert not (workspace.state / "runs").exists()


def test_the_shipped_config_is_what_the_tests_shrink(small_config):
    # The fast test config differs from the shipped one only in data and speed settings.
    shipped = load_config()
    assert small_config.gate == shipped.gate
    assert [e.kind for e in small_config.model.estimators] == [e.kind for e in shipped.model.estimators]


def test_a_failed_bump_still_leaves_a_decision_record_naming_the_failure(workspace, small_config):
    from delivery.pull_requests.base import PullRequestError

    class Refusing:
        name = "refusing"

        def find_open(self, head):
            return None

        def list_open(self):
            return []

        def create(self, *args):
            raise PullRequestError("GitHub: open a pull request failed: HTTP 403: Resource not accessible")

    services = dataclasses.replace(workspace.services(), provider=Refusing(), preview=None)
    with pytest.raises(PullRequestError, match="HTTP 403"):
        run(small_config, "dev", services, progress=QUIET)
    [decision] = list((workspace.state / "runs").glob("*/decision.json"))
    record = json.loads(decision.read_text())
    assert record["registered_version"] == 1 and record["pull_request"] is None
    assert record["error"].startswith("PullRequestError: GitHub: open a pull request failed: HTTP 403")
    assert workspace.remote.branch_head("mlops/dev/bump-ames-price") is None  # nothing half-pushed
    # Once the provider works again, a rerun reuses the registered version and opens the PR.
    retry = run(small_config, "dev", workspace.services(), progress=QUIET)
    assert retry.registered.version == 1 and retry.bump.status == "opened"


def renamed(config, name):
    return config.model_copy(update={"model_name": name})


def without_column(config, column, folder):
    """The same rows without ``column``, which the config then neither uses nor requires."""
    import pandas as pd

    data = pd.read_csv(config.base_dir / config.data.source).drop(columns=[column])
    data.to_csv(folder / "without.csv", index=False)
    required = tuple(name for name in config.data.required_features if name != column)
    return config.model_copy(
        update={
            "data": config.data.model_copy(update={"source": "without.csv", "required_features": required})
        }
    )


def test_a_champion_of_another_model_name_is_not_scored_and_the_run_stops_with_a_record(
    workspace, small_config
):
    first_model_merged(workspace, small_config)
    before = state_of(workspace)
    outcome = run(renamed(small_config, "other-price"), "dev", workspace.services(), progress=QUIET)
    assert outcome.verdict.outcome == "not-comparable" and not outcome.verdict.register
    assert "pins ames-price v1 and this run trains 'other-price'" in outcome.verdict.reason
    assert "--switch-model" in outcome.verdict.reason
    assert (outcome.registered, outcome.bump, outcome.champion_metrics) == (None, None, None)
    assert state_of(workspace) == before
    record = json.loads(outcome.decision_path.read_text())
    assert record["verdict"]["outcome"] == "not-comparable" and record["registered_version"] is None


def test_data_lacking_the_champions_required_features_is_not_compared(workspace, small_config, tmp_path):
    first_model_merged(workspace, small_config)
    before = state_of(workspace)
    outcome = run(without_column(small_config, "Lot_Area", tmp_path / "config"), "dev", workspace.services(),
                  progress=QUIET)  # fmt: skip
    assert outcome.verdict.outcome == "not-comparable"
    assert "the data lacks Lot_Area, which champion ames-price v1 requires" in outcome.verdict.reason
    assert state_of(workspace) == before


def test_switch_model_replaces_an_incomparable_champion_and_says_so_in_the_title(workspace, small_config):
    first_model_merged(workspace, small_config)
    outcome = run(renamed(small_config, "other-price"), "dev", workspace.services(), switch_model=True,
                  progress=QUIET)  # fmt: skip
    assert outcome.verdict.outcome == "switched" and outcome.champion_metrics is None
    assert outcome.registered.name == "other-price" and outcome.registered.version == 1
    assert outcome.bump.pull_request.title == "Switch dev to other-price v1 (replacing ames-price v1)"
    workspace.prs.merge(outcome.bump.pull_request.number)
    assert workspace.pin("dev") == ModelPin("other-price", 1)


def test_switch_model_changes_nothing_when_the_champion_is_comparable(workspace, small_config):
    first_model_merged(workspace, small_config)
    outcome = run(small_config, "dev", workspace.services(), switch_model=True, progress=QUIET)
    assert outcome.verdict.outcome == "no-improvement"
