"""Reading a secret from the stack's key vault while `pulumi up` runs: the Argo CD repository token.

Why Pulumi reads it (rather than the AKS Key Vault secrets provider or External Secrets): Argo CD needs its
repository credentials as a labelled Secret in the argocd namespace. The CSI secrets provider only syncs a
Kubernetes Secret while a pod mounts the volume, and a missing vault secret would keep Argo CD's repo
server from starting (failing the Helm release); External Secrets adds an operator with cluster-wide secret
write and another identity that can read the vault from inside the cluster. Read at `up`, the token exists in
three places only: the vault, Pulumi's state (encrypted, marked secret) and the Secret Argo CD must have
anyway. Rotating it is `az keyvault secret set` then `pulumi up --stack prod`.

The value is read through the Key Vault data plane with the credentials of whoever runs `pulumi up` (the
Azure CLI login, or the pipeline's), which the stack grants Key Vault Secrets User on the vault. The offline
plan injects a reader that returns a stand-in.
"""

from __future__ import annotations

from collections.abc import Callable

SecretReader = Callable[[str, str], str]


class KeyVaultSecretError(RuntimeError):
    """The secret cannot be read; the message names the vault, the secret and what to do."""


def read_key_vault_secret(vault_uri: str, name: str) -> str:
    """The current value of secret ``name`` in the vault at ``vault_uri`` (data plane, caller's identity)."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
    from azure.identity import DefaultAzureCredential
    from azure.keyvault.secrets import SecretClient

    vault_name = vault_uri.split("//", 1)[-1].split(".", 1)[0]
    credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
    try:
        value = SecretClient(vault_url=vault_uri, credential=credential).get_secret(name).value
    except ResourceNotFoundError:
        raise KeyVaultSecretError(
            f"secret {name!r} is not in key vault {vault_uri}: store the repository token first, as one of the "
            f"keyVaultSecretsOfficers: `az keyvault secret set --vault-name {vault_name} --name {name} "
            "--value <PAT>`, then run `pulumi up` again"
        ) from None
    except (ClientAuthenticationError, HttpResponseError) as error:
        raise KeyVaultSecretError(
            f"cannot read secret {name!r} from key vault {vault_uri} ({error.__class__.__name__}): the principal "
            "running `pulumi up` needs Key Vault Secrets User on the vault (this stack grants it; a new grant "
            "can take a few minutes to apply) and an Azure login (az login)"
        ) from error
    if not value:
        raise KeyVaultSecretError(f"secret {name!r} in key vault {vault_uri} is empty")
    return value
