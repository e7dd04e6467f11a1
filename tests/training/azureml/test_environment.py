"""training/environment.yml: every package the training jobs import, pinned to a version pyproject allows."""

from __future__ import annotations

import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from model_contract.local_state import project_root
from training.azureml.components import ENVIRONMENT_FILE

# What the steps import inside Azure ML, beyond the core dependencies the engine also uses.
JOB_EXTRAS = {"training": "all", "azure": {"azureml-mlflow", "azure-identity", "azure-keyvault-secrets"}}
# Core dependencies the training jobs never import: the HTTP server and the fast path's decoder and kernel.
ENGINE_ONLY = {"fastapi", "uvicorn", "prometheus-client", "msgspec", "numba", "python-json-logger"}


def pip_pins() -> dict[str, str]:
    document = yaml.safe_load(ENVIRONMENT_FILE.read_text())
    (pip,) = [entry["pip"] for entry in document["dependencies"] if isinstance(entry, dict)]
    pins = {}
    for line in pip:
        name, _, version = line.partition("==")
        assert version, f"{line}: pin an exact version (==) so every job gets the same libraries"
        pins[canonicalize_name(name)] = version
    return pins


def required() -> dict[str, Requirement]:
    project = tomllib.loads((project_root() / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(text) for text in project["dependencies"]]
    for extra, names in JOB_EXTRAS.items():
        for text in project["optional-dependencies"][extra]:
            requirement = Requirement(text)
            if names == "all" or requirement.name in names:
                requirements.append(requirement)
    return {
        canonicalize_name(r.name): r for r in requirements if canonicalize_name(r.name) not in ENGINE_ONLY
    }


def test_every_dependency_of_the_training_jobs_is_pinned_within_pyproject_bounds():
    pins = pip_pins()
    for name, requirement in required().items():
        assert name in pins, f"{name} is a dependency of the training jobs but not in {ENVIRONMENT_FILE.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{ENVIRONMENT_FILE.name} pins {name}=={pins[name]}, outside pyproject's {requirement}"
        )


def test_the_conda_layer_brings_python_3_11_and_git():
    dependencies = yaml.safe_load(ENVIRONMENT_FILE.read_text())["dependencies"]
    conda = [entry for entry in dependencies if isinstance(entry, str)]
    assert "python=3.11" in conda and any(entry.startswith("git") for entry in conda)
