"""`pulumi up` runs infra/ as a script (runpy.run_path, like pulumi-language-python-exec does): under the
engine, infra/__main__.py must declare the stack from `pulumi.Config`, with the same outputs the offline
plan shows. Pulumi's mocks stand in for the engine here."""

from __future__ import annotations

import asyncio
import contextvars
import runpy
import sys

import pulumi
import pytest
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.plan import RecordingMonitor
from infra.plan_mocks import AzureMocks
from infra.stack_config import REPOSITORY_ROOT, load_stack_config


def run_entrypoint_under_the_engine(stack: str, **values: str) -> tuple[dict, list[str]]:
    config = load_stack_config(stack).with_values(values)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        pulumi.runtime.set_all_config(config.as_pulumi_strings(), config.secret_keys())
        monitor = RecordingMonitor(AzureMocks())
        pulumi.runtime.set_mocks(
            monitor.mocks, project=config.project, stack=stack, preview=False, monitor=monitor
        )
        argv = sys.argv
        sys.argv = [str(REPOSITORY_ROOT / "infra")]
        try:
            _sync_await(
                run_pulumi_func(lambda: runpy.run_path(str(REPOSITORY_ROOT / "infra"), run_name="__main__"))
            )
        finally:
            sys.argv = argv
        outputs = dict(pulumi.runtime.get_root_resource().outputs)
        return outputs, [registration.name for registration in monitor.registrations]
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def test_the_pulumi_entrypoint_declares_the_stack_and_exports_its_outputs():
    outputs, names = contextvars.Context().run(run_entrypoint_under_the_engine, "qa")
    assert {"workspace", "training-cluster", "engine-identity", "diagnostics"} <= set(names)
    assert {
        "resourceGroupName",
        "workspaceName",
        "mlflowTrackingUri",
        "scoringUrl",
        "clusterName",
        "kubeconfig",
    } <= set(outputs)


def test_refused_settings_end_pulumi_up_with_one_line_per_key_and_no_traceback():
    """pulumi-language-python-exec logs a RunError's message alone; any other exception with its traceback."""
    with pytest.raises(pulumi.RunError) as raised:
        contextvars.Context().run(run_entrypoint_under_the_engine, "qa", aksTier="free", devTtlHours="0")
    assert str(raised.value).splitlines() == [
        "stack qa: refused settings",
        "property-price-platform:devTtlHours: 0 is below 1; allowed: an integer from 1 to 336",
        "property-price-platform:aksTier: 'free' is not one of the choices; allowed: one of Free, Standard, Premium",
    ]
