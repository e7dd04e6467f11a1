"""What Azure Resource Manager would answer, for the offline plan.

The mocks answer every resource with its inputs plus the outputs the real provider computes, under the
provider's real output names (``oidcIssuerProfile.issuerURL``, ``identityProfile.kubeletidentity.objectId``,
``principalId``, ``mlFlowTrackingUri``, ``ipAddress.fqdn``, ...). A misspelt name here would not fail a
test: the wiring that reads it would just silently resolve to nothing, so these names are copied from the
SDK's output properties and tests assert the wiring end to end.

Every value is derived from the resource's own name, so plans are byte-for-byte reproducible.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

import pulumi

SUBSCRIPTION_ID = "00000000-0000-0000-0000-00000000c0de"
TENANT_ID = "00000000-0000-0000-0000-0000000007e4"
DEPLOYER_OBJECT_ID = "00000000-0000-0000-0000-0000000de910"
_NAMESPACE = uuid.UUID("5b1e3c4e-1f7a-4f43-9d0b-7a1c7f5b2a10")

# ARM resource types of the azure-native tokens the program uses: (provider namespace/type, parent input).
_ARM_TYPES: dict[str, tuple[str, str | None]] = {
    "azure-native:storage:StorageAccount": ("Microsoft.Storage/storageAccounts", None),
    "azure-native:keyvault:Vault": ("Microsoft.KeyVault/vaults", None),
    "azure-native:containerregistry:Registry": ("Microsoft.ContainerRegistry/registries", None),
    "azure-native:operationalinsights:Workspace": ("Microsoft.OperationalInsights/workspaces", None),
    "azure-native:applicationinsights:Component": ("Microsoft.Insights/components", None),
    "azure-native:machinelearningservices:Workspace": ("Microsoft.MachineLearningServices/workspaces", None),
    "azure-native:machinelearningservices:Compute": (
        "Microsoft.MachineLearningServices/workspaces/{workspaceName}/computes",
        "workspaceName",
    ),
    "azure-native:managedidentity:UserAssignedIdentity": (
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        None,
    ),
    "azure-native:managedidentity:FederatedIdentityCredential": (
        "Microsoft.ManagedIdentity/userAssignedIdentities/{resourceName}/federatedIdentityCredentials",
        "resourceName",
    ),
    "azure-native:containerinstance:ContainerGroup": ("Microsoft.ContainerInstance/containerGroups", None),
    "azure-native:containerservice:ManagedCluster": ("Microsoft.ContainerService/managedClusters", None),
    "azure-native:containerservice:AgentPool": (
        "Microsoft.ContainerService/managedClusters/{resourceName}/agentPools",
        "resourceName",
    ),
    "azure-native:monitor:DataCollectionRule": ("Microsoft.Insights/dataCollectionRules", None),
}

# Inputs that hold the Azure name of a resource (the provider's autonaming is not mocked); the plan's tree
# view shows the first one present, too.
AZURE_NAME_INPUTS = (
    "resourceGroupName",
    "accountName",
    "vaultName",
    "registryName",
    "workspaceName",
    "computeName",
    "containerGroupName",
    "agentPoolName",
    "federatedIdentityCredentialResourceName",
    "dataCollectionRuleName",
    "associationName",
    "roleName",
    "resourceName",
    "name",
)
_NAME_INPUT_BY_TYPE = {
    "azure-native:machinelearningservices:Compute": "computeName",
    "azure-native:managedidentity:FederatedIdentityCredential": "federatedIdentityCredentialResourceName",
    "azure-native:containerservice:AgentPool": "agentPoolName",
    "azure-native:monitor:DiagnosticSetting": "name",
    "azure-native:monitor:DataCollectionRule": "dataCollectionRuleName",
    "azure-native:monitor:DataCollectionRuleAssociation": "associationName",
}
PLAN_SECRET_VALUE = "token-read-from-key-vault-at-up"


def plan_secret_reader(vault_uri: str, name: str) -> str:
    """The offline plan never reads a key vault: a stand-in value (Pulumi keeps it secret either way)."""
    return PLAN_SECRET_VALUE


class UnmockedCallError(LookupError):
    """The program called a provider function the offline plan does not know how to answer."""


def stable_guid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def random_suffix(logical_name: str, length: int) -> str:
    """What ``random.RandomString`` would produce, derived from the resource name instead of entropy."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    digest = hashlib.sha256(logical_name.encode()).digest()
    return "".join(alphabet[byte % len(alphabet)] for byte in digest[:length])


