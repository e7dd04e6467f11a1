"""The stack config is what `pulumi up` would pass: Pulumi.yaml defaults merged under the stack file."""

from __future__ import annotations

import json
from typing import get_origin

import pytest
import yaml

from infra.settings import CONFIG_KEYS, Settings
from infra.stack_config import REPOSITORY_ROOT, load_config_file, load_stack_config, project_file
from model_contract.config_error import ConfigError


def test_defaults_apply_and_the_stack_file_wins():
    values = load_stack_config("dev").as_pulumi_strings()
    assert values["property-price-platform:location"] == "westeurope"  # default only
    assert values["property-price-platform:computeMaxNodes"] == "1"  # stack overrides default 2
    assert values["property-price-platform:containerExpiry"] == "true"
    assert json.loads(values["property-price-platform:tags"]) == ["cost-center=ml-dev"]


def test_every_project_setting_is_typed_and_described():
    project = yaml.safe_load((REPOSITORY_ROOT / "Pulumi.yaml").read_text())
    assert project["main"] == "infra/"
    assert project["stackConfigDir"] == "environments"
    assert project["runtime"]["options"] == {"toolchain": "pip", "virtualenv": ".venv"}
    for key, declaration in project["config"].items():
        assert declaration.get("type") in ("string", "integer", "boolean", "array"), key
        assert declaration.get("description"), key


def _pulumi_type(annotation: object) -> str:
    """The Pulumi.yaml ``type`` that carries a field of this Python type (arrays arrive as JSON)."""
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "integer"
    return "array" if get_origin(annotation) in (tuple, dict) else "string"


def test_pulumi_yaml_declares_exactly_the_settings_the_model_reads_with_their_types():
    """Pulumi.yaml is where every key gets its default and description: a key only one side knows fails."""
    declared = project_file()["config"]
    assert sorted(set(CONFIG_KEYS) - set(declared)) == [], "read by infra.settings, missing from Pulumi.yaml"
    assert sorted(set(declared) - set(CONFIG_KEYS)) == [], (
        "in Pulumi.yaml, read by no field of infra.settings"
    )
    for field in Settings.model_fields.values():
        if field.alias in declared:
            assert declared[field.alias]["type"] == _pulumi_type(field.annotation), field.alias


def test_stack_files_only_hold_project_settings_that_exist():
    project = yaml.safe_load((REPOSITORY_ROOT / "Pulumi.yaml").read_text())
    for path in sorted((REPOSITORY_ROOT / "environments").glob("Pulumi.*.yaml")):
        for key in yaml.safe_load(path.read_text())["config"]:
            namespace, _, name = key.partition(":")
            assert namespace == "property-price-platform", (path.name, key)
            assert name in project["config"], (path.name, key)


def test_secure_values_are_kept_apart(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text(
        "name: demo\nruntime: python\nconfig:\n  token:\n    type: string\n"
    )
    (tmp_path / "Pulumi.s.yaml").write_text("config:\n  demo:token:\n    secure: v1:abc\n")
    config = load_stack_config("s", tmp_path)
    assert config.secret_keys() == ["demo:token"]


def test_an_unknown_stack_names_the_missing_file_and_the_known_ones():
    with pytest.raises(
        ConfigError, match=r"Pulumi.staging.yaml: missing; allowed: a stack with a file: dev, prod, qa$"
    ):
        load_stack_config("staging")


def test_a_stack_file_that_is_not_yaml_is_refused_naming_the_file_and_line(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: demo\nruntime: python\n")
    (tmp_path / "Pulumi.s.yaml").write_text("config:\n  demo:a: [unclosed\n")
    with pytest.raises(
        ConfigError, match=r"Pulumi.s.yaml: not valid YAML \(line \d+: .*\); allowed: a stack file"
    ):
        load_stack_config("s", tmp_path)


def test_a_config_file_that_is_not_a_mapping_is_refused(tmp_path):
    (tmp_path / "extra.yaml").write_text("- a\n- b\n")
    with pytest.raises(
        ConfigError, match=r"extra.yaml: is not a mapping; allowed: a YAML mapping of setting to value"
    ):
        load_config_file(tmp_path / "extra.yaml")
