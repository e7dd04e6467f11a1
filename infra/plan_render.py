"""How the offline plan is shown: a tree for people, JSON for tools and golden files."""

from __future__ import annotations

import json
from typing import Any

from infra.plan import Plan, PlannedResource
from infra.plan_mocks import AZURE_NAME_INPUTS

# Inputs worth a glance in the tree (a resource's name first); everything is in the JSON.
_HEADLINE_INPUTS = (*AZURE_NAME_INPUTS, "roleDefinitionId", "scope", "subject", "chart", "version", "kind")


def plan_json(plan: Plan) -> str:
    return json.dumps(plan.to_json(), indent=2) + "\n"


def plan_tree(plan: Plan) -> str:
    children: dict[str | None, list[PlannedResource]] = {}
    for resource in plan.resources:
        children.setdefault(resource.parent, []).append(resource)
    lines = [f"stack {plan.stack}: {len(plan.resources)} resources"]
    _render(children, None, "", lines)
    lines.append("outputs:")
    lines.extend(f"  {name}: {_short(value)}" for name, value in sorted(plan.outputs.items()))
    lines.extend(f"warning: {message}" for message in plan.warnings)
    return "\n".join(lines) + "\n"


def _render(
    children: dict[str | None, list[PlannedResource]], parent: str | None, indent: str, lines: list[str]
) -> None:
    siblings = children.get(parent, [])
    for index, resource in enumerate(siblings):
        last = index == len(siblings) - 1
        lines.append(
            f"{indent}{'└─' if last else '├─'} {resource.name} ({resource.type}){_headline(resource)}"
        )
        _render(children, resource.name, indent + ("   " if last else "│  "), lines)


def _headline(resource: PlannedResource) -> str:
    if resource.type == "azure-native:authorization:RoleAssignment":
        return f"  {resource.inputs.get('description', '')}"
    for key in _HEADLINE_INPUTS:
        value = resource.inputs.get(key)
        is_group = resource.type == "azure-native:resources:ResourceGroup"
        if isinstance(value, str) and (key != "resourceGroupName" or is_group):
            return f"  {key}={_short(value)}"
    return ""


def _short(value: Any, limit: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