def fake_kubeconfig(cluster: str) -> str:
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {cluster}\n  cluster:\n    server: https://{cluster}.hcp.example.invalid:443\n"
        f"contexts:\n- name: {cluster}\n  context:\n    cluster: {cluster}\n    user: clusterUser\n"
        f"current-context: {cluster}\n"
        "users:\n- name: clusterUser\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
        "      command: kubelogin\n      args: [get-token, --login, azurecli, --server-id, "
        "6dae42f8-4368-4678-94ff-3960e28e3630]\n"
    )


class AzureMocks(pulumi.runtime.Mocks):
    """Deterministic stand-ins for Azure Resource Manager and the other providers the program uses."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        if args.typ == "random:index/randomString:RandomString":
            result = random_suffix(args.name, int(inputs.get("length", 8)))
            return f"{args.name}-id", {**inputs, "result": result}
        if args.typ.startswith(("kubernetes:", "pulumi:providers:", "time:")):
            return f"{args.name}-id", inputs
        name = self._azure_name(args.typ, args.name, inputs)
        resource_id = self._arm_id(args.typ, name, inputs)
        state = {**inputs, "name": name, "id": resource_id, "azureApiVersion": "mock"}
        state.update(_computed_outputs(args.typ, name, resource_id, inputs))
        if isinstance(state.get("identity"), dict):
            state["identity"] = _identity_output(state["identity"], name)
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "azure-native:authorization:getClientConfig":
            return {
                "clientId": stable_guid("deployer-client"),
                "objectId": DEPLOYER_OBJECT_ID,
                "subscriptionId": SUBSCRIPTION_ID,
                "tenantId": TENANT_ID,
            }, []
        if args.token == "azure-native:operationalinsights:getSharedKeys":
            return {
                "primarySharedKey": "mock-primary-shared-key",
                "secondarySharedKey": "mock-secondary-shared-key",
            }, []
        if args.token == "azure-native:containerservice:listManagedClusterUserCredentials":
            cluster = str(args.args.get("resourceName"))
            encoded = base64.b64encode(fake_kubeconfig(cluster).encode()).decode()
            return {"kubeconfigs": [{"name": "clusterUser", "value": encoded}]}, []
        raise UnmockedCallError(
            f"the offline plan has no answer for {args.token}; add it to infra/plan_mocks.py"
        )

    @staticmethod
    def _azure_name(token: str, logical_name: str, inputs: dict[str, Any]) -> str:
        key = _NAME_INPUT_BY_TYPE.get(token)
        if key and isinstance(inputs.get(key), str):
            return inputs[key]
        if token == "azure-native:resources:ResourceGroup":
            return str(inputs.get("resourceGroupName", logical_name))
        if token == "azure-native:authorization:RoleAssignment":
            return stable_guid(str(inputs.get("scope")), str(inputs.get("principalId")), logical_name)
        if token == "azure-native:authorization:RoleDefinition":
            return stable_guid(str(inputs.get("scope")), str(inputs.get("roleName")))
        for candidate in AZURE_NAME_INPUTS[1:]:
            if isinstance(inputs.get(candidate), str):
                return inputs[candidate]
        return logical_name

    @staticmethod
    def _arm_id(token: str, name: str, inputs: dict[str, Any]) -> str:
        subscription = f"/subscriptions/{SUBSCRIPTION_ID}"
        if token == "azure-native:resources:ResourceGroup":
            return f"{subscription}/resourceGroups/{name}"
        if token == "azure-native:authorization:RoleAssignment":
            return f"{inputs.get('scope')}/providers/Microsoft.Authorization/roleAssignments/{name}"
        if token == "azure-native:monitor:DiagnosticSetting":
            return f"{inputs.get('resourceUri')}/providers/Microsoft.Insights/diagnosticSettings/{name}"
        if token == "azure-native:monitor:DataCollectionRuleAssociation":
            return f"{inputs.get('resourceUri')}/providers/Microsoft.Insights/dataCollectionRuleAssociations/{name}"
        if token == "azure-native:authorization:RoleDefinition":
            # Custom roles live in the subscription whatever scope they are assignable to.
            return f"{subscription}/providers/Microsoft.Authorization/roleDefinitions/{name}"
        arm_type, _ = _ARM_TYPES.get(token, (token.replace(":", "/"), None))
        arm_type = arm_type.format(**{key: inputs.get(key, "") for key in ("workspaceName", "resourceName")})
        group = inputs.get("resourceGroupName", "unknown")
        return f"{subscription}/resourceGroups/{group}/providers/{arm_type}/{name}"


def _identity_output(identity: dict[str, Any], name: str) -> dict[str, Any]:
    """ARM answers ``userAssignedIdentities`` as a map of identity id to its ids, not the input's list."""
    result = dict(identity)
    assigned = identity.get("userAssignedIdentities")
    if isinstance(assigned, list):
        result["userAssignedIdentities"] = {
            str(item): {
                "principalId": stable_guid("principal", str(item)),
                "clientId": stable_guid("client", str(item)),
            }
            for item in assigned
        }
    if "SystemAssigned" in str(identity.get("type", "")):
        result["principalId"] = stable_guid("system-principal", name)
        result["tenantId"] = TENANT_ID
    return result


