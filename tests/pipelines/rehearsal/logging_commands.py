"""``##vso[...]`` logging commands a script prints to talk to the agent, applied to the running job.

Modelled: ``task.setvariable`` (``isSecret``, ``isOutput``: an output is ``<step name>.<variable>``),
``task.prependpath``, ``task.complete`` and ``task.logissue``
(https://learn.microsoft.com/azure/devops/pipelines/scripts/logging-commands). Any other command fails
the step: the rehearsal never pretends.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tests.pipelines.rehearsal.errors import RehearsalError
from tests.pipelines.rehearsal.organization import Secret

if TYPE_CHECKING:
    from tests.pipelines.rehearsal.job import JobRun

VSO = re.compile(r"##vso\[(?P<command>[\w.]+)(?P<properties>[^\]]*)\](?P<value>.*)")


def apply_logging_commands(job: JobRun, stdout: str, step_name: str) -> None:
    for line in stdout.splitlines():
        match = VSO.search(line)
        if not match:
            continue
        properties = dict(
            part.strip().split("=", 1) for part in match.group("properties").split(";") if "=" in part
        )
        command, value = match.group("command"), match.group("value")
        if command == "task.setvariable":
            variable = properties["variable"]
            secret = properties.get("issecret", properties.get("isSecret", "false")).lower() == "true"
            stored: Any = Secret(job.run.register_secret(value)) if secret else value
            if properties.get("isOutput", properties.get("isoutput", "false")).lower() == "true":
                job.outputs[f"{step_name}.{variable}"] = value
                job.variables[f"{step_name}.{variable}"] = stored
            else:
                job.variables[variable] = stored
        elif command == "task.prependpath":
            job.path.insert(0, value)
        elif command == "task.complete":
            job.completed = properties.get("result", "Succeeded")
        elif command == "task.logissue":
            job.run.issues.append({"type": properties.get("type", ""), "message": value, "job": job.name})
        else:
            raise RehearsalError(f"the rehearsal does not model the logging command ##vso[{command}]")
