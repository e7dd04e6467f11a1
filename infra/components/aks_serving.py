"""The estimation engine on AKS (prod): the cluster, its access to the registry and the model registry,
and Argo CD, which deploys the engine from ``gitops/apps/estimation-engine/overlays/<env>``.

* Entra ID authentication with Azure RBAC for Kubernetes, no local accounts in prod: nobody holds a
  static cluster-admin certificate. The kubeconfig output is the *user* kubeconfig, which signs in
  through ``kubelogin`` (set ``AAD_LOGIN_METHOD=azurecli`` or ``workloadidentity`` where Pulumi runs).
* OIDC issuer + workload identity: the engine's pods get an Entra token for the engine identity through
  the federated credential below, whose subject is the gitops ServiceAccount.
* The kubelet identity may pull from the registry (AcrPull), so pods need no pull secret.
* A small fixed system pool inline (a cluster needs one at creation) and the engine's autoscaling pool as
  a separate ``AgentPool``: pools listed inline cannot be added or removed later without replacing the
  cluster. ARM lists every pool, the separate one included, in the cluster's ``agentPoolProfiles``, so the
  cluster ignores changes there (else each refresh would want to drop the engine pool); the system pool is
  changed through ``az aks nodepool`` or a new cluster.
* The Kubernetes minor version is pinned (to one the dated table infra/aks_versions.yaml says AKS
  supports); patches arrive through the ``patch`` upgrade channel.
* Container Insights with managed-identity ingestion (``useAADAuth``) plus its data collection rule.
* Grants that something in this same `pulumi up` relies on are waited for (infra.propagation): the
  deployer's cluster-admin before the Helm releases, its key vault read before the repository Secret.
* Argo Rollouts and Prometheus (the canary of prod's engine and the data it is judged on) are installed
  before Argo CD's ApplicationSet is applied, so the first sync finds the Rollout CRD and the analysis
  finds its Prometheus.
* The Azure DevOps pipeline principal may fetch a kubeconfig (Cluster User Role: it carries no credential
  with local accounts off) and read Argo CD Applications in the ``argocd`` namespace, nothing else: a
  custom role with the custom-resources read action, scoped to the namespace, and an ABAC condition naming
  ``argoproj.io``/``applications`` (AKS: "Use Microsoft Entra ID authorization for the Kubernetes API").
"""

from __future__ import annotations

import base64
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_azure_native import containerservice as aks
from pulumi_azure_native import managedidentity

from infra.argocd_manifests import ARGOCD_NAMESPACE, PROJECT_NAME
from infra.components.argo_rollouts import ArgoRollouts
from infra.components.argocd import COMPONENT_TYPE as ARGOCD_TYPE
from infra.components.argocd import ArgoCd, RepositoryCredentials
from infra.components.container_insights import ContainerInsights
from infra.components.prometheus import Prometheus
from infra.key_vault_secrets import SecretReader
from infra.naming import Naming, agent_pool_name
from infra.propagation import wait_for_grants
from infra.roles import (
    ARGOCD_APPLICATION_READER,
    BuiltInRole,
    assign_role,
    custom_resource_condition,
    define_custom_role,
)
from infra.settings import Settings

COMPONENT_TYPE = "property-price-platform:infra:AksServing"
ENGINE_NAMESPACE = "estimation-engine"
ENGINE_SERVICE_ACCOUNT = "estimation-engine"
ENGINE_SERVICE_PORT = 8080
WORKLOAD_IDENTITY_SUBJECT = f"system:serviceaccount:{ENGINE_NAMESPACE}:{ENGINE_SERVICE_ACCOUNT}"
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
SYSTEM_POOL = agent_pool_name("system")
ENGINE_POOL = agent_pool_name("engine")


def scoring_url(settings: Settings) -> str:
    """The Ingress host when one is configured, else the engine Service's address inside the cluster."""
    if settings.aks_ingress_host:
        return f"https://{settings.aks_ingress_host}"
    return f"http://{ENGINE_SERVICE_ACCOUNT}.{ENGINE_NAMESPACE}.svc.cluster.local:{ENGINE_SERVICE_PORT}"


def _decode_kubeconfig(credentials: Any) -> str:
    return base64.b64decode(credentials.kubeconfigs[0].value).decode("utf-8")


