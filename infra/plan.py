"""The offline plan: run the real program under Pulumi's mocks and record what it would create.

Without an Azure subscription or the Pulumi CLI, this is how one sees what ``pulumi up --stack <env>``
would do, and it is what the tests and the policies run on. The stack's configuration comes from the same
files ``pulumi up`` reads, with the ``Pulumi.yaml`` defaults applied (mocks do not apply them).

Secrets are masked, and nothing depends on the time or the machine except the expiry tag, which comes
from the injected clock.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.expiry import Clock, utc_now
from infra.key_vault_secrets import SecretReader
from infra.plan_mocks import AzureMocks, plan_secret_reader
from infra.program import define_stack
from infra.settings import Settings, settings_from_config
from infra.stack_config import REPOSITORY_ROOT, StackConfig, load_stack_config

SECRET = "[secret]"


@dataclass(frozen=True)
class PlannedResource:
    """One resource the program declares: its type token, logical name, parent and inputs."""

    type: str
    name: str
    parent: str | None
    inputs: Mapping[str, Any]
    urn: str
    dependencies: tuple[str, ...] = ()
    # Resource options that change what `pulumi up` does with a diff (ignoreChanges, replaceOnChanges,
    # deleteBeforeReplace), as the engine receives them.
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        document = {"type": self.type, "name": self.name, "parent": self.parent, "inputs": self.inputs}
        if self.options:
            document["options"] = dict(self.options)
        return document


@dataclass(frozen=True)
class Plan:
    stack: str
    resources: list[PlannedResource]
    outputs: Mapping[str, Any]
    warnings: list[str] = field(default_factory=list)

    def named(self, name: str) -> PlannedResource:
        for resource in self.resources:
            if resource.name == name:
                return resource
        raise LookupError(f"no resource named {name!r} in the {self.stack} plan")

    def of_type(self, type_token: str) -> list[PlannedResource]:
        return [resource for resource in self.resources if resource.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> PlannedResource:
        matches = [r for r in self.of_type(type_token) if name is None or r.name == name]
        if len(matches) != 1:
            raise LookupError(f"expected one {type_token} {name or ''} in the plan, found {len(matches)}")
        return matches[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "resources": [resource.to_json() for resource in self.resources],
            "outputs": dict(sorted(self.outputs.items())),
        }


@dataclass(frozen=True)
class _Registration:
    urn: str
    type: str
    name: str
    parent: str
    inputs: dict[str, Any]
    dependencies: tuple[str, ...]
    options: dict[str, Any]


def _diff_options(request: Any) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if request.ignoreChanges:
        options["ignoreChanges"] = sorted(request.ignoreChanges)
    if request.replaceOnChanges:
        options["replaceOnChanges"] = sorted(request.replaceOnChanges)
    if request.deleteBeforeReplace:
        options["deleteBeforeReplace"] = True
    return options


class RecordingMonitor(MockMonitor):
    """The mock monitor, also keeping every registration with its parent (which the mocks never see)."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[_Registration] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = rpc.deserialize_properties(request.object)
            self.registrations.append(
                _Registration(
                    response.urn,
                    request.type,
                    request.name,
                    request.parent,
                    inputs,
                    tuple(request.dependencies),
                    _diff_options(request),
                )
            )
        return response


class _WarningCollector:
    """Receives ``pulumi.log`` messages from the mock engine (``pulumi.log.warn`` in the program)."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def debug(self, message: str) -> None: ...

    def info(self, message: str) -> None: ...

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    def error(self, message: str) -> None:
        self.warnings.append(f"error: {message}")


def settings_for(config: StackConfig, today: date | None = None) -> Settings:
    values = config.as_pulumi_strings()
    return settings_from_config(lambda key: values.get(f"{config.project}:{key}"), config.stack, today)


@dataclass(frozen=True)
class _PlanInputs:
    config: StackConfig
    settings: Settings
    clock: Clock
    repository_root: Path
    secret_reader: SecretReader


def build_plan(
    stack: str,
    *,
    clock: Clock = utc_now,
    gitops_root: Path = REPOSITORY_ROOT,
    config_root: Path = REPOSITORY_ROOT,
    config_values: Mapping[str, Any] | None = None,
    secret_reader: SecretReader = plan_secret_reader,
) -> Plan:
    """Plan ``stack`` from the config files under ``config_root`` (plus ``config_values`` on top, like
    ``pulumi up --config``) and the ``gitops/`` folder under ``gitops_root`` (both this repository unless a
    test points the pins at fixtures). The key vault is never read: ``secret_reader`` stands in for it."""
    config = load_stack_config(stack, config_root).with_values(config_values or {})
    settings = settings_for(config, clock().date())
    inputs = _PlanInputs(config, settings, clock, gitops_root, secret_reader)
    # Pulumi keeps its runtime state in context variables: a fresh context per plan keeps plans apart.
    return contextvars.Context().run(_run_isolated, inputs)


def _run_isolated(inputs: _PlanInputs) -> Plan:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return _run(inputs)
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def _run(inputs: _PlanInputs) -> Plan:
    config, settings = inputs.config, inputs.settings
    pulumi.runtime.set_all_config(config.as_pulumi_strings(), config.secret_keys())
    mocks = AzureMocks()
    monitor = RecordingMonitor(mocks)
    collector = _WarningCollector()
    pulumi.runtime.set_mocks(
        mocks, project=config.project, stack=config.stack, preview=False, monitor=monitor, logger=collector
    )
    resolved: dict[str, Any] = {}

    async def program() -> None:
        outputs = define_stack(
            settings,
            clock=inputs.clock,
            repository_root=inputs.repository_root,
            secret_reader=inputs.secret_reader,
        )
        for name, value in outputs.items():
            output = pulumi.Output.from_input(value)
            secret = await output.is_secret()
            resolved[name] = SECRET if secret else _plain(await output.future())

    _sync_await(run_pulumi_func(program))
    return Plan(
        stack=config.stack,
        resources=_resources(monitor.registrations),
        outputs=resolved,
        warnings=collector.warnings,
    )


def _resources(registrations: list[_Registration]) -> list[PlannedResource]:
    names = {registration.urn: registration.name for registration in registrations}
    repeated = sorted({name for name in names.values() if list(names.values()).count(name) > 1})
    if repeated:
        # The plan names parents by logical name, so logical names must be unique in the program.
        raise ValueError(f"logical resource names used more than once: {', '.join(repeated)}")
    planned = [
        PlannedResource(
            type=item.type,
            name=item.name,
            parent=names.get(item.parent) if item.parent else None,
            inputs=_plain(item.inputs),
            urn=item.urn,
            dependencies=tuple(sorted(names[urn] for urn in item.dependencies if urn in names)),
            options=item.options,
        )
        for item in registrations
        if not (item.type.startswith("pulumi:providers:") and item.name.startswith("default"))
    ]
    parents = {resource.name: resource.parent for resource in planned}

    def path(resource: PlannedResource) -> list[str]:
        names, current = [resource.name], resource.parent
        while current is not None:
            names.insert(0, current)
            current = parents.get(current)
        return names

    # Depth-first, siblings by name: the order of the tree, stable across runs.
    return sorted(planned, key=path)


def _plain(value: Any) -> Any:
    """JSON-ready inputs: secrets masked, enums and resource references reduced to strings, keys sorted."""
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, pulumi.Resource):
        return f"<resource {type(value).__name__}>"
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire carries every number as a double
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return value
    return str(value.value) if hasattr(value, "value") and isinstance(value.value, str) else str(value)
