"""Run an Azure DevOps pipeline the way the service compiles it and a Microsoft-hosted agent runs it.

Compile: the pipeline's runtime parameters bound, templates inlined (tests/pipelines/pipeline_files.py).
Run, as documented (https://learn.microsoft.com/azure/devops/pipelines/): stages in dependency order
(default: the previous stage), jobs in dependency order (default: none), each job on a fresh agent (its
own workspace, home, temp and tool folders, nothing carried over but output variables); steps in order,
each with its condition (default ``succeeded()``); variables from the organization's variable groups, the
YAML, the predefined ones (agent-scoped ones only inside a job, ``Build.SourceVersionMessage`` only at step
level, after a checkout) and ``##vso[task.setvariable]``; non-secret variables in every script's
environment (name upper-cased, dots to underscores), secrets only where a step maps them; ``$(macro)``
expanded in inputs and scripts, unknown macros left as they are.

Steps: ``checkout: self`` (implicit in regular jobs, explicit in deployment jobs; default fetch depth 1;
credentials kept only with ``persistCredentials``), ``script``/``bash`` (``bash --noprofile --norc`` on
a file), and the tasks the pipelines use: UsePythonVersion@0 (a tool-cache interpreter on PATH),
AzureCLI@2 (an ``AZURE_CONFIG_DIR`` in the temp folder, ``az login`` with the service connection's
federated token, ``az account set``, the script, ``az account clear``; ``addSpnToEnvironment`` exposes
``servicePrincipalId``, ``idToken``, ``tenantId``), KubeloginInstaller@0, PublishPipelineArtifact@1,
PublishTestResults@2. Any other task fails the step: the rehearsal never pretends.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.pipelines.pipeline_files import PIPELINES_DIR, compile_pipeline
from tests.pipelines.rehearsal.expressions import Context, evaluate, to_string, truthy
from tests.pipelines.rehearsal.organization import Organization, Secret
from tests.pipelines.rehearsal.source import SourceRepository

STANDINS = Path(__file__).resolve().parent / "standins"
HOSTED_TOOLS = ("az", "kubectl", "docker", "helm", "curl", "wget", "make")
INSTALLED_TOOLS = ("pulumi", "argocd", "kubelogin")
VSO = re.compile(r"##vso\[(?P<command>[\w.]+)(?P<properties>[^\]]*)\](?P<value>.*)")
MACRO = re.compile(r"\$\(([A-Za-z_][\w.]*)\)")
RUNTIME_EXPRESSION = re.compile(r"^\$\[(.*)\]$", re.DOTALL)
STEP_TIMEOUT_SECONDS = 120
SUCCEEDED = ("Succeeded", "SucceededWithIssues")


class RehearsalError(AssertionError):
    """The pipeline uses something the rehearsal (and so the service) would not accept."""


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


@dataclass
class Session:
    """What all runs of a test session share: the source remote and the interpreters' dependencies."""

    folder: Path
    source: SourceRepository
    python: dict[str, Any]

    @classmethod
    def create(cls, folder: Path) -> Session:
        folder.mkdir(parents=True, exist_ok=True)
        pristine = folder / "pristine-python"
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(pristine)], check=True, timeout=120
        )
        base = pristine / "bin" / "python"
        import sysconfig

        python = {
            "harness": sys.executable,
            "standins": str(STANDINS),
            "base": str(base),
            "base_home": str(Path(sys._base_executable).parent),
            "version": ".".join(map(str, sys.version_info[:3])),
            "dependencies": sysconfig.get_paths()["purelib"],
        }
        return cls(folder, SourceRepository(folder), python)


