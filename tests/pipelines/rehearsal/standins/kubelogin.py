"""Stand-in for kubelogin (installed by KubeloginInstaller@0).

From its docs (Azure/kubelogin, docs/book/src/cli/get-token.md, convert-kubeconfig.md): the login method is
``--login``/``-l`` (default ``devicecode``) and may be given by ``AAD_LOGIN_METHOD``, which the environment
override applies over the flag. ``devicecode`` and ``interactive`` wait for a person at a browser: on a
hosted agent the job would hang until its timeout, so the stand-in refuses them. Each non-interactive method
needs what the real one reads: ``azurecli`` an ``az`` session, ``workloadidentity`` a federated token file,
``spn`` a secret or certificate, ``azurepipelines`` the service connection variables AzureCLI@2 sets.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from common import RefusedError, dump_yaml, load_yaml, option, organization, require_azure_login, run
from kube import kubeconfig_path

METHODS = ("devicecode", "interactive", "spn", "ropc", "msi", "azurecli", "azd", "workloadidentity",
           "azurepipelines", "chained")  # fmt: skip
INTERACTIVE = ("devicecode", "interactive")


def main(argv: list[str], details: dict) -> int:
    command = argv[0] if argv else ""
    method = os.environ.get("AAD_LOGIN_METHOD") or option(argv, "--login", "-l") or "devicecode"
    if method not in METHODS:
        raise RefusedError(f"unsupported login method {method!r} (one of {', '.join(METHODS)})")
    details["login"] = method
    if command == "convert-kubeconfig":
        return _convert(argv, method)
    if command == "get-token":
        principal = _sign_in(method)
        details["identity"] = principal
        print(json.dumps({"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1",
                          "status": {"token": f"aks-token:{principal}"}}))  # fmt: skip
        return 0
    raise RefusedError(f"the rehearsal's kubelogin does not model `kubelogin {command}`")


def _convert(argv: list[str], method: str) -> int:
    path = Path(option(argv, "--kubeconfig") or kubeconfig_path([]))
    if not path.is_file():
        raise RefusedError(f"no kubeconfig at {path}")
    config = load_yaml(path.read_text())
    for user in config.get("users", []):
        plugin = user.get("user", {}).get("exec")
        if plugin and plugin.get("command") == "kubelogin":
            server = option(plugin["args"], "--server-id")
            args = [
                "get-token",
                "--environment",
                "AzurePublicCloud",
                "--server-id",
                server,
                "--login",
                method,
            ]
            if method not in ("azurecli", "azd", "msi", "workloadidentity", "azurepipelines"):
                args += [
                    "--client-id",
                    option(plugin["args"], "--client-id"),
                    "--tenant-id",
                    option(plugin["args"], "--tenant-id"),
                ]
            plugin["args"] = args
    path.write_text(dump_yaml(config))
    return 0


def _sign_in(method: str) -> str:
    if method in INTERACTIVE:
        raise RefusedError(
            f"login method {method} waits for a person to sign in at a browser: on a hosted agent the job hangs "
            "until it times out (convert the kubeconfig with -l azurecli inside AzureCLI@2, or set AAD_LOGIN_METHOD)"
        )
    if method == "azurecli":
        session = require_azure_login("kubelogin --login azurecli")
        return session["client_id"]
    if method == "workloadidentity":
        token_file = os.environ.get("AZURE_FEDERATED_TOKEN_FILE", "")
        if not (token_file and Path(token_file).is_file() and os.environ.get("AZURE_CLIENT_ID")):
            raise RefusedError("workloadidentity login needs AZURE_CLIENT_ID, AZURE_TENANT_ID and a token in "
                          "AZURE_FEDERATED_TOKEN_FILE (a pod's projected token; an Azure Pipelines agent has none)")  # fmt: skip
        return os.environ["AZURE_CLIENT_ID"]
    if method == "azurepipelines":
        connection = os.environ.get("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", "")
        if not (connection and os.environ.get("SYSTEM_ACCESSTOKEN")):
            raise RefusedError(
                "azurepipelines login needs AZURESUBSCRIPTION_SERVICE_CONNECTION_ID and SYSTEM_ACCESSTOKEN"
            )
        return organization()["service_connections"][connection]["client_id"]
    raise RefusedError(f"login method {method} has no credentials on a hosted agent in the rehearsal")


if __name__ == "__main__":
    run("kubelogin", main)
