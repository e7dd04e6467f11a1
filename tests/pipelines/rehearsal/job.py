"""One job on a fresh agent, its steps in order.

As a Microsoft-hosted agent runs it (https://learn.microsoft.com/azure/devops/pipelines/process/phases):
its own workspace, home, temp and tool folders, nothing carried over from other jobs but their output
variables; ``checkout: self`` first in a regular job that lists no checkout (a deployment job checks out
only if it says so); each step with its condition (default ``succeeded()``); ``script``/``bash`` as
``bash --noprofile --norc`` on a file, its output masked of every secret the run knows.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.pipelines.rehearsal.checkout import checkout
from tests.pipelines.rehearsal.conditions import step_status
from tests.pipelines.rehearsal.errors import RehearsalError
from tests.pipelines.rehearsal.expressions import Context, evaluate, to_string, truthy
from tests.pipelines.rehearsal.logging_commands import apply_logging_commands
from tests.pipelines.rehearsal.organization import Secret
from tests.pipelines.rehearsal.records import JobResult, StepResult
from tests.pipelines.rehearsal.session import fresh_folder
from tests.pipelines.rehearsal.tasks import run_task
from tests.pipelines.rehearsal.variables import RUNTIME_EXPRESSION, expand, visible, yaml_variables

if TYPE_CHECKING:
    from tests.pipelines.rehearsal.agent import PipelineRun

STEP_TIMEOUT_SECONDS = 120


class JobRun:
    """One job on a fresh agent."""

    def __init__(
        self, run: PipelineRun, stage: str, job: dict, variables: dict[str, Any], dependencies: dict
    ) -> None:
        self.run = run
        self.stage = stage
        self.job = job
        self.name = job.get("job") or job.get("deployment")
        self.deployment = "deployment" in job
        self.agent = Path(fresh_folder(run.folder / "agents", f"{stage}-{self.name}"))
        self.work = self.agent / "work"
        self.sources = self.work / "1" / "s"
        for folder in (self.sources, self.work / "1" / "a", self.work / "1" / "b", self.work / "_temp",
                       self.work / "_tool", self.agent / "home"):  # fmt: skip
            folder.mkdir(parents=True)
        self.path = [str(run.folder / "hosted" / "bin"), "/usr/bin", "/bin"]
        self.checked_out_message: str | None = None
        self.completed: str | None = None  # ##vso[task.complete result=...] of the running step
        self.steps: list[StepResult] = []
        self.outputs: dict[str, str] = {}
        self.variables: dict[str, Any] = {**variables}
        job_variables = job.get("variables", [])
        if isinstance(job_variables, Mapping):
            job_variables = [{"name": k, "value": v} for k, v in job_variables.items()]
        for item in job_variables:
            if "name" in item and RUNTIME_EXPRESSION.match(to_string(item.get("value"))):
                expression = RUNTIME_EXPRESSION.match(to_string(item["value"])).group(1)
                context = Context(
                    values={"dependencies": dependencies, "variables": visible(self.all_variables())}
                )
                self.variables[item["name"]] = to_string(evaluate(expression, context))
            else:
                self.variables |= yaml_variables([item], run.organization.variable_groups, run.pipeline)

    def agent_variables(self) -> dict[str, Any]:
        values = {
            "Agent.BuildDirectory": str(self.work / "1"),
            "Pipeline.Workspace": str(self.work / "1"),
            "Agent.TempDirectory": str(self.work / "_temp"),
            "Agent.ToolsDirectory": str(self.work / "_tool"),
            "Agent.OS": "Linux",
            "Agent.JobName": self.name,
            "System.JobName": self.name,
            "Build.SourcesDirectory": str(self.sources),
            "Build.Repository.LocalPath": str(self.sources),
            "System.DefaultWorkingDirectory": str(self.sources),
            "Build.ArtifactStagingDirectory": str(self.work / "1" / "a"),
            "Build.StagingDirectory": str(self.work / "1" / "a"),
            "Build.BinariesDirectory": str(self.work / "1" / "b"),
        }
        if self.deployment:
            values["Environment.Name"] = self.job["environment"]
        if self.checked_out_message is not None:
            values["Build.SourceVersionMessage"] = self.checked_out_message
        return values

    def all_variables(self) -> dict[str, Any]:
        return self.run.predefined(self) | self.variables

    def execute(self) -> JobResult:
        if self.deployment:
            environment = self.job["environment"]
            environment = environment if isinstance(environment, str) else environment["name"]
            if environment not in self.run.organization.environments:
                raise RehearsalError(f"{self.run.pipeline}: environment {environment!r} could not be found")
            self.run.approvals.append(environment)
            steps = self.job["strategy"]["runOnce"]["deploy"]["steps"]
        else:
            steps = self.job.get("steps", [])
            if not any("checkout" in step for step in steps):
                steps = [{"checkout": "self"}, *steps]
        for step in steps:
            self.steps.append(self._step(step))
        results = [s.result for s in self.steps]
        result = (
            "Failed"
            if "Failed" in results
            else "SucceededWithIssues"
            if "SucceededWithIssues" in results
            else "Succeeded"
        )
        return JobResult(self.stage, self.name, result, self.job.get("environment"), self.steps, self.outputs)

    # --- steps -------------------------------------------------------------------------------------------

    def _step(self, step: dict) -> StepResult:
        display = step.get("displayName") or step.get("task") or next(iter(step))
        name = step.get("name", "")
        failed = any(s.result == "Failed" for s in self.steps)
        context = Context(values={"variables": visible(self.all_variables())}, status=step_status(failed))
        if not truthy(evaluate(step.get("condition", "succeeded()"), context)):
            return StepResult(self.name, name, display, "Skipped")
        started = time.monotonic()
        try:
            code, output = self._perform(step, name, display)
        except RehearsalError as error:
            code, output = 1, f"##[error]{error}"
        seconds = time.monotonic() - started
        completed, self.completed = self.completed, None
        if code == 0:
            result = completed if completed in ("Succeeded", "SucceededWithIssues", "Failed") else "Succeeded"
        else:
            result = "SucceededWithIssues" if truthy(step.get("continueOnError", False)) else "Failed"
        return StepResult(self.name, name, display, result, output, seconds)

    def _perform(self, step: dict, name: str, display: str) -> tuple[int, str]:
        if "checkout" in step:
            return checkout(self, step)
        if "script" in step or "bash" in step:
            script = self.expand(step.get("script", step.get("bash")))
            return self.bash(script, self.step_env(step), name, display, step.get("workingDirectory"))
        return run_task(self, step, name, display)

    def expand(self, text: str) -> str:
        return expand(text, self.all_variables())

    def _environment(self) -> dict[str, str]:
        environment = {
            "PATH": ":".join(self.path),
            "HOME": str(self.agent / "home"),
            "LANG": "C.UTF-8",
            "REHEARSAL_STATE": str(self.run.state),
            "REHEARSAL_JOB": f"{self.stage}/{self.name}",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "TF_BUILD": "True",
        }
        for key, value in self.all_variables().items():
            if not isinstance(value, Secret):
                environment[re.sub(r"[. ]", "_", key).upper()] = self.expand(to_string(value))
        return environment

    def step_env(self, step: dict) -> dict[str, str]:
        return {key: self.expand(to_string(value)) for key, value in (step.get("env") or {}).items()}

    def bash(self, script: str, step_env: dict[str, str], name: str, display: str, cwd: str | None,
             extra_env: dict[str, str] | None = None) -> tuple[int, str]:  # fmt: skip
        path = self.work / "_temp" / f"{secrets.token_hex(6)}.sh"
        path.write_text(script)
        environment = {**self._environment(), **(extra_env or {}), **step_env, "REHEARSAL_STEP": display}
        try:
            result = subprocess.run(
                ["bash", "--noprofile", "--norc", str(path)],
                cwd=self.expand(cwd) if cwd else self.sources,
                env=environment,
                capture_output=True,
                text=True,
                timeout=STEP_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return (
                1,
                f"##[error]the step ran over the rehearsal's {STEP_TIMEOUT_SECONDS} s: it would wait on the agent",
            )
        output = result.stdout + result.stderr
        apply_logging_commands(self, result.stdout, name)
        return result.returncode, self._mask(output)

    def _mask(self, text: str) -> str:
        for value in self.run.secrets:
            text = text.replace(value, "***")
        return text
