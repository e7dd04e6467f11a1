"""What kubectl and the argocd CLI share: finding the kubeconfig, signing in through its exec plugin, and
Azure RBAC for Kubernetes (the grants the organization fixture gives each principal).

The AKS user kubeconfig signs in with ``kubelogin get-token`` (an exec credential plugin). kubectl runs the
plugin; the kubelogin stand-in decides whether that login can work on a hosted agent and prints a token
naming the principal, from which the API server's authorization (here: the grants) follows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from common import RefusedError, load_yaml, option, organization

RESOURCES = {
    "applications.argoproj.io": ("applications", "argoproj.io"),
    "application": ("applications", "argoproj.io"),
    "applications": ("applications", "argoproj.io"),
    "app": ("applications", "argoproj.io"),
    "appprojects.argoproj.io": ("appprojects", "argoproj.io"),
    "configmaps": ("configmaps", ""),
    "configmap": ("configmaps", ""),
    "cm": ("configmaps", ""),
    "secrets": ("secrets", ""),
    "secret": ("secrets", ""),
    "pods": ("pods", ""),
    "jobs": ("jobs", "batch"),
}


def kubeconfig_path(argv: list[str]) -> Path:
    given = option(argv, "--kubeconfig") or (os.environ.get("KUBECONFIG") or "").split(":")[0]
    return Path(given) if given else Path.home() / ".kube" / "config"


def load_kubeconfig(argv: list[str]) -> tuple[Path, dict]:
    path = kubeconfig_path(argv)
    if not path.is_file():
        raise RefusedError(
            "The connection to the server localhost:8080 was refused - did you specify the right host or port? "
            f"(no kubeconfig at {path}: run `az aks get-credentials` first)"
        )
    return path, load_yaml(path.read_text())


def current_user(config: dict) -> dict:
    context = next(c["context"] for c in config["contexts"] if c["name"] == config.get("current-context"))
    return next(u["user"] for u in config["users"] if u["name"] == context["user"])


def sign_in(config: dict) -> str:
    """The principal (client id) the kubeconfig's user signs in as, by running its exec plugin."""
    user = current_user(config)
    plugin = user.get("exec")
    if not plugin:
        raise RefusedError(
            "the kubeconfig's user has no exec plugin: AKS with Entra ID signs in through kubelogin"
        )
    command = shutil.which(plugin["command"])
    if command is None:
        raise RefusedError(
            f"exec: executable {plugin['command']} not found (install it: KubeloginInstaller@0)"
        )
    environment = dict(os.environ)
    environment.update({item["name"]: item["value"] for item in plugin.get("env") or []})
    result = subprocess.run(
        [command, *plugin.get("args", [])],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise RefusedError(
            f"getting credentials: exec: executable kubelogin failed with exit code 1: {result.stderr.strip()}"
        )
    token = json.loads(result.stdout)["status"]["token"]
    return token.removeprefix("aks-token:")


def authorize(principal: str, verb: str, resource: str, namespace: str, name: str | None) -> None:
    plural, group = RESOURCES.get(resource.lower(), (resource, ""))
    full = f"{plural}.{group}" if group else plural
    for grant in organization().get("kubernetes_grants", {}).get(principal, []):
        if verb in grant["verbs"] and grant["resource"] == full and grant["namespace"] == namespace:
            return
    what = f'{full} "{name}"' if name else full
    raise RefusedError(
        f'Error from server (Forbidden): {what} is forbidden: User "{principal}" cannot {verb} resource '
        f'"{plural}" in API group "{group}" in the namespace "{namespace}"'
    )


def namespace(argv: list[str], config: dict) -> str:
    given = option(argv, "--namespace", "-n")
    if given:
        return given
    context = next(c["context"] for c in config["contexts"] if c["name"] == config.get("current-context"))
    return context.get("namespace", "default")
