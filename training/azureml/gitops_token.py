"""The gitops token inside an Azure ML job, read from the workspace's key vault at run time.

Why at run time: a job's environment variables are visible to anyone who can read the job in the studio,
so the token must not be one. The job gets only where the secret is (``GITOPS_TOKEN_KEY_VAULT_URL``,
``GITOPS_TOKEN_SECRET_NAME``, both harmless) and reads it with the compute cluster's managed identity
(``AZURE_CLIENT_ID`` names the training identity, which needs the "Key Vault Secrets User" role on the
vault). The value is put in the variable the provider reads (``GITHUB_TOKEN`` or ``AZURE_DEVOPS_EXT_PAT``)
for this process only. Outside Azure ML, a token already in the environment is used as it is.
"""

from __future__ import annotations

import os
from collections.abc import Callable, MutableMapping

from model_contract.config_error import ConfigError

KEY_VAULT_URL_VARIABLE = "GITOPS_TOKEN_KEY_VAULT_URL"
SECRET_NAME_VARIABLE = "GITOPS_TOKEN_SECRET_NAME"
# The variable each provider reads its token from (delivery/services.py).
TOKEN_VARIABLES = {"github": ("GITHUB_TOKEN",), "azure-repos": ("AZURE_DEVOPS_EXT_PAT", "SYSTEM_ACCESSTOKEN")}

SecretReader = Callable[[str, str], str]


def ensure_gitops_token(
    environ: MutableMapping[str, str] = os.environ, read_secret: SecretReader | None = None
) -> str | None:
    """Make the provider's token variable available; returns the variable set from the vault, if any."""
    provider = environ.get("GITOPS_PROVIDER", "local")
    variables = TOKEN_VARIABLES.get(provider)
    if variables is None or any(environ.get(name) for name in variables):
        return None  # the local provider needs no token; an explicit token wins
    vault_url, secret_name = environ.get(KEY_VAULT_URL_VARIABLE), environ.get(SECRET_NAME_VARIABLE)
    if not vault_url or not secret_name:
        raise ConfigError.of(
            variables[0], f"not set, and GITOPS_PROVIDER={provider} needs a token",
            f"the token, or {KEY_VAULT_URL_VARIABLE} and {SECRET_NAME_VARIABLE} to read it from the key vault",
        )  # fmt: skip
    environ[variables[0]] = (read_secret or read_key_vault_secret)(vault_url, secret_name)
    return variables[0]


def read_key_vault_secret(vault_url: str, name: str) -> str:
    """One secret's value, read with the ambient Azure identity (the job's managed identity)."""
    from azure.identity import DefaultAzureCredential
    from azure.keyvault.secrets import SecretClient

    value = SecretClient(vault_url=vault_url, credential=DefaultAzureCredential()).get_secret(name).value
    if not value:
        raise ConfigError.of(
            SECRET_NAME_VARIABLE,
            f"secret {name!r} of key vault {vault_url} is empty",
            "a secret holding the token",
        )
    return value
