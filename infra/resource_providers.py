"""The Azure resource providers a fresh subscription must have registered before the first `pulumi up`.

ARM refuses to create a resource whose provider namespace is not registered in the subscription
(``MissingSubscriptionRegistration``), and the azure-native provider does not register them. Registering
needs subscription-level rights that a pipeline's service connection usually lacks, so it is a documented
one-time step (README "Going to Azure"): ``python -m infra providers`` lists them and ``--check`` asks the Azure
CLI which are missing. ``tests/infra/test_resource_providers.py`` fails when the program declares a resource
of a namespace this list lacks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class ResourceProvider:
    namespace: str
    why: str


REQUIRED_PROVIDERS: tuple[ResourceProvider, ...] = (
    ResourceProvider("Microsoft.Authorization", "role assignments and custom role definitions"),
    ResourceProvider("Microsoft.ContainerInstance", "the engine's container group (dev, qa)"),
    ResourceProvider("Microsoft.ContainerRegistry", "the engine image registry"),
    ResourceProvider("Microsoft.ContainerService", "the AKS cluster and its node pools (prod)"),
    ResourceProvider(
        "Microsoft.Insights", "Application Insights, diagnostic settings, data collection rules"
    ),
    ResourceProvider("Microsoft.KeyVault", "the key vault"),
    ResourceProvider("Microsoft.MachineLearningServices", "the Azure ML workspace and its compute cluster"),
    ResourceProvider("Microsoft.ManagedIdentity", "user-assigned identities and federated credentials"),
    ResourceProvider("Microsoft.OperationalInsights", "the Log Analytics workspace"),
    ResourceProvider("Microsoft.Resources", "the resource group"),
    ResourceProvider("Microsoft.Storage", "the workspace storage account"),
    # Created on the stacks' behalf by the services above.
    ResourceProvider("Microsoft.Compute", "AKS node scale sets and Azure ML compute nodes"),
    ResourceProvider("Microsoft.Network", "AKS load balancer and public IPs, ACI public IP"),
    ResourceProvider("Microsoft.OperationsManagement", "AKS monitoring add-on (Container Insights)"),
)

# azure-native module -> ARM namespace, for the resource types the program declares.
MODULE_NAMESPACES = {
    "applicationinsights": "Microsoft.Insights",
    "authorization": "Microsoft.Authorization",
    "containerinstance": "Microsoft.ContainerInstance",
    "containerregistry": "Microsoft.ContainerRegistry",
    "containerservice": "Microsoft.ContainerService",
    "keyvault": "Microsoft.KeyVault",
    "machinelearningservices": "Microsoft.MachineLearningServices",
    "managedidentity": "Microsoft.ManagedIdentity",
    "monitor": "Microsoft.Insights",
    "operationalinsights": "Microsoft.OperationalInsights",
    "resources": "Microsoft.Resources",
    "storage": "Microsoft.Storage",
}


def namespace_of(type_token: str) -> str | None:
    """The ARM namespace of an azure-native type token, or None for other providers (Kubernetes, time)."""
    package, _, rest = type_token.partition(":")
    if package != "azure-native":
        return None
    module = rest.partition(":")[0]
    if module not in MODULE_NAMESPACES:
        raise LookupError(f"{type_token}: add its ARM namespace to infra/resource_providers.py")
    return MODULE_NAMESPACES[module]


def unregistered() -> list[str]:
    """Namespaces of REQUIRED_PROVIDERS not ``Registered`` in the Azure CLI's current subscription."""
    az = shutil.which("az")
    if az is None:
        raise RuntimeError("the Azure CLI (az) is not on PATH; sign in with `az login` first")
    missing = []
    for provider in REQUIRED_PROVIDERS:
        result = subprocess.run(
            [az, "provider", "show", "--namespace", provider.namespace, "--output", "json"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"az provider show --namespace {provider.namespace}: {result.stderr.strip()}")
        if json.loads(result.stdout).get("registrationState") != "Registered":
            missing.append(provider.namespace)
    return missing
