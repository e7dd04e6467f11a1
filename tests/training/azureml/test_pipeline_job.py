"""The Azure ML pipeline job, built offline with azure-ai-ml: its graph, and its YAML read back by the SDK."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from model_contract.azureml_job_files import job_to_yaml, schedule_to_yaml
from model_contract.config_error import ConfigError
from model_contract.local_state import project_root
from training.azureml.components import BASE_IMAGE, ENVIRONMENT_FILE, STEP_SPECS
from training.azureml.pipeline_job import (
    PipelineSettings,
    build_pipeline_job,
    build_schedule,
    data_location,
)
from training.azureml.step import parser as step_parser
from training.config import DEFAULT_CONFIG, load_config

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # marshmallow, inside azure-ai-ml

STEPS = ["prepare", "train", "evaluate", "register", "bump"]
# input of a step -> the step output feeding it: the handoff that makes the gate's decision binding
WIRING = {
    ("train", "prepared_data"): "${{parent.jobs.prepare.outputs.prepared_data}}",
    ("evaluate", "prepared_data"): "${{parent.jobs.prepare.outputs.prepared_data}}",
    ("evaluate", "model"): "${{parent.jobs.train.outputs.model}}",
    ("register", "model"): "${{parent.jobs.train.outputs.model}}",
    ("register", "decision"): "${{parent.jobs.evaluate.outputs.decision}}",
    ("bump", "decision"): "${{parent.jobs.evaluate.outputs.decision}}",
    ("bump", "registration"): "${{parent.jobs.register.outputs.registration}}",
}


def settings(**changes) -> PipelineSettings:
    values = {
        "env": "dev",
        "config_path": DEFAULT_CONFIG,
        "config": load_config(DEFAULT_CONFIG),
        "compute": "train-cpu",
        "code_version": "0123abc",
        "data": "azureml:ames-raw:3",
        "environment_variables": {"GITOPS_PROVIDER": "github", "GITHUB_REPOSITORY": "org/repo"},
    }
    return PipelineSettings(**{**values, **changes})


@pytest.fixture(scope="module")
def job():
    return build_pipeline_job(settings())


@pytest.fixture(scope="module")
def job_yaml(job, tmp_path_factory):
    path = job_to_yaml(job, tmp_path_factory.mktemp("dry-run") / "job.yml")
    return path, yaml.safe_load(path.read_text())


def test_the_pipeline_runs_the_five_steps_on_the_stack_compute_cluster(job):
    assert list(job.jobs) == STEPS
    assert job.settings.default_compute == "train-cpu"
    assert {name: node.compute for name, node in job.jobs.items()} == dict.fromkeys(STEPS, "train-cpu")
    assert job.settings.continue_on_step_failure is False
    assert (job.experiment_name, job.tags["env"], job.tags["git_commit"]) == ("ames-price", "dev", "0123abc")


def test_each_step_consumes_the_outputs_of_the_step_before_it(job_yaml):
    _, document = job_yaml
    for (step, name), source in WIRING.items():
        assert document["jobs"][step]["inputs"][name]["path"] == source, (step, name)
    outputs = {name: node["outputs"] for name, node in document["jobs"].items()}
    assert outputs["prepare"]["prepared_data"] == "${{parent.outputs.prepared_data}}"
    assert outputs["bump"]["bump"] == "${{parent.outputs.bump}}"


def test_the_prepared_data_is_registered_as_a_named_data_asset(job):
    assert job.outputs["prepared_data"].name == "ames-price-prepared"
    assert build_pipeline_job(settings(prepared_data_name="houses")).outputs["prepared_data"].name == "houses"


def test_every_step_runs_the_repository_code_in_the_pinned_environment(job):
    conda = yaml.safe_load(ENVIRONMENT_FILE.read_text())
    for node in job.jobs.values():
        component = node.component
        assert Path(component.code) == project_root()
        assert component.environment.image == BASE_IMAGE
        assert component.environment.conda_file == conda
        assert component.is_deterministic is False  # the champion and the registry change between runs


def test_the_component_command_lines_are_the_step_cli(job):
    parser = step_parser()
    for name, node in job.jobs.items():
        command = node.component.command
        assert command.startswith(f"python -m training.azureml.step {name} ")
        # What Azure ML substitutes: every ${{inputs.x}} / ${{outputs.y}} by a value, $[[...]] kept.
        resolved = re.sub(r"\$\[\[(.*?)\]\]", r"\1", command)
        resolved = re.sub(r"\$\{\{inputs\.(force|switch_model)\}\}", "false", resolved)
        resolved = re.sub(r"\$\{\{inputs\.env\}\}", "dev", resolved)
        resolved = re.sub(r"\$\{\{(inputs|outputs)\.(\w+)\}\}", r"/mnt/\2", resolved)
        args = parser.parse_args(shlex.split(resolved)[3:])
        assert args.step == name
        declared = {*node.component.inputs, *node.component.outputs}
        used = set(re.findall(r"\$\{\{(?:inputs|outputs)\.(\w+)\}\}", command))
        assert used == declared, name


def test_gitops_settings_reach_every_step_as_environment_variables(job):
    for node in job.jobs.values():
        assert node.environment_variables == {"GITOPS_PROVIDER": "github", "GITHUB_REPOSITORY": "org/repo"}


def test_the_yaml_loads_back_with_azure_ai_ml_and_keeps_the_graph(job_yaml):
    from azure.ai.ml import load_job

    path, document = job_yaml
    loaded = load_job(path)
    assert list(loaded.jobs) == STEPS
    assert loaded.settings.default_compute == "train-cpu"
    assert document["inputs"]["raw_data"]["path"] == "azureml:ames-raw:3"  # an asset stays an asset
    config_path = document["inputs"]["config"]["path"]
    assert not config_path.startswith("azureml:")  # a local file is uploaded, not looked up as an asset
    assert (path.parent / config_path).resolve() == DEFAULT_CONFIG.resolve()
    assert (path.parent / document["jobs"]["train"]["component"]["code"]).resolve() == project_root()


@pytest.mark.parametrize(
    "data",
    ["https://stames.blob.core.windows.net/raw/ames.csv", "wasbs://raw@stames.blob.core.windows.net/ames.csv",
     "azureml://datastores/workspaceblobstore/paths/raw/ames.csv", "azureml:ames-raw@latest"],
)  # fmt: skip
def test_blob_urls_and_data_assets_are_passed_through_untouched(data, tmp_path):
    path = job_to_yaml(build_pipeline_job(settings(data=data, steps="prepare")), tmp_path / "job.yml")
    assert yaml.safe_load(path.read_text())["inputs"]["raw_data"]["path"] == data


def test_builtin_data_needs_no_data_input_and_a_relative_source_resolves_against_the_config(tmp_path):
    assert data_location(settings(data=None)) is None
    (tmp_path / "sales.csv").write_text("a,b\n1,2\n")
    config = load_config(DEFAULT_CONFIG).model_copy(update={"base_dir": tmp_path})
    config = config.model_copy(update={"data": config.data.model_copy(update={"source": "sales.csv"})})
    assert data_location(settings(data=None, config=config)) == str(tmp_path / "sales.csv")
    with pytest.raises(
        ConfigError, match=r"^--data: .* is not a file; allowed: a file, an azureml: data asset or a URL$"
    ):
        data_location(settings(data=str(tmp_path / "missing.csv")))


def test_the_prepare_data_pipeline_has_only_the_prepare_step(tmp_path):
    from azure.ai.ml import load_job

    job = build_pipeline_job(settings(steps="prepare"))
    assert list(job.jobs) == ["prepare"] and list(job.outputs) == ["prepared_data"]
    assert list(load_job(job_to_yaml(job, tmp_path / "prepare.yml")).jobs) == ["prepare"]


def test_the_schedule_wraps_the_same_pipeline_and_loads_back(tmp_path):
    from azure.ai.ml.entities._load_functions import load_schedule

    schedule = build_schedule(settings(env="qa"), "0 3 * * 1", "Europe/Amsterdam")
    assert schedule.name == "ames-price-retrain-qa"
    path = schedule_to_yaml(schedule, tmp_path / "schedule.yml")
    loaded = load_schedule(path)
    assert (loaded.trigger.expression, loaded.trigger.time_zone) == ("0 3 * * 1", "Europe/Amsterdam")
    assert list(loaded.create_job.jobs) == STEPS
    with pytest.raises(
        ConfigError, match=r"^--cron: .* has 2 fields; allowed: five: minute hour day month weekday$"
    ):
        build_schedule(settings(), "every monday")


def test_every_step_spec_names_a_step_of_the_cli():
    assert [spec.name for spec in STEP_SPECS] == STEPS


@pytest.mark.parametrize("asset", ["azureml:ames-price-prepared:4", "azureml:ames-price-prepared@latest"])
def test_a_prepared_data_asset_is_a_folder_bound_to_the_steps_after_prepare(asset, tmp_path):
    """The prepare-data pipeline registers a folder; training on it must not hand a folder to a file input."""
    from azure.ai.ml import load_job

    job = build_pipeline_job(settings(data=asset))
    assert list(job.jobs) == STEPS[1:]
    document = yaml.safe_load(job_to_yaml(job, tmp_path / "job.yml").read_text())
    assert document["inputs"]["prepared_data"] == {"type": "uri_folder", "path": asset}
    assert "raw_data" not in document["inputs"]
    for step in ("train", "evaluate"):
        assert document["jobs"][step]["inputs"]["prepared_data"]["path"] == "${{parent.inputs.prepared_data}}"
    assert list(load_job(tmp_path / "job.yml").jobs) == STEPS[1:]


def test_preparing_already_prepared_data_is_refused():
    with pytest.raises(
        ConfigError, match=r"^--data: azureml:ames-price-prepared:4 is already prepared data; allowed: "
    ):
        build_pipeline_job(settings(data="azureml:ames-price-prepared:4", steps="prepare"))
