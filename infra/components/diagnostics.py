"""Diagnostic settings: every resource that emits platform logs sends them to the stack's Log Analytics.

One setting per resource, all logs (or, for AKS, the ``audit`` group, since ``allLogs`` on a cluster costs
more than the rest of the stack together) and all metrics (``Transaction`` for the blob service, which has
no ``AllMetrics`` category). Container groups are not here: ACI has no
diagnostic settings and ships its logs through the container group's own ``diagnostics`` property.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import monitor

COMPONENT_TYPE = "property-price-platform:infra:Diagnostics"
SETTING_NAME = "to-log-analytics"


@dataclass(frozen=True)
class DiagnosticTarget:
    """A resource to collect from; ``log_group`` is the Azure Monitor category group of its logs."""

    key: str
    resource_uri: pulumi.Input[str]
    log_group: str = "allLogs"
    metric_category: str = "AllMetrics"


class Diagnostics(pulumi.ComponentResource):
    """Diagnostic settings of the given resources, all sent to one Log Analytics workspace."""

    def __init__(
        self,
        name: str,
        *,
        log_analytics_id: pulumi.Input[str],
        targets: list[DiagnosticTarget],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self.settings = [
            monitor.DiagnosticSetting(
                f"{target.key}-diagnostics",
                name=SETTING_NAME,
                resource_uri=target.resource_uri,
                workspace_id=log_analytics_id,
                logs=[monitor.DiagnosticsLogSettingsArgs(category_group=target.log_group, enabled=True)],
                metrics=[
                    monitor.DiagnosticsMetricSettingsArgs(category=target.metric_category, enabled=True)
                ],
                opts=pulumi.ResourceOptions(parent=self),
            )
            for target in targets
        ]
        self.register_outputs({"count": len(self.settings)})