def wrapper(path: Path, module: str, extra_env: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\n"
        f'REHEARSAL_INVOKED_AS="$0" {extra_env}exec "{sys.executable}" -E -s -S "{STANDINS / module}.py" "$@"\n'
    )
    path.chmod(0o755)
    return path


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
        self.folder = Path(_fresh_folder(session.folder / "runs", Path(pipeline).stem))
        # The service compiles the YAML of the commit it builds, not the one on anybody's disk.
        self.document = compile_pipeline(self._pipelines_at_source() / pipeline, dict(parameters or {}))
        self.state = self.folder / "state"
        self.state.mkdir(parents=True)
        self.issues: list[dict[str, str]] = []
        self.approvals: list[str] = []
        self.secrets: list[str] = []
        self.access_token = self._secret(f"system-access-token-{secrets.token_hex(8)}")
        self.tool_wrappers = self._install_tools()
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

    def _secret(self, value: str) -> str:
        self.secrets.append(value)
        (self.state / "secrets.json").write_text(json.dumps(self.secrets))
        return value

    def _install_tools(self) -> dict[str, Path]:
        hosted = self.folder / "hosted" / "bin"
        for tool in HOSTED_TOOLS:
            wrapper(hosted / tool, "curl" if tool == "wget" else tool)
        from tests.pipelines.rehearsal.standins import interpreters

        interpreters.create(self.folder / "hosted" / "system-python", "system", self.session.python)
        for alias in ("python3", "pip3", "pip"):
            (hosted / alias).symlink_to(self.folder / "hosted" / "system-python" / "bin" / alias)
        return {tool: wrapper(self.folder / "downloads" / tool, tool) for tool in INSTALLED_TOOLS}

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
                    self._secret(value.value)

    def _deployed_stacks(self, scenario: Mapping[str, Any]) -> dict[str, Any]:
        """What the stacks export before this run: the golden plans' outputs, overridden by the scenario."""
        stacks = {}
        for stack in ("dev", "qa", "prod"):
            plan = self.session.source.path.parent / f"plan-{stack}.json"
            if not plan.is_file():
                text = _git_show(
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
        root_variables = self._yaml_variables(self.document.get("variables", []), {})
        for stage in stages:
            name = stage.get("stage", "__default")
            depends = _depends(stage, [s.get("stage", "__default") for s in stages], name)
            variables = {**root_variables, **self._yaml_variables(stage.get("variables", []), root_variables)}
            context = Context(
                values={
                    "variables": _visible(self._predefined(job=None) | variables),
                    "dependencies": {d: {"result": results[d].result} for d in depends if d in results},
                },
                status=_status_of([results[d].result for d in depends if d in results]),
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
            job = next((j for j in pending if all(d in results for d in _job_depends(j))), None)
            if job is None:
                raise RehearsalError(
                    f"stage {stage_name}: jobs depend on each other in a cycle or on unknown jobs"
                )
            pending.remove(job)
            name = job.get("job") or job.get("deployment")
            depends = _job_depends(job)
            dependencies = {d: {"result": results[d].result, "outputs": results[d].outputs} for d in depends}
            context = Context(
                values={
                    "variables": _visible(self._predefined(job=None) | variables),
                    "dependencies": dependencies,
                },
                status=_status_of([results[d].result for d in depends]),
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

    def _yaml_variables(self, items: Any, known: Mapping[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if isinstance(items, Mapping):
            items = [{"name": k, "value": v} for k, v in items.items()]
        for item in items:
            if "group" in item:
                group = self.organization.variable_groups.get(item["group"])
                if group is None:
                    raise RehearsalError(
                        f"{self.pipeline}: variable group {item['group']!r} could not be found"
                    )
                found.update(group)
            elif "name" in item:
                found[item["name"]] = to_string(item.get("value"))
            else:
                raise RehearsalError(f"{self.pipeline}: unsupported variables entry {item}")
        return found

    def _predefined(self, job: JobRun | None) -> dict[str, Any]:
        """Predefined variables visible in this scope (agent-scoped ones only inside a job)."""
        values: dict[str, Any] = {
            "Build.BuildId": "4242",
            "Build.BuildNumber": "20250101.1",
            "Build.Reason": self.reason,
            "Build.Repository.Name": "property-price-platform",
            "Build.Repository.Provider": "TfsGit",
            "Build.SourceBranch": "refs/heads/main",
            "Build.SourceBranchName": "main",
            "Build.SourceVersion": self.source_version,
            "Build.SourceVersionMessage": "",
            "System.CollectionUri": "https://dev.azure.com/contoso/",
            "System.TeamProject": "price-engine",
            "System.TeamProjectId": "00000000-7e57-0000-0000-000000000001",
            "System.AccessToken": Secret(self.access_token),
        }
        if job is not None:
            values |= job.agent_variables()
        return values


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
        self.agent = Path(_fresh_folder(run.folder / "agents", f"{stage}-{self.name}"))
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
                    values={"dependencies": dependencies, "variables": _visible(self.all_variables())}
                )
                self.variables[item["name"]] = to_string(evaluate(expression, context))
            else:
                self.variables |= run._yaml_variables([item], self.variables)

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
        return self.run._predefined(self) | self.variables

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
        context = Context(values={"variables": _visible(self.all_variables())}, status=_step_status(failed))
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
            return self._checkout(step)
        if "script" in step or "bash" in step:
            script = self.expand(step.get("script", step.get("bash")))
            return self._bash(script, self._step_env(step), name, display, step.get("workingDirectory"))
        task = step.get("task", "")
        inputs = {k: self.expand(to_string(v)) for k, v in (step.get("inputs") or {}).items()}
        tasks = {
            "UsePythonVersion@0": lambda: self._use_python(inputs),
            "AzureCLI@2": lambda: self._azure_cli(inputs, self._step_env(step), name, display),
            "KubeloginInstaller@0": self._kubelogin_installer,
            "PublishPipelineArtifact@1": lambda: self._publish(inputs.get("targetPath", ""), required=True),
            "PublishTestResults@2": lambda: self._publish(inputs.get("testResultsFiles", ""), required=False),
        }
        if task not in tasks:
            raise RehearsalError(f"the rehearsal does not model task {task!r}")
        return tasks[task]()

    def expand(self, text: str) -> str:
        variables = {key.lower(): value for key, value in self.all_variables().items()}

        def replace(match: re.Match) -> str:
            value = variables.get(match.group(1).lower())
            if value is None:
                return match.group(0)
            return value.value if isinstance(value, Secret) else to_string(value)

        for _ in range(3):  # variable values may themselves hold macros
            text = MACRO.sub(replace, text)
        return text

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

    def _step_env(self, step: dict) -> dict[str, str]:
        return {key: self.expand(to_string(value)) for key, value in (step.get("env") or {}).items()}

    def _bash(self, script: str, step_env: dict[str, str], name: str, display: str, cwd: str | None,
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
        self._logging_commands(result.stdout, name)
        return result.returncode, self._mask(output)

    def _mask(self, text: str) -> str:
        for value in self.run.secrets:
            text = text.replace(value, "***")
        return text

    def _logging_commands(self, stdout: str, step_name: str) -> None:
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
                stored: Any = Secret(self.run._secret(value)) if secret else value
                if properties.get("isOutput", properties.get("isoutput", "false")).lower() == "true":
                    self.outputs[f"{step_name}.{variable}"] = value
                    self.variables[f"{step_name}.{variable}"] = stored
                else:
                    self.variables[variable] = stored
            elif command == "task.prependpath":
                self.path.insert(0, value)
            elif command == "task.complete":
                self.completed = properties.get("result", "Succeeded")
            elif command == "task.logissue":
                self.run.issues.append(
                    {"type": properties.get("type", ""), "message": value, "job": self.name}
                )
            else:
                raise RehearsalError(f"the rehearsal does not model the logging command ##vso[{command}]")

    def _checkout(self, step: dict) -> tuple[int, str]:
        if step["checkout"] == "none":
            return 0, ""
        if step["checkout"] != "self":
            raise RehearsalError(f"the rehearsal checks out `self` only, not {step['checkout']!r}")
        depth = int(to_string(step.get("fetchDepth", 1)))
        source = self.run.session.source
        _git(["init", "--quiet", str(self.sources)], self.agent)
        # Borrow the remote's objects instead of copying them: a real agent copies, to the same effect.
        (self.sources / ".git" / "objects" / "info" / "alternates").write_text(f"{source.path / 'objects'}\n")
        _git(["remote", "add", "origin", source.url], self.sources)
        depth_args = [f"--depth={depth}"] if depth > 0 else []
        # As the agent does: the branches, and the commit being built by its id (it may be behind main).
        _git(["fetch", "--quiet", *depth_args, "origin", "+refs/heads/*:refs/remotes/origin/*",
              self.run.source_version], self.sources)  # fmt: skip
        _git(["checkout", "--quiet", "--force", self.run.source_version], self.sources)
        if not truthy(step.get("persistCredentials", False)):
            # Azure Repos needs the job's token for git: without persistCredentials the checkout removes it.
            _git(["remote", "set-url", "origin", str(self.agent / "azure-repos-without-persisted-credentials")],
                 self.sources)  # fmt: skip
        self.checked_out_message = _git(["log", "-1", "--format=%B", "HEAD"], self.sources).strip()
        return 0, f"checked out {self.run.source_version} (depth {depth or 'full'})"

    def _use_python(self, inputs: dict[str, str]) -> tuple[int, str]:
        version = self.run.session.python["version"]
        wanted = inputs.get("versionSpec", "")
        if not version.startswith(wanted.rstrip(".x")):
            return (
                1,
                f"##[error]Version spec {wanted} for architecture x64 did not match any version in Agent.ToolsDirectory.",
            )
        from tests.pipelines.rehearsal.standins import interpreters

        root = self.work / "_tool" / "Python" / version / "x64"
        if not root.exists():
            interpreters.create(root, "toolcache", self.run.session.python)
        self.path.insert(0, str(root / "bin"))
        return 0, f"Found tool in cache: Python {version} x64"

    def _kubelogin_installer(self) -> tuple[int, str]:
        folder = self.work / "_tool" / "kubelogin" / "bin"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.run.tool_wrappers["kubelogin"], folder / "kubelogin")
        self.path.insert(0, str(folder))
        return 0, "kubelogin installed"

    def _publish(self, path: str, required: bool) -> tuple[int, str]:
        if required and not Path(path).exists():
            return 1, f"##[error]Path does not exist: {path}"
        return 0, f"published {path}"

    def _azure_cli(
        self, inputs: dict[str, str], step_env: dict[str, str], name: str, display: str
    ) -> tuple[int, str]:
        connection = self.run.organization.service_connections.get(inputs.get("azureSubscription", ""))
        if connection is None:
            return (
                1,
                f"##[error]The service connection {inputs.get('azureSubscription')!r} could not be found or is not authorized",
            )
        if inputs.get("scriptType") != "bash" or inputs.get("scriptLocation") != "inlineScript":
            raise RehearsalError("the rehearsal models AzureCLI@2 with scriptType bash and an inline script")
        config_dir = self.work / "_temp" / ".azclitask"
        token = self.run._secret(f"federated-token-{secrets.token_hex(12)}")
        tokens_file = self.run.state / "oidc-tokens.json"
        tokens = json.loads(tokens_file.read_text()) if tokens_file.is_file() else {}
        tokens[token] = connection.name
        tokens_file.write_text(json.dumps(tokens))
        task_env = {
            "AZURE_CONFIG_DIR": str(config_dir),
            "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID": connection.name,
            "AZURESUBSCRIPTION_CLIENT_ID": connection.client_id,
            "AZURESUBSCRIPTION_TENANT_ID": connection.tenant_id,
        }
        login = (
            f'az login --service-principal -u "{connection.client_id}" --tenant "{connection.tenant_id}" '
            f'--allow-no-subscriptions --federated-token "{token}" --output none\n'
            f'az account set --subscription "{connection.subscription_id}"\n'
        )
        code, output = self._bash(login, {}, name, f"{display} (AzureCLI@2 login)", None, task_env)
        if code != 0:
            return code, output
        if truthy(inputs.get("addSpnToEnvironment", "false")):
            task_env |= {
                "servicePrincipalId": connection.client_id,
                "idToken": token,
                "tenantId": connection.tenant_id,
            }
        code, script_output = self._bash(inputs.get("inlineScript", ""), step_env, name, display,
                                         inputs.get("workingDirectory") or inputs.get("cwd"), task_env)  # fmt: skip
        self._bash("az account clear\n", {}, name, f"{display} (AzureCLI@2 logout)", None, task_env)
        return code, output + script_output


# --- helpers -------------------------------------------------------------------------------------------


def _stages(document: dict) -> list[dict]:
    if "stages" in document:
        return document["stages"]
    if "jobs" in document:
        return [{"stage": "__default", "jobs": document["jobs"]}]
    return [{"stage": "__default", "jobs": [{"job": "Job", "steps": document.get("steps", [])}]}]


def _depends(stage: dict, order: list[str], name: str) -> list[str]:
    if "dependsOn" in stage:
        value = stage["dependsOn"]
        return [value] if isinstance(value, str) else list(value or [])
    index = order.index(name)
    return order[index - 1 : index] if index else []


def _job_depends(job: dict) -> list[str]:
    value = job.get("dependsOn", [])
    return [value] if isinstance(value, str) else list(value or [])


def _status_of(results: list[str]):
    def status(function: str, names: tuple[str, ...]) -> bool:
        chosen = results
        if function == "always":
            return True
        if function == "canceled":
            return False
        if function == "succeeded":
            return all(r in SUCCEEDED for r in chosen)
        if function == "failed":
            return any(r == "Failed" for r in chosen)
        return all(r in (*SUCCEEDED, "Failed") for r in chosen)  # succeededOrFailed

    return status


def _step_status(failed: bool):
    def status(function: str, names: tuple[str, ...]) -> bool:
        return {"succeeded": not failed, "failed": failed, "succeededorfailed": True, "always": True,
                "canceled": False}[function]  # fmt: skip

    return status


def _visible(variables: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.value if isinstance(v, Secret) else v) for k, v in variables.items()}


def _fresh_folder(parent: Path, stem: str) -> str:
    parent.mkdir(parents=True, exist_ok=True)
    for index in range(1000):
        candidate = parent / f"{stem}-{index}"
        try:
            candidate.mkdir()
            return str(candidate)
        except FileExistsError:
            continue
    raise RehearsalError(f"no free folder under {parent}")


def _git(args: list[str], cwd: Path) -> str:
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
    }
    result = subprocess.run(["git", *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=60,
                            check=False)  # fmt: skip
    if result.returncode != 0:
        raise RehearsalError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def _git_show(repository: Path, commit: str, path: str) -> str:
    return _git(["--git-dir", str(repository), "show", f"{commit}:{path}"], repository)
