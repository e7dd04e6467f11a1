"""What a rehearsed run leaves behind: every stage's, job's and step's result and output, and the calls the
stand-in tools recorded, with the queries tests make of them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.pipelines.rehearsal.organization import Organization


@dataclass
class StepResult:
    job: str
    name: str
    display_name: str
    result: str
    output: str = ""
    seconds: float = 0.0


@dataclass
class JobResult:
    stage: str
    name: str
    result: str
    environment: str | None = None
    steps: list[StepResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class StageResult:
    name: str
    result: str
    jobs: list[JobResult] = field(default_factory=list)


@dataclass
class Run:
    pipeline: str
    source_version: str
    stages: list[StageResult]
    calls: list[dict[str, Any]]
    issues: list[dict[str, str]]
    approvals: list[str]
    folder: Path
    organization: Organization

    @property
    def result(self) -> str:
        results = [stage.result for stage in self.stages]
        if "Failed" in results:
            return "Failed"
        return "SucceededWithIssues" if "SucceededWithIssues" in results else "Succeeded"

    def stage(self, name: str) -> StageResult:
        return next(stage for stage in self.stages if stage.name == name)

    def job(self, name: str) -> JobResult:
        return next(job for stage in self.stages for job in stage.jobs if job.name == name)

    def steps(self) -> list[StepResult]:
        return [step for stage in self.stages for job in stage.jobs for step in job.steps]

    def step(self, display_name: str) -> StepResult:
        matches = [s for s in self.steps() if s.display_name.startswith(display_name)]
        if len(matches) != 1:
            raise KeyError(
                f"{len(matches)} steps named {display_name!r}: {[s.display_name for s in self.steps()]}"
            )
        return matches[0]

    def commands(self, tool: str, *prefix: str) -> list[dict[str, Any]]:
        """The recorded calls of ``tool`` whose argv starts with ``prefix`` (words after options dropped)."""
        return [
            call
            for call in self.calls
            if call["tool"] == tool and call["argv"][: len(prefix)] == list(prefix)
        ]

    def transcript(self, *tools: str) -> list[str]:
        """The calls of ``tools`` as ``identity: tool argv`` lines, the run's own folders shown as ``…``.

        Identity is the service connection logged in where the call ran (kubectl/kubelogin name the
        principal's client id; it is shown as its service connection too); ``-`` when none was.
        """
        names = {c.client_id: name for name, c in self.organization.service_connections.items()}
        agent = re.compile(re.escape(str(self.folder)) + r"/agents/[^/]+/")
        lines = []
        for call in self.calls:
            if call["tool"] in tools:
                who = call.get("identity") or "-"
                argv = " ".join(agent.sub("…/", arg) for arg in call["argv"])
                lines.append(f"{names.get(who, who)}: {call['tool']} {argv}")
        return lines

    def log(self) -> str:
        """Everything the steps printed, for assertion messages."""
        return "\n".join(
            f"--- {s.job} / {s.display_name}: {s.result} ({s.seconds:.1f}s)\n{s.output}" for s in self.steps()
        )
