"""Resource providers a fresh subscription needs: the list covers every namespace the stacks declare."""

from __future__ import annotations

import os
import stat

import pytest

from infra.cli import main
from infra.resource_providers import REQUIRED_PROVIDERS, namespace_of
from model_contract.pins import ENVIRONMENTS


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_every_namespace_a_stack_declares_is_in_the_list(pinned_plans, stack):
    listed = {provider.namespace for provider in REQUIRED_PROVIDERS}
    declared = {namespace_of(resource.type) for resource in pinned_plans[stack].resources} - {None}
    assert declared <= listed


def test_the_cli_lists_them_one_a_line(capsys):
    assert main(["providers"]) == 0
    assert capsys.readouterr().out.split() == [provider.namespace for provider in REQUIRED_PROVIDERS]


def fake_az(tmp_path, registered: set[str]) -> None:
    script = tmp_path / "az"
    script.write_text(
        "#!/usr/bin/env python3\nimport json, sys\n"
        f"registered = {sorted(registered)!r}\n"
        "namespace = sys.argv[sys.argv.index('--namespace') + 1]\n"
        "state = 'Registered' if namespace in registered else 'NotRegistered'\n"
        "print(json.dumps({'namespace': namespace, 'registrationState': state}))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_the_check_names_the_unregistered_ones(tmp_path, monkeypatch, capsys):
    everything = {provider.namespace for provider in REQUIRED_PROVIDERS}
    fake_az(tmp_path, everything - {"Microsoft.ContainerService"})
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert main(["providers", "--check"]) == 1
    assert "not registered: Microsoft.ContainerService" in capsys.readouterr().out
    fake_az(tmp_path, everything)
    assert main(["providers", "--check"]) == 0
