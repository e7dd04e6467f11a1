"""Stand-in for the Azure CLI (`az`), as a hosted agent has it.

It keeps a session per config dir (``AZURE_CONFIG_DIR``, else ``~/.azure``), like the real CLI: ``az login``
with a service connection's federated token (what AzureCLI@2 runs) opens it, ``az account clear`` closes it,
and every command that reaches Azure refuses without one. The tokens it accepts are the ones the harness
issued for its service connections. Commands it does not model are refused by name, never answered.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from common import (
    RefusedError,
    azure_config_dir,
    azure_login,
    dump_yaml,
    option,
    organization,
    positional,
    read_json,
    require_azure_login,
    run,
    scenario,
    write_json,
)

VERSION = "azure-cli                         2.67.0"
AKS_SERVER_APP = (
    "6dae42f8-4368-4678-94ff-3960e28e3630"  # the AKS AAD server application (same in every tenant)
)
AZURE_CLI_APP = "80faf920-1908-4b52-b5ef-a8e7bedfc67a"


def main(argv: list[str], details: dict) -> int:
    session = azure_login()
    if session:
        details["identity"] = session["connection"]
    words = positional(
        argv,
        (
            "--name",
            "-n",
            "--resource-group",
            "-g",
            "--subscription",
            "-s",
            "--output",
            "-o",
            "--query",
            "--file",
            "-f",
            "--registry",
            "-r",
            "--source",
            "--image",
            "-t",
            "--tenant",
            "-u",
            "--username",
            "--federated-token",
            "--resource",
            "--scope",
            "--password",
            "-p",
        ),
    )[:3]
    if argv and argv[0] in ("--version", "version"):
        print(VERSION)
        return 0
    handlers = {
        ("cloud", "set"): lambda: 0,
        ("login",): lambda: _login(argv, details),
        ("logout",): _clear,
        ("account", "clear"): _clear,
        ("account", "set"): lambda: _account_set(argv),
        ("account", "show"): _account_show,
        ("account", "get-access-token"): _access_token,
        ("aks", "get-credentials"): lambda: _aks_credentials(argv),
        ("acr", "login"): lambda: _acr_login(argv),
        ("acr", "import"): lambda: _acr_import(argv),
        ("acr", "manifest", "show"): lambda: _manifest_show(argv),
        ("acr", "repository", "show"): lambda: _repository_show(argv),
    }
    for key, handler in handlers.items():
        if tuple(words[: len(key)]) == key:
            return handler()
    raise RefusedError(
        f"the rehearsal's az does not model `az {' '.join(words)}`: model it before a pipeline uses it"
    )


def _login(argv: list[str], details: dict) -> int:
    if "--service-principal" not in argv:
        raise RefusedError(
            "interactive `az login` cannot complete on a hosted agent: log in with a service connection"
        )
    token, client = option(argv, "--federated-token"), option(argv, "-u", "--username")
    issued = read_json("oidc-tokens.json", {})
    if token not in issued:
        raise RefusedError(
            "AADSTS700024: Client assertion is not within its valid time range (unknown federated token)"
        )
    connection = organization()["service_connections"][issued[token]]
    if client != connection["client_id"] or option(argv, "--tenant", "-t") != connection["tenant_id"]:
        raise RefusedError(
            "AADSTS700213: No matching federated identity record found for presented assertion"
        )
    directory = azure_config_dir()
    directory.mkdir(parents=True, exist_ok=True)
    session = {"connection": connection["name"], "client_id": client, "subscription": None}
    (directory / "rehearsal-session.json").write_text(json.dumps(session))
    details["identity"] = connection["name"]
    return 0


def _clear() -> int:
    path = azure_config_dir() / "rehearsal-session.json"
    if path.exists():
        path.unlink()
    return 0


def _connection(session: dict) -> dict:
    return organization()["service_connections"][session["connection"]]


def _account_set(argv: list[str]) -> int:
    session = require_azure_login("az account set")
    subscription = option(argv, "--subscription", "-s")
    if subscription != _connection(session)["subscription_id"]:
        raise RefusedError(f"The subscription of '{subscription}' doesn't exist in cloud 'AzureCloud'.")
    session["subscription"] = subscription
    (azure_config_dir() / "rehearsal-session.json").write_text(json.dumps(session))
    return 0


def _account_show() -> int:
    session = require_azure_login("az account show")
    connection = _connection(session)
    print(json.dumps({"id": connection["subscription_id"], "tenantId": connection["tenant_id"],
                      "user": {"name": connection["client_id"], "type": "servicePrincipal"}}))  # fmt: skip
    return 0


def _access_token() -> int:
    session = require_azure_login("az account get-access-token")
    connection = _connection(session)
    print(json.dumps({"accessToken": "rehearsal-access-token", "expiresOn": "2099-01-01 00:00:00.000000",
                      "subscription": connection["subscription_id"], "tenant": connection["tenant_id"],
                      "tokenType": "Bearer"}))  # fmt: skip
    return 0


def _clusters() -> dict[tuple[str, str], str]:
    """(resource group, cluster name) -> stack, for every stack whose outputs name a cluster."""
    stacks = read_json("stack-outputs.json", {})
    return {
        (outputs.get("resourceGroupName"), outputs.get("clusterName")): stack
        for stack, outputs in stacks.items()
        if outputs.get("clusterName")
    }


def _aks_credentials(argv: list[str]) -> int:
    session = require_azure_login("az aks get-credentials")
    group, name = option(argv, "--resource-group", "-g"), option(argv, "--name", "-n")
    if not group or not name:
        raise RefusedError("the following arguments are required: --resource-group/-g, --name/-n")
    if (group, name) not in _clusters():
        raise RefusedError(f"(ResourceNotFound) The Resource 'Microsoft.ContainerService/managedClusters/{name}' "
                      f"under resource group '{group}' was not found.")  # fmt: skip
    if "--admin" in argv:
        raise RefusedError(
            "(BadRequest) Getting static credential is not allowed because this cluster is set to disable local accounts."
        )
    path = Path(
        option(argv, "--file", "-f")
        or (os.environ.get("KUBECONFIG") or "").split(":")[0]
        or Path.home() / ".kube/config"
    )
    user = f"clusterUser_{group}_{name}"
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": f"https://{name}-dns.hcp.westeurope.azmk8s.io:443"}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
        "current-context": name,
        "users": [{"name": user, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "kubelogin",
            "args": ["get-token", "--environment", "AzurePublicCloud", "--server-id", AKS_SERVER_APP,
                     "--client-id", AZURE_CLI_APP, "--tenant-id", _connection(session)["tenant_id"],
                     "--login", "devicecode"],
            "interactiveMode": "IfAvailable",
        }}}],
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_yaml(kubeconfig))
    print(f'Merged "{name}" as current context in {path}')
    return 0


def _docker_config() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"


def _acr_login(argv: list[str]) -> int:
    require_azure_login("az acr login")
    name = option(argv, "--name", "-n")
    if not name or "." in name:
        raise RefusedError(f"--name must be the registry name (not a login server): {name!r}")
    path = _docker_config()
    config = json.loads(path.read_text()) if path.is_file() else {}
    config.setdefault("auths", {})[f"{name}.azurecr.io"] = {"identitytoken": "rehearsal"}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    print("Login Succeeded")
    return 0


def _manifests() -> dict[str, list[str]]:
    """repository (host/name) -> digests held, from the scenario and what was imported or pushed."""
    held = {repo: list(digests) for repo, digests in scenario().get("acr", {}).items()}
    for repo, digests in read_json("acr.json", {}).items():
        held.setdefault(repo, []).extend(digests)
    return held


def _acr_import(argv: list[str]) -> int:
    require_azure_login("az acr import")
    target, source = option(argv, "--name", "-n"), option(argv, "--source")
    if not target or not source or "@" not in source:
        raise RefusedError(
            "az acr import needs --name <registry> and --source <registry>/<repository>@<digest>"
        )
    repository, digest = source.split("@", 1)
    if digest not in _manifests().get(repository, []):
        raise RefusedError(
            f"(InvalidParameters) Operation registries-import failed: manifest {source} not found"
        )
    image = option(argv, "--image", "-t") or repository.split("/", 1)[1]
    imported = read_json("acr.json", {})
    imported.setdefault(f"{target}.azurecr.io/{image.split('@')[0].split(':')[0]}", []).append(digest)
    write_json("acr.json", imported)
    return 0


def _manifest_show(argv: list[str]) -> int:
    require_azure_login("az acr manifest show")
    registry, name = option(argv, "--registry", "-r"), option(argv, "--name", "-n")
    if not registry or not name or "@" not in name:
        raise RefusedError("az acr manifest show needs --registry <name> --name <repository>@<digest>")
    repository, digest = name.split("@", 1)
    host = registry if "." in registry else f"{registry}.azurecr.io"
    if digest not in _manifests().get(f"{host}/{repository}", []):
        raise RefusedError(f"manifest unknown: {host}/{repository}@{digest}", code=1)
    print(json.dumps({"digest": digest, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "schemaVersion": 2, "config": {"digest": "sha256:" + hashlib.sha256(digest.encode()).hexdigest()}}))  # fmt: skip
    return 0


def _repository_show(argv: list[str]) -> int:
    """``az acr repository show --name <registry> --image <repository>@<digest>``: exit 1 when absent."""
    require_azure_login("az acr repository show")
    registry, image = option(argv, "--name", "-n"), option(argv, "--image")
    if not registry or not image or "@" not in image:
        raise RefusedError("az acr repository show needs --name <registry> --image <repository>@<digest>")
    repository, digest = image.split("@", 1)
    if digest not in _manifests().get(f"{registry}.azurecr.io/{repository}", []):
        raise RefusedError(f"(ManifestUnknown) manifest {repository}@{digest} is not found", code=1)
    return 0


if __name__ == "__main__":
    run("az", main)
    sys.exit(0)
