"""Container Insights for the AKS cluster with managed-identity (``useAADAuth``) ingestion.

With ``useAADAuth`` the monitoring agent authenticates with the cluster's identity and sends what a data
collection rule tells it to; the rule and its association with the cluster are what ``az aks
enable-addons --addons monitoring`` creates behind the scenes, and what a template has to declare itself
(Microsoft's onboarding templates: an ``MSCI-<region>-<cluster>`` rule with the ``ContainerInsights``
extension data source, and an association named ``ContainerInsightsExtension`` on the cluster). Without them
the add-on runs but nothing reaches Log Analytics.
"""

from __future__ import annotations

import pulumi
from pulumi_azure_native import monitor

COMPONENT_TYPE = "property-price-platform:infra:ContainerInsights"
# The stream group the onboarding templates use: container logs (ContainerLogV2), Kubernetes events and
# inventories, performance and InsightsMetrics.
STREAMS = ["Microsoft-ContainerInsights-Group-Default"]
DESTINATION = "ciworkspace"
ASSOCIATION_NAME = "ContainerInsightsExtension"


def rule_name(location: str, cluster_name: str) -> str:
    """``MSCI-<region>-<cluster>``, the name the portal and CLI give this rule, within its 64 characters."""
    return f"MSCI-{location}-{cluster_name}"[:64].rstrip("-")


class ContainerInsights(pulumi.ComponentResource):
    """The data collection rule of Container Insights and its association with the cluster."""

    def __init__(
        self,
        name: str,
        *,
        location: str,
        resource_group_name: pulumi.Input[str],
        cluster_name: str,
        cluster_id: pulumi.Input[str],
        log_analytics_id: pulumi.Input[str],
        tags: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self.rule = monitor.DataCollectionRule(
            "container-insights-rule",
            resource_group_name=resource_group_name,
            data_collection_rule_name=rule_name(location, cluster_name),
            location=location,
            kind="Linux",
            description="Container Insights of the estimation engine's cluster (managed identity ingestion)",
            data_sources=monitor.DataCollectionRuleDataSourcesArgs(
                extensions=[
                    monitor.ExtensionDataSourceArgs(
                        name="ContainerInsightsExtension",
                        extension_name="ContainerInsights",
                        streams=STREAMS,
                        extension_settings={
                            "dataCollectionSettings": {
                                "interval": "1m",
                                "namespaceFilteringMode": "Off",
                                "enableContainerLogV2": True,
                            }
                        },
                    )
                ]
            ),
            destinations=monitor.DataCollectionRuleDestinationsArgs(
                log_analytics=[
                    monitor.LogAnalyticsDestinationArgs(
                        name=DESTINATION, workspace_resource_id=log_analytics_id
                    )
                ]
            ),
            data_flows=[monitor.DataFlowArgs(streams=STREAMS, destinations=[DESTINATION])],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.association = monitor.DataCollectionRuleAssociation(
            "container-insights-association",
            association_name=ASSOCIATION_NAME,
            resource_uri=cluster_id,
            data_collection_rule_id=self.rule.id,
            description="Association of the Container Insights data collection rule with the cluster. "
            "Deleting it stops data collection.",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"ruleId": self.rule.id})
