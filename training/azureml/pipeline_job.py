"""The Azure ML pipeline job: the five components wired by ``dsl.pipeline``, built offline.

Building needs no credentials and no workspace: ``python -m training submit --dry-run`` writes the job
YAML from here, and the tests check its graph. The evaluate step's decision folder is the input of
register, whose registration folder is the input of bump: a "no improvement" flows through as a record,
so the pipeline ends successfully with nothing registered and nothing cancelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from model_contract.azureml_job_files import REMOTE_SCHEMES
from model_contract.config_error import ConfigError
from training.azureml.components import BASE_IMAGE, build_components, training_environment
from training.config import BUILTIN_PREFIX, TrainingConfig

if TYPE_CHECKING:
    from azure.ai.ml.entities import JobSchedule, PipelineJob

Steps = Literal["all", "prepare"]
DEFAULT_COMPUTE = "train-cpu"  # infra/components/training_compute.py's cluster name


@dataclass(frozen=True)
class PipelineSettings:
    """Everything the pipeline job is built from."""

    env: str
    config_path: Path
    config: TrainingConfig
    compute: str = DEFAULT_COMPUTE
    code_version: str = "unknown"
    data: str | None = None
    force: bool = False
    switch_model: bool = False
    steps: Steps = "all"
    prepared_data_name: str | None = None
    environment_variables: Mapping[str, str] = field(default_factory=dict)
    base_image: str = BASE_IMAGE
    code: Path | None = None

    @property
    def experiment_name(self) -> str:
        return self.config.model_name

    @property
    def data_asset_name(self) -> str:
        return self.prepared_data_name or f"{self.config.model_name}-prepared"


def data_location(settings: PipelineSettings) -> str | None:
    """Where prepare reads from: ``--data`` if given, else the config's own file; None for builtin data.

    A value is a local file, an ``azureml:<asset>:<version>`` (or ``@latest``) data asset, or a URL
    (``https://<account>.blob.core.windows.net/...``, ``wasbs://``, ``abfss://``, ``azureml://datastores/``).
    """
    value = settings.data
    if value is None:
        source = settings.config.data.source
        if source.startswith(BUILTIN_PREFIX):
            return None  # the dataset ships inside the uploaded training package
        value = source if Path(source).is_absolute() else str(settings.config.base_dir / source)
    if value.startswith(REMOTE_SCHEMES):
        return value
    path = Path(value).resolve()
    if not path.is_file():
        raise ConfigError.of("--data", f"{path} is not a file", "a file, an azureml: data asset or a URL")
    return str(path)


def prepared_asset(settings: PipelineSettings) -> str | None:
    """``--data`` when it names a version of the prepared-data asset (``azureml:<name>:<version>`` or
    ``azureml:<name>@latest``), which is a folder: it is then bound to the steps after prepare as a
    ``uri_folder``, never to prepare's ``uri_file`` input (Azure ML would hand prepare a folder)."""
    value = settings.data or ""
    if not value.startswith("azureml:") or value.startswith("azureml://"):
        return None
    name = value.removeprefix("azureml:").split("@", 1)[0].split(":", 1)[0]
    return value if name == settings.data_asset_name else None


def _train_steps(components: Mapping[str, Any], config: Any, data: Any, env: Any, code_version: Any,
                 force: Any, switch_model: Any) -> dict[str, Any]:  # fmt: skip
    """train -> evaluate -> register -> bump on prepared data (called inside a dsl pipeline function)."""
    train = components["train"](config=config, prepared_data=data, env=env, code_version=code_version)
    evaluate = components["evaluate"](
        config=config, prepared_data=data, model=train.outputs.model, env=env, force=force,
        switch_model=switch_model,
    )  # fmt: skip
    register = components["register"](
        config=config, model=train.outputs.model, decision=evaluate.outputs.decision
    )
    bump = components["bump"](decision=evaluate.outputs.decision, registration=register.outputs.registration)
    for name, node in {"train": train, "evaluate": evaluate, "register": register, "bump": bump}.items():
        node.name = name  # dsl names nodes after the pipeline function's own variables, and these are not
    return {
        "model": train.outputs.model,
        "decision": evaluate.outputs.decision,
        "registration": register.outputs.registration,
        "bump": bump.outputs.bump,
    }


def build_pipeline_job(settings: PipelineSettings) -> PipelineJob:
    """The pipeline job for ``settings``: all five steps, the four after prepare when ``--data`` is a
    prepared-data asset, or only prepare (the data pipeline)."""
    from azure.ai.ml import Input, dsl

    components = build_components(training_environment(settings.base_image), settings.code)
    prepared = prepared_asset(settings)
    if prepared is not None and settings.steps == "prepare":
        raise ConfigError.of(
            "--data", f"{prepared} is already prepared data", "the raw data, which prepare validates"
        )
    location = None if prepared else data_location(settings)

    @dsl.pipeline(
        name=f"{settings.config.model_name}-prepare-data",
        description="Validate, fingerprint and register the training data as a versioned data asset",
    )
    def prepare_data(config, raw_data=None):  # unannotated: dsl reads no postponed annotations
        prepare = components["prepare"](config=config, raw_data=raw_data)
        return {"prepared_data": prepare.outputs.prepared_data}

    @dsl.pipeline(
        name=f"{settings.config.model_name}-train-evaluate-register",
        description="Prepare, train, evaluate against the pinned champion, register if better, open the bump PR",
    )
    def train_evaluate_register(config, env, code_version, force, switch_model, raw_data=None):
        prepare = components["prepare"](config=config, raw_data=raw_data)
        data = prepare.outputs.prepared_data
        steps = _train_steps(components, config, data, env, code_version, force, switch_model)
        return {"prepared_data": data, **steps}

    @dsl.pipeline(
        name=f"{settings.config.model_name}-train-evaluate-register-prepared",
        description="Train on a prepared-data asset, evaluate against the pinned champion, register if better, bump",
    )
    def train_on_prepared(config, env, code_version, force, switch_model, prepared_data):
        return _train_steps(components, config, prepared_data, env, code_version, force, switch_model)

    config = Input(type="uri_file", path=str(settings.config_path.resolve()))
    raw_data = Input(type="uri_file", path=location) if location else None
    if settings.steps == "prepare":
        return _finish(prepare_data(config=config, raw_data=raw_data), settings)
    options = {
        "config": config, "env": settings.env, "code_version": settings.code_version,
        "force": "true" if settings.force else "false",
        "switch_model": "true" if settings.switch_model else "false",
    }  # fmt: skip
    if prepared is not None:
        return _finish(
            train_on_prepared(**options, prepared_data=Input(type="uri_folder", path=prepared)), settings
        )
    return _finish(train_evaluate_register(**options, raw_data=raw_data), settings)


def _finish(job: PipelineJob, settings: PipelineSettings) -> PipelineJob:
    job.display_name = f"{settings.config.model_name} {settings.steps if settings.steps == 'prepare' else 'train'} ({settings.env})"
    job.experiment_name = settings.experiment_name
    job.tags = {"env": settings.env, "git_commit": settings.code_version, "steps": settings.steps}
    job.settings.default_compute = settings.compute
    job.settings.continue_on_step_failure = False
    for node in job.jobs.values():
        node.compute = settings.compute
        node.environment_variables = dict(settings.environment_variables)
    if "prepared_data" in job.outputs:  # registered as a data asset; Azure ML numbers its versions
        job.outputs.prepared_data.name = settings.data_asset_name
    return job


def build_schedule(
    settings: PipelineSettings, cron: str, time_zone: str = "UTC", name: str | None = None
) -> JobSchedule:
    """A schedule that submits the same pipeline job on a cron expression (periodic retraining)."""
    from azure.ai.ml.entities import CronTrigger, JobSchedule

    if len(cron.split()) != 5:
        raise ConfigError.of(
            "--cron", f"{cron!r} has {len(cron.split())} fields", "five: minute hour day month weekday"
        )
    return JobSchedule(
        name=name or f"{settings.config.model_name}-retrain-{settings.env}",
        display_name=f"Retrain {settings.config.model_name} against {settings.env}'s champion",
        trigger=CronTrigger(expression=cron, time_zone=time_zone),
        create_job=build_pipeline_job(settings),
        tags={"env": settings.env},
    )
