"""An unreachable registry fails within the retry budget, saying what it retries, instead of after 255 s."""

import os
import subprocess
import sys
import time

import pytest

from model_contract.config_error import ConfigError
from model_contract.registry_retries import BUDGET_VARIABLE, RetryBudget
from tests.conftest import REPO_ROOT, refusing_registry, stalled_registry, write_small_config

# Generous on purpose: the bound proves "within the budget, not MLflow's own retries" (255 s refused,
# minutes stalled: a 120 s read timeout per attempt), not a speed. Starting the job (imports, reading the
# data) took 25 s on a 2-core machine shared with three other test runs, so 20 s flaked.
PROCESS_OVERHEAD = 60.0


@pytest.mark.parametrize("seconds", [1, 3, 5, 10, 17, 30, 45, 60, 120, 600, 3600])
def test_every_budget_fits_its_worst_case_retries_and_timeouts(seconds):
    budget = RetryBudget.of(seconds)
    assert budget.worst_case_seconds <= seconds
    assert budget.timeout_seconds >= 1 and 0 <= budget.retries <= 5


def test_the_default_budget_is_three_attempts_of_nine_seconds():
    budget = RetryBudget.from_environment({})
    assert (budget.seconds, budget.retries, budget.timeout_seconds) == (30, 2, 9)
    assert budget.mlflow_settings()["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "9"


@pytest.mark.parametrize(
    ("value", "wrong"),
    [("soon", "'soon' is not a valid number"), ("0", "'0' is below 1.0"), ("-5", "'-5' is below 1.0"),
     ("nan", "'nan' is not a finite number"), ("99999", "'99999' is above 3600.0")],
)  # fmt: skip
def test_an_unusable_budget_is_refused_naming_the_variable(value, wrong):
    with pytest.raises(ConfigError) as raised:
        RetryBudget.from_environment({BUDGET_VARIABLE: value})
    assert str(raised.value) == f"{BUDGET_VARIABLE}: {wrong}; allowed: a number of seconds from 1 to 3600"


def test_an_operators_own_mlflow_setting_wins_over_the_budget():
    environ = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "300"}
    RetryBudget.of(30).apply(environ, announce=lambda _: None)
    assert (
        environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "300" and environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
    )


def run_job(tmp_path, ames, registry_url: str, budget: str) -> tuple[subprocess.CompletedProcess, float]:
    config = write_small_config(tmp_path / "config", ames)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLOPS_HOME"))}
    environ.update(
        MLOPS_HOME=str(tmp_path / "state"), MLFLOW_TRACKING_URI_DEV=registry_url, **{BUDGET_VARIABLE: budget}
    )
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "training", "run", "--env", "dev", "--config", str(config)],
        cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    return completed, time.monotonic() - started


def test_a_refusing_registry_is_retried_out_loud_then_named_with_exit_2(tmp_path, ames):
    url = refusing_registry()
    completed, elapsed = run_job(tmp_path, ames, url, "20")  # 2 attempts of up to 9 s
    assert completed.returncode == 2, completed.stderr
    assert (
        "registry not answering (ConnectionRefusedError" in completed.stderr
        or "connection refused" in completed.stderr
    )
    assert "retrying, attempt 2 of 2" in completed.stderr
    assert f"error: registry {url} is unreachable: no answer within 2 attempts" in completed.stderr
    assert "Traceback" not in completed.stderr and elapsed < 20 + PROCESS_OVERHEAD


def test_a_stalled_registry_fails_within_the_budget(tmp_path, ames):
    with stalled_registry() as url:
        completed, elapsed = run_job(tmp_path, ames, url, "4")  # one attempt of up to 4 s
    assert completed.returncode == 2, completed.stderr
    assert f"error: registry {url} is unreachable" in completed.stderr
    assert elapsed < 4 + PROCESS_OVERHEAD
