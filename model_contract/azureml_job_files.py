"""The files Azure ML jobs are declared through, as the training job and the batch job both write them.

Both jobs read their workspace from a stack's outputs (``pulumi stack output --json``) and write their
pipeline job and schedule as YAML for ``az ml job create -f`` / ``az ml schedule create -f``. The objects
come from ``azure-ai-ml`` (built by each job's own module); this module needs only their ``_to_dict()``,
so it does not import the SDK.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from model_contract.config_error import ConfigError

REMOTE_SCHEMES = ("azureml:", "https://", "http://", "wasbs://", "wasb://", "abfss://", "adl://")
STACK_OUTPUTS_OPTION = "--stack-outputs"
_STACK_OUTPUTS = "a JSON object of stack outputs: pulumi stack output --json --stack <env> > FILE"
_LOCAL_PATH_KEYS = ("path", "code", "conda_file")


def read_stack_outputs(path: Path) -> dict:
    """A stack's outputs as ``pulumi stack output --json`` wrote them; ConfigError names the file."""
    try:
        outputs = json.loads(Path(path).read_text())
    except FileNotFoundError as error:
        raise ConfigError.of(STACK_OUTPUTS_OPTION, f"{path} does not exist", _STACK_OUTPUTS) from error
    except json.JSONDecodeError as error:
        raise ConfigError.of(STACK_OUTPUTS_OPTION, f"{path} is not JSON ({error})", _STACK_OUTPUTS) from error
    if not isinstance(outputs, dict):
        raise ConfigError.of(STACK_OUTPUTS_OPTION, f"{path} is not a JSON object", _STACK_OUTPUTS)
    return outputs


def job_to_yaml(job: Any, output: Path) -> Path:
    """Write an azure-ai-ml job as YAML that ``az ml job create -f`` and ``azure.ai.ml.load_job`` read back.

    Local paths are written relative to the YAML file, so it works from any checkout. ``azure-ai-ml``
    prefixes every unresolved input path with ``azureml:`` when it serializes a job; a local path or URL
    so prefixed would be read back as an asset name, so the prefix is removed from everything that is not
    an asset reference.
    """
    return _write(job._to_dict(), Path(output))


def schedule_to_yaml(schedule: Any, output: Path) -> Path:
    """Write the schedule YAML (``az ml schedule create -f``) and, beside it, the job YAML it refers to.

    The schedule format takes its job as a file reference, so the job goes to ``<name>.job.yml``.
    """
    output = Path(output)
    job_file = job_to_yaml(schedule.create_job, output.with_name(f"{output.stem}.job.yml"))
    document = schedule._to_dict()
    document["create_job"] = f"./{job_file.name}"
    return _write(document, output)


def _write(document: dict, output: Path) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    cleaned = _clean_paths(document, output.parent.resolve())
    output.write_text(yaml.safe_dump(cleaned, sort_keys=False, width=110))
    return output


def _clean_paths(value: Any, base: Path, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _clean_paths(v, base, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_paths(item, base, key) for item in value]
    if isinstance(value, str) and key in _LOCAL_PATH_KEYS:
        return _local_or_remote(value, base)
    return value


def _local_or_remote(value: str, base: Path) -> str:
    if value.startswith("azureml://"):  # a datastore URI: already what Azure ML expects
        return value
    bare = value.removeprefix("azureml:") if value.startswith("azureml:") and "/" in value else value
    if bare.startswith(("${{", *REMOTE_SCHEMES)):
        return bare
    if Path(bare).is_absolute():
        return os.path.relpath(bare, base)
    return bare
