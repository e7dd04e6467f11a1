"""Which Azure ML workspace to submit to, and what the jobs get in their environment.

The workspace comes from the infra stack's outputs (``pulumi stack output --json --stack <env> > FILE``)
or from flags, flags winning. The jobs' environment variables carry the gitops settings of the submitting
shell, never its tokens: the token is read from the key vault inside the job (gitops_token).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from delivery.settings import GITOPS_VARIABLES
from model_contract.azureml_job_files import read_stack_outputs
from model_contract.config_error import ConfigError, Problem
from training.azureml.gitops_token import KEY_VAULT_URL_VARIABLE, SECRET_NAME_VARIABLE, TOKEN_VARIABLES
from training.azureml.pipeline_job import DEFAULT_COMPUTE

# WorkspaceTarget field -> the infra program's export name (infra/program.py).
STACK_OUTPUTS = {
    "resource_group": "resourceGroupName",
    "workspace_name": "workspaceName",
    "compute": "trainingComputeName",
    "training_client_id": "trainingClientId",
    "key_vault_url": "keyVaultUri",
}
DEFAULT_TOKEN_SECRET = "gitops-token"


@dataclass(frozen=True)
class WorkspaceTarget:
    subscription_id: str | None = None
    resource_group: str | None = None
    workspace_name: str | None = None
    compute: str = DEFAULT_COMPUTE
    training_client_id: str | None = None
    key_vault_url: str | None = None

    def require_workspace(self) -> None:
        """Submission needs all three coordinates; the message says which flag or output is missing."""
        missing = [
            Problem(
                f"--{name.replace('_', '-')}", "not given, so there is no workspace to submit to",
                f"the stack output {STACK_OUTPUTS[name]} (--stack-outputs) or the flag"
                if name in STACK_OUTPUTS else "the flag, or AZURE_SUBSCRIPTION_ID",
            )
            for name in ("subscription_id", "resource_group", "workspace_name")
            if not getattr(self, name)
        ]  # fmt: skip
        if missing:
            raise ConfigError(missing)


def resolve_target(
    stack_outputs: Path | None, overrides: Mapping[str, str | None], environ: Mapping[str, str] = os.environ
) -> WorkspaceTarget:
    """Stack outputs, then flags over them; the subscription defaults to ``AZURE_SUBSCRIPTION_ID``."""
    values: dict[str, str] = {}
    if stack_outputs is not None:
        outputs = read_stack_outputs(stack_outputs)
        values.update({name: outputs[key] for name, key in STACK_OUTPUTS.items() if outputs.get(key)})
    if environ.get("AZURE_SUBSCRIPTION_ID"):
        values["subscription_id"] = environ["AZURE_SUBSCRIPTION_ID"]
    known = {field.name for field in fields(WorkspaceTarget)}
    values.update({name: value for name, value in overrides.items() if value and name in known})
    return WorkspaceTarget(**values)


def job_environment(
    target: WorkspaceTarget, token_secret: str = DEFAULT_TOKEN_SECRET, environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """The variables every step job gets: gitops settings, the identity to act as, where the token is."""
    variables = {name: environ[name] for name in GITOPS_VARIABLES if environ.get(name)}
    if target.training_client_id:
        variables["AZURE_CLIENT_ID"] = target.training_client_id  # DefaultAzureCredential picks this identity
    if variables.get("GITOPS_PROVIDER", "local") in TOKEN_VARIABLES:
        if target.key_vault_url:
            variables[KEY_VAULT_URL_VARIABLE] = target.key_vault_url
        variables[SECRET_NAME_VARIABLE] = token_secret
    return variables


def require_remote_gitops(variables: Mapping[str, str]) -> None:
    """A job on the cluster can only propose pins to a real remote: refuse the local default there."""
    provider = variables.get("GITOPS_PROVIDER", "local")
    if provider not in TOKEN_VARIABLES:
        raise ConfigError.of(
            "GITOPS_PROVIDER", f"{provider!r}: a job in Azure ML cannot read or bump pins in a local remote",
            f"{' or '.join(TOKEN_VARIABLES)}, with its GITOPS_*/GITHUB_*/AZURE_DEVOPS_* settings",
        )  # fmt: skip
    if KEY_VAULT_URL_VARIABLE not in variables:
        raise ConfigError.of(
            "--key-vault-url", "not given, and the jobs read the gitops token from the key vault",
            f"the vault's URL, or the stack output {STACK_OUTPUTS['key_vault_url']} (--stack-outputs)",
        )  # fmt: skip
