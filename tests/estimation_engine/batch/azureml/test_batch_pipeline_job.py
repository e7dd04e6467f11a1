"""The batch-estimates pipeline job, built offline with azure-ai-ml: its parallel step, its YAML read back,
its schedule, and its environment's pins."""

from __future__ import annotations

import ast
import shlex
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from estimation_engine.batch.azureml import entry
from estimation_engine.batch.azureml.pipeline_job import (
    ENTRY_SCRIPT,
    ENVIRONMENT_FILE,
    BatchJobSettings,
    build_pipeline_job,
    build_schedule,
)
from model_contract.azureml_job_files import job_to_yaml, schedule_to_yaml
from model_contract.config_error import ConfigError
from model_contract.local_state import project_root

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # marshmallow, inside azure-ai-ml


def settings(**changes) -> BatchJobSettings:
    values = {"model_name": "ames-price", "model_version": 7, "portfolio": "azureml:portfolio:3",
              "compute": "train-cpu", "instances": 3, "processes_per_instance": 4}  # fmt: skip
    return BatchJobSettings(**{**values, **changes})


@pytest.fixture(scope="module")
def job():
    return build_pipeline_job(settings())


def test_one_parallel_step_splits_the_portfolio_folder_by_file_over_the_cluster(job):
    assert list(job.jobs) == ["estimate"]
    step = job.jobs["estimate"]
    assert step.type == "parallel"
    assert step.compute == "train-cpu" and job.settings.default_compute == "train-cpu"
    assert step.input_data == "${{inputs.portfolio}}"
    assert step.component.inputs["portfolio"].type == "uri_folder"
    assert step.component.inputs["portfolio"].mode == "ro_mount"
    assert int(step.mini_batch_size) == 1  # files per run() call
    assert (step.resources.instance_count, step.max_concurrency_per_instance) == (3, 4)
    assert (step.error_threshold, step.mini_batch_error_threshold) == (0, 0)  # a bad file fails the job
    assert step.component.is_deterministic is False


def test_the_estimates_are_a_named_output_registered_as_a_data_asset(job):
    assert job.outputs.estimates.name == "ames-price-estimates"
    assert job.outputs.estimates.type == "uri_folder"
    pinned = build_pipeline_job(settings(output_name="portfolio-estimates", output_version="2026-12-02"))
    assert (pinned.outputs.estimates.name, pinned.outputs.estimates.version) == (
        "portfolio-estimates",
        "2026-12-02",
    )


def test_the_entry_script_is_the_repositorys_and_takes_the_steps_arguments(job):
    task = job.jobs["estimate"].task
    assert task.entry_script == ENTRY_SCRIPT and (project_root() / ENTRY_SCRIPT).is_file()
    tree = ast.parse((project_root() / ENTRY_SCRIPT).read_text())
    assert {"init", "run"} <= {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    bound = task.program_arguments.replace("${{inputs.model_name}}", "ames-price")
    bound = bound.replace("${{inputs.model_version}}", "7").replace("${{outputs.estimates}}", "/mnt/out")
    args = entry.arguments([*shlex.split(bound), "--logging_level", "INFO"])  # the driver adds its own
    assert (args.model_name, args.model_version, str(args.output), args.threads) == (
        "ames-price",
        7,
        "/mnt/out",
        1,
    )
    assert task.environment.conda_file["name"] == "property-price-batch"


def test_the_yaml_loads_back_with_azure_ai_ml(job, tmp_path):
    from azure.ai.ml import load_job

    path = job_to_yaml(job, tmp_path / "job.yml")
    document = yaml.safe_load(path.read_text())
    assert not document["jobs"]["estimate"]["task"]["code"].startswith("/")  # relative to the YAML
    loaded = load_job(path)
    assert list(loaded.jobs) == ["estimate"]
    assert loaded.outputs["estimates"].name == "ames-price-estimates"
    assert loaded.jobs["estimate"].task["entry_script"] == ENTRY_SCRIPT


def test_the_schedule_runs_the_same_job_on_a_cron_and_loads_back(tmp_path):
    from azure.ai.ml.entities._load_functions import load_schedule

    schedule = build_schedule(settings(), "0 2 * * *", "Europe/Amsterdam")
    path = schedule_to_yaml(schedule, tmp_path / "schedule.yml")
    loaded = load_schedule(path)
    assert (loaded.trigger.expression, loaded.trigger.time_zone) == ("0 2 * * *", "Europe/Amsterdam")
    assert list(loaded.create_job.jobs) == ["estimate"]
    assert loaded.name == "ames-price-batch-estimates"
    with pytest.raises(ConfigError, match="--cron"):
        build_schedule(settings(), "daily")


def test_a_local_portfolio_or_bad_sizes_are_refused_naming_the_option():
    with pytest.raises(ConfigError) as refused:
        build_pipeline_job(settings(portfolio="portfolio.csv", instances=0))
    assert {problem.key for problem in refused.value.problems} == {"--input", "--instances"}


def _pins(path) -> dict[str, str]:
    (pip,) = [e["pip"] for e in yaml.safe_load(path.read_text())["dependencies"] if isinstance(e, dict)]
    pins = {}
    for line in pip:
        name, _, version = line.partition("==")
        assert version, f"{line}: pin an exact version"
        pins[canonicalize_name(Requirement(name).name)] = version
    return pins


# The HTTP server's packages: the batch step never imports them.
SERVER_ONLY = {"fastapi", "uvicorn", "prometheus-client", "python-json-logger"}
# Lower than the test suite's, for the parallel-run driver (environment.yml says why).
DRIVER_BOUNDED = {"numpy": "2.3.3", "pyarrow": "24"}


def test_the_environment_pins_every_engine_dependency_within_pyproject_and_as_training_does():
    from packaging.version import Version

    pins = _pins(ENVIRONMENT_FILE)
    project = tomllib.loads((project_root() / "pyproject.toml").read_text())["project"]
    for text in project["dependencies"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name in SERVER_ONLY:
            continue
        assert name in pins, f"{name} is an engine dependency but not pinned in {ENVIRONMENT_FILE.name}"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {requirement}"
    training = _pins(project_root() / "training" / "environment.yml")
    for name in ("pandas", "scipy", "scikit-learn", "mlflow-skinny", "azureml-mlflow", "azure-identity"):
        assert pins[name] == training[name], f"{name}: the model must load with the training's {name}"
    for name, below in DRIVER_BOUNDED.items():
        assert Version(pins[name]) < Version(below), f"azureml-dataset-runtime needs {name}<{below}"
    assert {"azureml-core", "azureml-dataset-runtime"} <= set(pins)
