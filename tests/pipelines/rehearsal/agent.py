"""Run an Azure DevOps pipeline the way the service compiles it and a Microsoft-hosted agent runs it.

Compile: the pipeline's runtime parameters bound, templates inlined (tests/pipelines/pipeline_files.py),
from the YAML of the commit being built. Run, as documented (https://learn.microsoft.com/azure/devops/pipelines/):
stages in dependency order, jobs in dependency order (conditions.py), each job on a fresh agent (job.py)
with the steps and tasks it models (checkout.py, tasks.py, logging_commands.py) and the tools of the
hosted image (hosted_tools.py); variables resolved as the service does (variables.py). What the run leaves
behind is a Run (records.py). Anything the rehearsal does not model fails the step: it never pretends.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.pipelines.pipeline_files import PIPELINES_DIR, compile_pipeline
from tests.pipelines.rehearsal.checkout import git_show
from tests.pipelines.rehearsal.conditions import dependency_status, job_dependencies, stage_dependencies
from tests.pipelines.rehearsal.errors import RehearsalError
from tests.pipelines.rehearsal.expressions import Context, evaluate, truthy
from tests.pipelines.rehearsal.hosted_tools import install_tools
from tests.pipelines.rehearsal.job import JobRun
from tests.pipelines.rehearsal.organization import Organization, Secret
from tests.pipelines.rehearsal.records import JobResult, Run, StageResult
from tests.pipelines.rehearsal.session import Session, fresh_folder
from tests.pipelines.rehearsal.variables import predefined_variables, visible, yaml_variables


class PipelineRun:
    """One run of one pipeline; ``execute()`` returns its Run."""

    def __init__(
        self,
        session: Session,
        pipeline: str,
        organization: Organization,
        parameters: Mapping[str, Any] | None = None,
        scenario: Mapping[str, Any] | None = None,
        reason: str = "IndividualCI",
        source_version: str | None = None,
    ) -> None:
        self.session = session
        self.pipeline = pipeline
        self.organization = organization
        self.reason = reason
        self.source_version = source_version or session.source.head
        self.folder = Path(fresh_folder(session.folder / "runs", Path(pipeline).stem))
        # The service compiles the YAML of the commit it builds, not the one on anybody's disk.
        self.document = compile_pipeline(self._pipelines_at_source() / pipeline, dict(parameters or {}))
        self.state = self.folder / "state"
        self.state.mkdir(parents=True)
        self.issues: list[dict[str, str]] = []
        self.approvals: list[str] = []
        self.secrets: list[str] = []
        self.access_token = self.register_secret(f"system-access-token-{secrets.token_hex(8)}")
        self.tool_wrappers = install_tools(self.folder, self.session.python)
        self._write_state(scenario or {})

    # --- setup -------------------------------------------------------------------------------------------

    def _pipelines_at_source(self) -> Path:
        folder = self.folder / "compiled"
        folder.mkdir()
        archive = subprocess.run(
            ["git", "--git-dir", str(self.session.source.path), "archive", self.source_version, PIPELINES_DIR.name],
            capture_output=True, check=True, timeout=60,
        ).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True, timeout=60)
        return folder / PIPELINES_DIR.name

    def register_secret(self, value: str) -> str:
        """A value masked in every step log, and in what the stand-ins record (they read secrets.json)."""
        self.secrets.append(value)
        (self.state / "secrets.json").write_text(json.dumps(self.secrets))
        return value

    def _write_state(self, scenario: Mapping[str, Any]) -> None:
        organization = {
            "service_connections": {
                name: vars(c) for name, c in self.organization.service_connections.items()
            },
            "kubernetes_grants": {
                principal: [
                    {"verbs": sorted(g.verbs), "resource": g.resource, "namespace": g.namespace}
                    for g in grants
                ]
                for principal, grants in self.organization.kubernetes_grants.items()
            },
        }
        files = {
            "organization.json": organization,
            "scenario.json": dict(scenario),
            "python.json": self.session.python,
            "tools.json": {tool: str(path) for tool, path in self.tool_wrappers.items()},
            "stack-outputs.json": self._deployed_stacks(scenario),
        }
        for name, value in files.items():
            (self.state / name).write_text(json.dumps(value, indent=1))
        for group in self.organization.variable_groups.values():
            for value in group.values():
                if isinstance(value, Secret):
                    self.register_secret(value.value)

    def _deployed_stacks(self, scenario: Mapping[str, Any]) -> dict[str, Any]:
        """What the stacks export before this run: the golden plans' outputs, overridden by the scenario."""
        stacks = {}
        for stack in ("dev", "qa", "prod"):
            plan = self.session.source.path.parent / f"plan-{stack}.json"
            if not plan.is_file():
                text = git_show(
                    self.session.source.path, self.source_version, f"tests/data/infra/plan-{stack}.json"
                )
                plan.write_text(text)
            stacks[stack] = json.loads(plan.read_text())["outputs"]
        for stack, outputs in scenario.get("stack_outputs", {}).items():
            stacks[stack] = {**stacks.get(stack, {}), **outputs}
        return stacks

    # --- run ---------------------------------------------------------------------------------------------

    def execute(self) -> Run:
        stages = _stages(self.document)
        results: dict[str, StageResult] = {}
        groups = self.organization.variable_groups
        root_variables = yaml_variables(self.document.get("variables", []), groups, self.pipeline)
        for stage in stages:
            name = stage.get("stage", "__default")
            depends = stage_dependencies(stage, [s.get("stage", "__default") for s in stages], name)
            variables = {
                **root_variables,
                **yaml_variables(stage.get("variables", []), groups, self.pipeline),
            }
            context = Context(
                values={
                    "variables": visible(self.predefined(job=None) | variables),
                    "dependencies": {d: {"result": results[d].result} for d in depends if d in results},
                },
                status=dependency_status([results[d].result for d in depends if d in results]),
            )
            if not truthy(evaluate(stage.get("condition", "succeeded()"), context)):
                results[name] = StageResult(name, "Skipped")
                continue
            results[name] = self._run_stage(name, stage, variables)
        calls = [json.loads(line) for line in (self.state / "calls.jsonl").read_text().splitlines()] if (
            self.state / "calls.jsonl").is_file() else []  # fmt: skip
        return Run(
            self.pipeline, self.source_version, list(results.values()), calls, self.issues, self.approvals,
            self.folder, self.organization,
        )  # fmt: skip

    def _run_stage(self, stage_name: str, stage: dict, variables: dict[str, Any]) -> StageResult:
        jobs = stage.get("jobs") or []
        results: dict[str, JobResult] = {}
        pending = list(jobs)
        while pending:
            job = next((j for j in pending if all(d in results for d in job_dependencies(j))), None)
            if job is None:
                raise RehearsalError(
                    f"stage {stage_name}: jobs depend on each other in a cycle or on unknown jobs"
                )
            pending.remove(job)
            name = job.get("job") or job.get("deployment")
            depends = job_dependencies(job)
            dependencies = {d: {"result": results[d].result, "outputs": results[d].outputs} for d in depends}
            context = Context(
                values={
                    "variables": visible(self.predefined(job=None) | variables),
                    "dependencies": dependencies,
                },
                status=dependency_status([results[d].result for d in depends]),
            )
            if not truthy(evaluate(job.get("condition", "succeeded()"), context)):
                results[name] = JobResult(stage_name, name, "Skipped")
                continue
            results[name] = JobRun(self, stage_name, job, variables, dependencies).execute()
        jobs_results = list(results.values())
        outcome = [j.result for j in jobs_results if j.result != "Skipped"]
        result = "Failed" if "Failed" in outcome else "SucceededWithIssues" if "SucceededWithIssues" in outcome else (
            "Succeeded" if outcome else "Skipped")  # fmt: skip
        return StageResult(stage_name, result, jobs_results)

    def predefined(self, job: JobRun | None) -> dict[str, Any]:
        """Predefined variables visible in this scope (agent-scoped ones only inside a job)."""
        values = predefined_variables(self.reason, self.source_version, self.access_token)
        if job is not None:
            values |= job.agent_variables()
        return values


def _stages(document: dict) -> list[dict]:
    if "stages" in document:
        return document["stages"]
    if "jobs" in document:
        return [{"stage": "__default", "jobs": document["jobs"]}]
    return [{"stage": "__default", "jobs": [{"job": "Job", "steps": document.get("steps", [])}]}]
