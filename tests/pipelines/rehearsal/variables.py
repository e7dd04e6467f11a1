"""Variables as the service and the agent resolve them.

Where they come from: the organization's variable groups, the YAML (``name``/``value`` or the mapping
form), the predefined ones (agent-scoped ones only inside a job, ``Build.SourceVersionMessage`` only at step
level, after a checkout), ``$[ ]`` runtime expressions of job variables and ``##vso[task.setvariable]``.
Where they go: non-secret variables into every script's environment (name upper-cased, dots to
underscores), secrets only where a step maps them; ``$(macro)`` expanded in inputs and scripts, unknown
macros left as they are (https://learn.microsoft.com/azure/devops/pipelines/process/variables).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tests.pipelines.rehearsal.errors import RehearsalError
from tests.pipelines.rehearsal.expressions import to_string
from tests.pipelines.rehearsal.organization import Secret

MACRO = re.compile(r"\$\(([A-Za-z_][\w.]*)\)")
RUNTIME_EXPRESSION = re.compile(r"^\$\[(.*)\]$", re.DOTALL)


def yaml_variables(items: Any, groups: Mapping[str, Mapping[str, Any]], pipeline: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if isinstance(items, Mapping):
        items = [{"name": k, "value": v} for k, v in items.items()]
    for item in items:
        if "group" in item:
            group = groups.get(item["group"])
            if group is None:
                raise RehearsalError(f"{pipeline}: variable group {item['group']!r} could not be found")
            found.update(group)
        elif "name" in item:
            found[item["name"]] = to_string(item.get("value"))
        else:
            raise RehearsalError(f"{pipeline}: unsupported variables entry {item}")
    return found


def predefined_variables(reason: str, source_version: str, access_token: str) -> dict[str, Any]:
    """The predefined variables of the run, visible everywhere (a job adds its agent's: JobRun)."""
    return {
        "Build.BuildId": "4242",
        "Build.BuildNumber": "20250101.1",
        "Build.Reason": reason,
        "Build.Repository.Name": "property-price-platform",
        "Build.Repository.Provider": "TfsGit",
        "Build.SourceBranch": "refs/heads/main",
        "Build.SourceBranchName": "main",
        "Build.SourceVersion": source_version,
        "Build.SourceVersionMessage": "",
        "System.CollectionUri": "https://dev.azure.com/contoso/",
        "System.TeamProject": "price-engine",
        "System.TeamProjectId": "00000000-7e57-0000-0000-000000000001",
        "System.AccessToken": Secret(access_token),
    }


def visible(variables: Mapping[str, Any]) -> dict[str, Any]:
    """The values as expressions evaluate them: a secret's value, not its wrapper."""
    return {k: (v.value if isinstance(v, Secret) else v) for k, v in variables.items()}


def expand(text: str, variables: Mapping[str, Any]) -> str:
    """``$(name)`` macros replaced by the variables' values (names ignore case); unknown ones stay."""
    by_name = {key.lower(): value for key, value in variables.items()}

    def replace(match: re.Match) -> str:
        value = by_name.get(match.group(1).lower())
        if value is None:
            return match.group(0)
        return value.value if isinstance(value, Secret) else to_string(value)

    for _ in range(3):  # variable values may themselves hold macros
        text = MACRO.sub(replace, text)
    return text
