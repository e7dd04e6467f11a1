"""The tasks the pipelines use, as the agent runs them; any other task fails the step (the rehearsal never
pretends).

UsePythonVersion@0 (a tool-cache interpreter on PATH), AzureCLI@2 (an ``AZURE_CONFIG_DIR`` in the temp
folder, ``az login`` with the service connection's federated token, ``az account set``, the script,
``az account clear``; ``addSpnToEnvironment`` exposes ``servicePrincipalId``, ``idToken``, ``tenantId``),
KubeloginInstaller@0, PublishPipelineArtifact@1, PublishTestResults@2.
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from tests.pipelines.rehearsal.errors import RehearsalError
from tests.pipelines.rehearsal.expressions import to_string, truthy

if TYPE_CHECKING:
    from tests.pipelines.rehearsal.job import JobRun


def run_task(job: JobRun, step: dict, name: str, display: str) -> tuple[int, str]:
    task = step.get("task", "")
    inputs = {k: job.expand(to_string(v)) for k, v in (step.get("inputs") or {}).items()}
    tasks = {
        "UsePythonVersion@0": lambda: use_python(job, inputs),
        "AzureCLI@2": lambda: azure_cli(job, inputs, job.step_env(step), name, display),
        "KubeloginInstaller@0": lambda: kubelogin_installer(job),
        "PublishPipelineArtifact@1": lambda: publish(inputs.get("targetPath", ""), required=True),
        "PublishTestResults@2": lambda: publish(inputs.get("testResultsFiles", ""), required=False),
    }
    if task not in tasks:
        raise RehearsalError(f"the rehearsal does not model task {task!r}")
    return tasks[task]()


def use_python(job: JobRun, inputs: dict[str, str]) -> tuple[int, str]:
    version = job.run.session.python["version"]
    wanted = inputs.get("versionSpec", "")
    if not version.startswith(wanted.rstrip(".x")):
        return (
            1,
            f"##[error]Version spec {wanted} for architecture x64 did not match any version in Agent.ToolsDirectory.",
        )
    from tests.pipelines.rehearsal.standins import interpreters

    root = job.work / "_tool" / "Python" / version / "x64"
    if not root.exists():
        interpreters.create(root, "toolcache", job.run.session.python)
    job.path.insert(0, str(root / "bin"))
    return 0, f"Found tool in cache: Python {version} x64"


def kubelogin_installer(job: JobRun) -> tuple[int, str]:
    folder = job.work / "_tool" / "kubelogin" / "bin"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(job.run.tool_wrappers["kubelogin"], folder / "kubelogin")
    job.path.insert(0, str(folder))
    return 0, "kubelogin installed"


def publish(path: str, required: bool) -> tuple[int, str]:
    if required and not Path(path).exists():
        return 1, f"##[error]Path does not exist: {path}"
    return 0, f"published {path}"


def azure_cli(
    job: JobRun, inputs: dict[str, str], step_env: dict[str, str], name: str, display: str
) -> tuple[int, str]:
    connection = job.run.organization.service_connections.get(inputs.get("azureSubscription", ""))
    if connection is None:
        return (
            1,
            f"##[error]The service connection {inputs.get('azureSubscription')!r} could not be found or is not authorized",
        )
    if inputs.get("scriptType") != "bash" or inputs.get("scriptLocation") != "inlineScript":
        raise RehearsalError("the rehearsal models AzureCLI@2 with scriptType bash and an inline script")
    config_dir = job.work / "_temp" / ".azclitask"
    token = job.run.register_secret(f"federated-token-{secrets.token_hex(12)}")
    tokens_file = job.run.state / "oidc-tokens.json"
    tokens = json.loads(tokens_file.read_text()) if tokens_file.is_file() else {}
    tokens[token] = connection.name
    tokens_file.write_text(json.dumps(tokens))
    task_env = {
        "AZURE_CONFIG_DIR": str(config_dir),
        "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID": connection.name,
        "AZURESUBSCRIPTION_CLIENT_ID": connection.client_id,
        "AZURESUBSCRIPTION_TENANT_ID": connection.tenant_id,
    }
    login = (
        f'az login --service-principal -u "{connection.client_id}" --tenant "{connection.tenant_id}" '
        f'--allow-no-subscriptions --federated-token "{token}" --output none\n'
        f'az account set --subscription "{connection.subscription_id}"\n'
    )
    code, output = job.bash(login, {}, name, f"{display} (AzureCLI@2 login)", None, task_env)
    if code != 0:
        return code, output
    if truthy(inputs.get("addSpnToEnvironment", "false")):
        task_env |= {
            "servicePrincipalId": connection.client_id,
            "idToken": token,
            "tenantId": connection.tenant_id,
        }
    code, script_output = job.bash(inputs.get("inlineScript", ""), step_env, name, display,
                                   inputs.get("workingDirectory") or inputs.get("cwd"), task_env)  # fmt: skip
    job.bash("az account clear\n", {}, name, f"{display} (AzureCLI@2 logout)", None, task_env)
    return code, output + script_output