class _KeyVault:
    """The stack's key vault, as the AKS component needs it: where the repository token lives."""

    def __init__(self, vault_id: pulumi.Input[str], vault_uri: pulumi.Input[str]) -> None:
        self.id = vault_id
        self.uri = vault_uri


class AksServing(pulumi.ComponentResource):
    """The AKS cluster with its pools, identities' wiring and Argo CD."""

    def __init__(
        self,
        name: str,
        *,
        settings: Settings,
        naming: Naming,
        resource_group_name: pulumi.Input[str],
        resource_group_id: pulumi.Input[str],
        subscription_id: pulumi.Input[str],
        deployer_object_id: pulumi.Input[str],
        registry_id: pulumi.Input[str],
        log_analytics_id: pulumi.Input[str],
        key_vault_id: pulumi.Input[str],
        key_vault_uri: pulumi.Input[str],
        engine_identity: managedidentity.UserAssignedIdentity,
        argocd_objects: list[dict[str, Any]],
        scrape_configs: list[dict[str, Any]],
        secret_reader: SecretReader,
        stack_label: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self._settings = settings
        self._subscription_id = subscription_id
        tags = settings.resource_tags()
        self.cluster = self._cluster(naming, resource_group_name, log_analytics_id, tags)
        self.container_insights = ContainerInsights(
            "container-insights",
            location=settings.location,
            resource_group_name=resource_group_name,
            cluster_name=naming.aks_cluster(),
            cluster_id=self.cluster.id,
            log_analytics_id=log_analytics_id,
            tags=tags,
            # The separate engine pool shows up here once it exists: see the module docstring.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["agentPoolProfiles"]),
        )
        self.engine_pool = aks.AgentPool(
            "aks-engine-pool",
            resource_group_name=resource_group_name,
            resource_name_=self.cluster.name,
            agent_pool_name=ENGINE_POOL,
            mode=aks.AgentPoolMode.USER,
            vm_size=settings.aks_user_vm_size,
            os_type=aks.OSType.LINUX,
            os_sku=aks.OSSKU.AZURE_LINUX,
            type=aks.AgentPoolType.VIRTUAL_MACHINE_SCALE_SETS,
            enable_auto_scaling=True,
            min_count=settings.aks_user_min_nodes,
            max_count=settings.aks_user_max_nodes,
            count=settings.aks_user_min_nodes,
            node_labels={"workload": ENGINE_NAMESPACE},
            upgrade_settings=aks.AgentPoolUpgradeSettingsArgs(max_surge="33%"),
            tags=tags,
            # The autoscaler owns the node count once the pool exists.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["count"]),
        )
        kubelet_object_id = self.cluster.identity_profile.apply(
            lambda profile: profile["kubeletidentity"].object_id
        )
        self.kubelet_registry_pull = assign_role(
            "kubelet-registry-pull",
            BuiltInRole.ACR_PULL,
            principal_id=kubelet_object_id,
            scope=registry_id,
            subscription_id=subscription_id,
            purpose="AKS nodes pulling the engine image",
            parent=self,
        )
        # With local accounts off, whoever runs `pulumi up` reaches the API server through Entra ID only.
        self.deployer_cluster_admin = assign_role(
            "deployer-cluster-admin",
            BuiltInRole.AKS_RBAC_CLUSTER_ADMIN,
            principal_id=deployer_object_id,
            principal_type=settings.deployer_principal_type,
            scope=self.cluster.id,
            subscription_id=subscription_id,
            purpose="the principal running pulumi up installs Argo CD",
            parent=self,
        )
        self.deployer_cluster_admin_ready = wait_for_grants(
            "deployer-cluster-admin-propagation", [self.deployer_cluster_admin], parent=self
        )
        self.pipeline_grants = self._pipeline_grants(resource_group_id, stack_label)
        repository, repository_ready = self._repository_credentials(
            _KeyVault(key_vault_id, key_vault_uri), deployer_object_id, secret_reader
        )
        self.engine_federation = managedidentity.FederatedIdentityCredential(
            "engine-federation",
            resource_group_name=resource_group_name,
            resource_name_=engine_identity.name,
            federated_identity_credential_resource_name=f"aks-{ENGINE_NAMESPACE}",
            issuer=self.cluster.oidc_issuer_profile.apply(lambda profile: profile.issuer_url),
            subject=WORKLOAD_IDENTITY_SUBJECT,
            audiences=[TOKEN_EXCHANGE_AUDIENCE],
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The exec format (kubelogin) is the one that works with Entra ID and local accounts off.
        credentials = aks.list_managed_cluster_user_credentials_output(
            resource_group_name=resource_group_name, resource_name=self.cluster.name, format="exec"
        )
        self.kubeconfig = pulumi.Output.secret(credentials.apply(_decode_kubeconfig))
        self.kubernetes = k8s.Provider(
            "aks-kubernetes",
            kubeconfig=self.kubeconfig,
            # Server-side apply lets Argo CD and Pulumi share fields of the objects they both touch safely.
            enable_server_side_apply=True,
            # Created by the ArgoCd component before the add-ons joined it: keep its identity in the state.
            opts=pulumi.ResourceOptions(
                parent=self,
                aliases=[pulumi.Alias(parent=pulumi.create_urn("argocd", ARGOCD_TYPE, parent=self))],
            ),
        )
        # The Helm releases talk to the API server as the deployer: after the grant has propagated.
        cluster_ready = [self.deployer_cluster_admin_ready]
        self.argo_rollouts = ArgoRollouts(
            "argo-rollouts",
            chart_version=settings.argo_rollouts_chart_version,
            provider=self.kubernetes,
            depends_on=[self.engine_pool, *cluster_ready],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.prometheus = Prometheus(
            "prometheus",
            chart_version=settings.prometheus_chart_version,
            scrape_configs=scrape_configs,
            provider=self.kubernetes,
            depends_on=[self.engine_pool, *cluster_ready],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.argocd = ArgoCd(
            "argocd",
            chart_version=settings.argocd_chart_version,
            provider=self.kubernetes,
            argocd_objects=argocd_objects,
            # Once Argo CD runs it syncs the engine at once: nodes for it, the image pull and the
            # workload identity federation must be in place by then.
            depends_on=[
                self.engine_pool,
                self.kubelet_registry_pull,
                self.engine_federation,
                *cluster_ready,
            ],
            # The ApplicationSet makes Argo CD sync prod's Rollout (its CRDs and controller come with Argo
            # Rollouts) judged by queries to Prometheus: both run before it is applied.
            objects_depend_on=[self.argo_rollouts.release, self.prometheus.release],
            repository=repository,
            repository_depends_on=repository_ready,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.scoring_url = scoring_url(settings)
        self.register_outputs({"clusterName": self.cluster.name, "scoringUrl": self.scoring_url})

    def _pipeline_grants(
        self, resource_group_id: pulumi.Input[str], stack_label: pulumi.Input[str]
    ) -> list[pulumi.Resource]:
        """What the Azure DevOps pipeline reads on the cluster: a kubeconfig and Argo CD's Applications."""
        principal = self._settings.pipeline_principal
        if principal is None:
            return []
        reader = define_custom_role(
            ARGOCD_APPLICATION_READER,
            stack_label=stack_label,
            subscription_id=self._subscription_id,
            assignable_scopes=[resource_group_id],
            parent=self,
        )
        defined = wait_for_grants("argocd-reader-role-propagation", [reader], parent=self)
        common = {
            "principal_id": principal.object_id,
            "principal_type": principal.principal_type,
            "subscription_id": self._subscription_id,
            "parent": self,
        }
        return [
            assign_role(
                "pipeline-cluster-user",
                BuiltInRole.AKS_CLUSTER_USER,
                scope=self.cluster.id,
                purpose="the pipeline fetches a kubeconfig (az aks get-credentials; no credential in it)",
                **common,
            ),
            assign_role(
                "pipeline-argocd-applications",
                reader,
                scope=self.cluster.id.apply(lambda cluster: f"{cluster}/namespaces/{ARGOCD_NAMESPACE}"),
                purpose="the pipeline reads Argo CD Applications (sync revision and health), nothing else",
                condition=custom_resource_condition("argoproj.io", "applications"),
                after=[defined],
                **common,
            ),
        ]

    def _repository_credentials(
        self, vault: _KeyVault, deployer_object_id: pulumi.Input[str], secret_reader: SecretReader
    ) -> tuple[RepositoryCredentials | None, list[pulumi.Resource]]:
        """Argo CD's credentials for a private repository, read from the key vault by the deployer."""
        settings = self._settings
        if not settings.argocd_repository_secret:
            return None, []
        read_access = assign_role(
            "deployer-key-vault-read",
            BuiltInRole.KEY_VAULT_SECRETS_USER,
            principal_id=deployer_object_id,
            principal_type=settings.deployer_principal_type,
            scope=vault.id,
            subscription_id=self._subscription_id,
            purpose="the principal running pulumi up reads the Argo CD repository token",
            parent=self,
        )
        ready = wait_for_grants("deployer-key-vault-read-propagation", [read_access], parent=self)
        secret_name = settings.argocd_repository_secret
        # Read only once the grant has had time to apply (the sleep's id resolves after it ran).
        token = pulumi.Output.secret(
            pulumi.Output.all(vault.uri, ready.id).apply(lambda values: secret_reader(values[0], secret_name))
        )
        credentials = RepositoryCredentials(
            url=settings.repository_url,
            username=settings.argocd_repository_username,
            token=token,
            project=PROJECT_NAME,
        )
        return credentials, [ready]

    def _cluster(
        self,
        naming: Naming,
        resource_group_name: pulumi.Input[str],
        log_analytics_id: pulumi.Input[str],
        tags: dict[str, str],
    ) -> aks.ManagedCluster:
        settings = self._settings
        addons = {
            "omsagent": aks.ManagedClusterAddonProfileArgs(
                enabled=True,
                config={"logAnalyticsWorkspaceResourceID": log_analytics_id, "useAADAuth": "true"},
            )
        }
        return aks.ManagedCluster(
            "aks-cluster",
            resource_group_name=resource_group_name,
            resource_name_=naming.aks_cluster(),
            location=settings.location,
            dns_prefix=naming.aks_dns_prefix(),
            node_resource_group=naming.node_resource_group(),
            kubernetes_version=settings.aks_kubernetes_version,
            sku=aks.ManagedClusterSKUArgs(name=aks.ManagedClusterSKUName.BASE, tier=settings.aks_tier),
            identity=aks.ManagedClusterIdentityArgs(type=aks.ResourceIdentityType.SYSTEM_ASSIGNED),
            enable_rbac=True,
            disable_local_accounts=settings.is_production,
            aad_profile=aks.ManagedClusterAADProfileArgs(
                managed=True,
                enable_azure_rbac=True,
                admin_group_object_ids=list(settings.aks_admin_group_object_ids) or None,
            ),
            oidc_issuer_profile=aks.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
            security_profile=aks.ManagedClusterSecurityProfileArgs(
                workload_identity=aks.ManagedClusterSecurityProfileWorkloadIdentityArgs(enabled=True),
            ),
            auto_upgrade_profile=aks.ManagedClusterAutoUpgradeProfileArgs(
                upgrade_channel=aks.UpgradeChannel.PATCH,
                node_os_upgrade_channel=aks.NodeOSUpgradeChannel.NODE_IMAGE,
            ),
            # The gitops NetworkPolicy needs an enforcing dataplane: Azure CNI overlay with Cilium.
            network_profile=aks.ContainerServiceNetworkProfileArgs(
                network_plugin=aks.NetworkPlugin.AZURE,
                network_plugin_mode=aks.NetworkPluginMode.OVERLAY,
                network_dataplane="cilium",
                network_policy="cilium",
                load_balancer_sku="standard",
            ),
            addon_profiles=addons,
            ingress_profile=aks.ManagedClusterIngressProfileArgs(
                web_app_routing=aks.ManagedClusterIngressProfileWebAppRoutingArgs(enabled=True)
            )
            if settings.aks_ingress_host
            else None,
            agent_pool_profiles=[
                aks.ManagedClusterAgentPoolProfileArgs(
                    name=SYSTEM_POOL,
                    mode=aks.AgentPoolMode.SYSTEM,
                    count=settings.aks_system_node_count,
                    vm_size=settings.aks_system_vm_size,
                    os_type=aks.OSType.LINUX,
                    os_sku=aks.OSSKU.AZURE_LINUX,
                    type=aks.AgentPoolType.VIRTUAL_MACHINE_SCALE_SETS,
                    # Keep application pods off the system pool.
                    node_taints=["CriticalAddonsOnly=true:NoSchedule"],
                )
            ],
            tags=tags,
            # The separate engine pool shows up here once it exists: see the module docstring.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["agentPoolProfiles"]),
        )