def _computed_outputs(token: str, name: str, resource_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Outputs Azure computes, under the provider's output property names."""
    location = inputs.get("location", "westeurope")
    if token == "azure-native:managedidentity:UserAssignedIdentity":
        return {
            "principalId": stable_guid("principal", name),
            "clientId": stable_guid("client", name),
            "tenantId": TENANT_ID,
        }
    if token == "azure-native:containerservice:ManagedCluster":
        kubelet = f"{name}-agentpool"
        return {
            "fqdn": f"{inputs.get('dnsPrefix', name)}.hcp.{location}.azmk8s.io",
            "oidcIssuerProfile": {
                "enabled": True,
                "issuerURL": f"https://{location}.oic.prod-aks.azure.com/{TENANT_ID}/{stable_guid('oidc', name)}/",
            },
            "identityProfile": {
                "kubeletidentity": {
                    "objectId": stable_guid("kubelet-object", name),
                    "clientId": stable_guid("kubelet-client", name),
                    "resourceId": f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/"
                    f"{inputs.get('nodeResourceGroup')}/providers/Microsoft.ManagedIdentity/"
                    f"userAssignedIdentities/{kubelet}",
                }
            },
        }
    if token == "azure-native:machinelearningservices:Workspace":
        return {
            "mlFlowTrackingUri": f"azureml://{location}.api.azureml.ms/mlflow/v1.0{resource_id}",
            "discoveryUrl": f"https://{location}.api.azureml.ms/discovery",
            "workspaceId": stable_guid("workspace", name),
        }
    if token == "azure-native:containerinstance:ContainerGroup":
        address = dict(inputs.get("ipAddress") or {})
        label = address.get("dnsNameLabel")
        address.update(
            {"ip": "20.0.0.10", "fqdn": f"{label}.{location}.azurecontainer.io" if label else None}
        )
        return {"ipAddress": address, "provisioningState": "Succeeded"}
    if token == "azure-native:containerregistry:Registry":
        return {"loginServer": f"{name.lower()}.azurecr.io"}
    if token == "azure-native:operationalinsights:Workspace":
        return {"customerId": stable_guid("log-analytics", name)}
    if token == "azure-native:storage:StorageAccount":
        return {"primaryEndpoints": {"blob": f"https://{name}.blob.core.windows.net/"}}
    if token == "azure-native:keyvault:Vault":
        properties = dict(inputs.get("properties") or {})
        properties["vaultUri"] = f"https://{name}.vault.azure.net/"
        return {"properties": properties}
    if token == "azure-native:applicationinsights:Component":
        return {
            "connectionString": f"InstrumentationKey={stable_guid('appi', name)}",
            "appId": stable_guid("app", name),
        }
    return {}
