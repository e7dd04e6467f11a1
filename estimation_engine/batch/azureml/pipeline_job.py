"""The batch-estimates pipeline job: one parallel step over a portfolio data asset, built offline.

Building needs no credentials and no workspace (``--dry-run`` writes the YAML from here; the tests read it
back with azure-ai-ml). The step is ``parallel_run_function``: the portfolio (a ``uri_folder`` of CSV or
Parquet files, mounted read-only) is split by file, ``files_per_call`` files per ``run`` call; every node
runs ``processes_per_instance`` worker processes, each loading the model once. Both error thresholds are
zero: a file that cannot be read fails the job, rather than its properties silently missing from the
result. The estimates folder is the pipeline's named output, registered as a data asset (``<model>-
estimates``, a new version per run unless one is given), which is what a downstream consumer reads.

The environment is ``environment.yml`` beside this file on the training pipeline's base image: the same
conda-file approach and the same pinned scientific stack as the training jobs (the model is unpickled with
the scikit-learn it was trained with), plus the parallel-run driver's packages. The engine image is not
used: it carries neither that driver nor conda, and Azure ML would have to pull it from the environment's
registry with the cluster's identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_contract.config_error import ConfigError
from model_contract.local_state import project_root
from model_contract.pins import is_model_name

if TYPE_CHECKING:
    from azure.ai.ml.entities import JobSchedule, PipelineJob

ENVIRONMENT_FILE = Path(__file__).resolve().parent / "environment.yml"
# The training pipeline's base image (training/azureml/components.py): OS, conda and MPI only.
BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
ENTRY_SCRIPT = "estimation_engine/batch/azureml/entry.py"  # relative to the uploaded code (the repository)
DEFAULT_COMPUTE = "train-cpu"  # infra/components/training_compute.py's cluster
_DATA = (
    "an azureml:<asset>:<version> (or @latest) uri_folder data asset, or an azureml://datastores/... folder"
)


@dataclass(frozen=True)
class BatchJobSettings:
    """Everything the pipeline job is built from."""

    model_name: str
    model_version: int
    portfolio: str  # azureml:<asset>:<version> or a datastore URI of a folder of CSV/Parquet files
    compute: str = DEFAULT_COMPUTE
    instances: int = 1
    processes_per_instance: int = 2
    files_per_call: int = 1
    timeout_seconds: int = 3600  # per run() call: one file of a few million rows takes minutes
    output_name: str | None = None  # the estimates data asset (default <model>-estimates)
    output_version: str | None = None  # default: Azure ML numbers the versions
    environment_variables: dict[str, str] = field(default_factory=dict)
    code: Path | None = None
    env: str | None = None  # the environment whose pin named the version, for tags

    @property
    def estimates_asset(self) -> str:
        return self.output_name or f"{self.model_name}-estimates"

    def check(self) -> None:
        problems = []
        if not is_model_name(self.model_name):
            problems.append(
                ("--model-name", f"{self.model_name!r} is not a model name", "a registered model name")
            )
        if not self.portfolio.startswith(("azureml:", "https://", "abfss://", "wasbs://")):
            problems.append(
                ("--input", f"{self.portfolio!r} is not a data asset or a datastore folder", _DATA)
            )
        for key, value in (("--instances", self.instances), ("--processes-per-instance", self.processes_per_instance),
                           ("--files-per-call", self.files_per_call)):  # fmt: skip
            if value < 1:
                problems.append((key, f"{value}", "a positive number"))
        if problems:
            from model_contract.config_error import Problem

            raise ConfigError(Problem(*problem) for problem in problems)


def batch_environment() -> Any:
    from azure.ai.ml.entities import Environment

    return Environment(
        image=BASE_IMAGE,
        conda_file=str(ENVIRONMENT_FILE),
        description="Batch estimates of the property price engine (estimation_engine/batch/azureml/environment.yml)",
    )


def parallel_step(settings: BatchJobSettings) -> Any:
    """The parallel step, as a function for a dsl pipeline."""
    from azure.ai.ml import Input, Output
    from azure.ai.ml.constants import AssetTypes, InputOutputModes
    from azure.ai.ml.parallel import RunFunction, parallel_run_function

    return parallel_run_function(
        name="batch_estimates",
        display_name="batch estimates",
        description="Estimate every property of every file with the pinned model (estimation_engine.batch)",
        inputs={
            "portfolio": Input(type=AssetTypes.URI_FOLDER, mode=InputOutputModes.RO_MOUNT),
            "model_name": Input(type="string"),
            "model_version": Input(type="integer"),
        },
        outputs={"estimates": Output(type=AssetTypes.URI_FOLDER, mode=InputOutputModes.RW_MOUNT)},
        input_data="${{inputs.portfolio}}",
        mini_batch_size=str(settings.files_per_call),
        instance_count=settings.instances,
        max_concurrency_per_instance=settings.processes_per_instance,
        error_threshold=0,
        mini_batch_error_threshold=0,
        retry_settings={"max_retries": 2, "timeout": settings.timeout_seconds},
        logging_level="INFO",
        environment_variables={
            # One tree thread per worker process: the processes are the parallelism on each node.
            "ENGINE_BATCH_THREADS": "1",
            "ENGINE_MODEL_CACHE_DIR": "/tmp/estimation-engine-cache",
            "NUMBA_CACHE_DIR": "/tmp/estimation-engine-cache/numba",
            **settings.environment_variables,
        },
        task=RunFunction(
            code=str(settings.code or project_root()),
            entry_script=ENTRY_SCRIPT,
            program_arguments="--model-name ${{inputs.model_name}} --model-version ${{inputs.model_version}} "
            "--output ${{outputs.estimates}} --threads 1",
            environment=batch_environment(),
        ),
        is_deterministic=False,  # the same portfolio re-estimated later must run again, not be reused
    )


def build_pipeline_job(settings: BatchJobSettings) -> PipelineJob:
    from azure.ai.ml import Input, dsl
    from azure.ai.ml.constants import AssetTypes

    settings.check()
    step = parallel_step(settings)

    @dsl.pipeline(
        name=f"{settings.model_name}-batch-estimates",
        description="Estimate a portfolio with the pinned model; the estimates are registered as a data asset",
    )
    def batch_estimates(
        portfolio, model_name, model_version
    ):  # unannotated: dsl reads no postponed annotations
        node = step(portfolio=portfolio, model_name=model_name, model_version=model_version)
        node.name = "estimate"
        return {"estimates": node.outputs.estimates}

    job = batch_estimates(
        portfolio=Input(type=AssetTypes.URI_FOLDER, path=settings.portfolio),
        model_name=settings.model_name,
        model_version=settings.model_version,
    )
    job.display_name = f"{settings.model_name} v{settings.model_version} batch estimates"
    job.experiment_name = f"{settings.model_name}-batch"
    job.tags = {
        "model_version": str(settings.model_version),
        **({"env": settings.env} if settings.env else {}),
    }
    job.settings.default_compute = settings.compute
    job.settings.continue_on_step_failure = False
    for node in job.jobs.values():
        node.compute = settings.compute
    job.outputs.estimates.name = settings.estimates_asset
    if settings.output_version:
        job.outputs.estimates.version = settings.output_version
    return job


def build_schedule(settings: BatchJobSettings, cron: str, time_zone: str = "UTC", name: str | None = None) -> JobSchedule:  # fmt: skip
    """The same job on a cron expression (e.g. a nightly re-estimate of the portfolio's latest version)."""
    from azure.ai.ml.entities import CronTrigger, JobSchedule

    if len(cron.split()) != 5:
        raise ConfigError.of("--cron", f"{cron!r} has {len(cron.split())} fields", "five: minute hour day month weekday")  # fmt: skip
    return JobSchedule(
        name=name or f"{settings.model_name}-batch-estimates",
        display_name=f"Batch estimates of {settings.portfolio} with {settings.model_name} v{settings.model_version}",
        trigger=CronTrigger(expression=cron, time_zone=time_zone),
        create_job=build_pipeline_job(settings),
        tags={"model_version": str(settings.model_version)},
    )
