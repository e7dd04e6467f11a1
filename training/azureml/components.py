"""The pipeline's command components: each runs one step of training/azureml/step.py on the cluster.

The component's code is this repository (its ``.gitignore`` keeps virtual environments and local state
out of the upload), so the job runs exactly the training package that was submitted. The environment is
the pinned conda file ``training/environment.yml`` on an Azure ML base image.

Nothing here is deterministic in Azure ML's sense: evaluate reads the champion from the gitops remote and
register/bump change the registry and open pull requests, so a rerun must run them again rather than
reuse an earlier run's outputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from model_contract.local_state import project_root

if TYPE_CHECKING:
    from azure.ai.ml.entities import CommandComponent, Environment

ENVIRONMENT_FILE = Path(__file__).resolve().parent.parent / "environment.yml"
# Only the OS, conda and MPI come from the base image; every Python package is pinned in ENVIRONMENT_FILE.
BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
STEP_COMMAND = "python -m training.azureml.step"


@dataclass(frozen=True)
class StepSpec:
    """One component: its inputs and outputs by name and type, and its command line."""

    name: str
    description: str
    inputs: Mapping[str, str]
    outputs: tuple[str, ...]
    arguments: str

    @property
    def command(self) -> str:
        return f"{STEP_COMMAND} {self.name} {self.arguments}"


OPTIONAL = "?"  # suffix of an input type: the input may be left out
STEP_SPECS = (
    StepSpec(
        "prepare",
        "Validate and fingerprint the training data; write it as the prepared-data folder",
        {"config": "uri_file", "raw_data": "uri_file" + OPTIONAL},
        ("prepared_data",),
        "--config ${{inputs.config}} $[[--data ${{inputs.raw_data}}]] --output ${{outputs.prepared_data}}",
    ),
    StepSpec(
        "train",
        "Fit the challenger, record its run, write its model artifact and test split",
        {"config": "uri_file", "prepared_data": "uri_folder", "env": "string", "code_version": "string"},
        ("model",),
        "--config ${{inputs.config}} --prepared ${{inputs.prepared_data}} --env ${{inputs.env}} "
        "--code-version ${{inputs.code_version}} --output ${{outputs.model}}",
    ),
    StepSpec(
        "evaluate",
        "Score the champion pinned in the environment on the same test split; write the gate's decision",
        {
            "config": "uri_file",
            "prepared_data": "uri_folder",
            "model": "uri_folder",
            "env": "string",
            "force": "string",
            "switch_model": "string",
        },
        ("decision",),
        "--config ${{inputs.config}} --prepared ${{inputs.prepared_data}} --model ${{inputs.model}} "
        "--env ${{inputs.env}} --force ${{inputs.force}} --switch-model ${{inputs.switch_model}} "
        "--output ${{outputs.decision}}",
    ),
    StepSpec(
        "register",
        "Register the challenger in the workspace registry if, and only if, the decision says so",
        {"config": "uri_file", "model": "uri_folder", "decision": "uri_folder"},
        ("registration",),
        "--config ${{inputs.config}} --model ${{inputs.model}} --decision ${{inputs.decision}} "
        "--output ${{outputs.registration}}",
    ),
    StepSpec(
        "bump",
        "Open or update the pull request pinning the registered version, if one was registered",
        {"decision": "uri_folder", "registration": "uri_folder"},
        ("bump",),
        "--decision ${{inputs.decision}} --registration ${{inputs.registration}} --output ${{outputs.bump}}",
    ),
)


def training_environment(base_image: str = BASE_IMAGE) -> Environment:
    """An anonymous environment: Azure ML names it by the hash of the image and conda file."""
    from azure.ai.ml.entities import Environment

    return Environment(
        image=base_image,
        conda_file=str(ENVIRONMENT_FILE),
        description="Training pipeline of the property price estimation engine (training/environment.yml)",
    )


def build_components(environment: Environment, code: Path | None = None) -> dict[str, CommandComponent]:
    """One command component per step, by step name."""
    from azure.ai.ml import Input, Output
    from azure.ai.ml.entities import CommandComponent

    code = code or project_root()
    components = {}
    for spec in STEP_SPECS:
        inputs = {}
        for name, kind in spec.inputs.items():
            optional = kind.endswith(OPTIONAL)
            inputs[name] = (
                Input(type=kind.removesuffix(OPTIONAL), optional=True) if optional else Input(type=kind)
            )
        components[spec.name] = CommandComponent(
            name=f"price_{spec.name}",
            display_name=spec.name,
            description=spec.description,
            code=str(code),
            command=spec.command,
            environment=environment,
            inputs=inputs,
            outputs={name: Output(type="uri_folder") for name in spec.outputs},
            is_deterministic=False,
        )
    return components
