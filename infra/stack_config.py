"""A stack's configuration as ``pulumi up`` would see it, read from the files without the Pulumi CLI.

``pulumi up`` merges the ``config:`` defaults of ``Pulumi.yaml`` with ``environments/Pulumi.<stack>.yaml``
and hands the program strings (lists and objects as JSON). Pulumi's mocks do not do that merge, so the
offline plan and the tests use this module to build the same bag of values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from model_contract.config_error import ConfigError

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILE = "Pulumi.yaml"
_SETTINGS_MAPPING = "a YAML mapping of setting to value"


@dataclass(frozen=True)
class ConfigValue:
    """One setting: its raw value as written, and whether the file holds it encrypted (``secure:``)."""

    value: Any
    secure: bool = False


@dataclass(frozen=True)
class StackConfig:
    """The merged configuration of one stack, keyed ``<namespace>:<key>``."""

    project: str
    stack: str
    values: Mapping[str, ConfigValue] = field(default_factory=dict)

    def as_pulumi_strings(self) -> dict[str, str]:
        """Values the way the Pulumi engine passes them to a program: strings, with JSON for structures."""
        return {key: _to_config_string(item.value) for key, item in sorted(self.values.items())}

    def secret_keys(self) -> list[str]:
        return sorted(key for key, item in self.values.items() if item.secure)

    def with_values(self, values: Mapping[str, Any]) -> StackConfig:
        """This config with ``values`` set on top, like ``pulumi up --config key=value`` (keys without a
        namespace are the project's)."""
        merged = dict(self.values)
        merged.update({_qualified(self.project, key): ConfigValue(value) for key, value in values.items()})
        return StackConfig(project=self.project, stack=self.stack, values=merged)


def project_file(root: Path = REPOSITORY_ROOT) -> dict[str, Any]:
    path = root / PROJECT_FILE
    allowed = "the Pulumi project file: a YAML mapping with a 'name'"
    document = _read_yaml(path, allowed)
    if not isinstance(document, dict) or not isinstance(document.get("name"), str):
        raise ConfigError.of(str(path), "has no 'name'", allowed)
    return document


def stack_file_path(stack: str, root: Path = REPOSITORY_ROOT) -> Path:
    config_dir = project_file(root).get("stackConfigDir") or "."
    return root / config_dir / f"Pulumi.{stack}.yaml"


def available_stacks(root: Path = REPOSITORY_ROOT) -> list[str]:
    folder = stack_file_path("x", root).parent
    return sorted(path.name[len("Pulumi.") : -len(".yaml")] for path in folder.glob("Pulumi.*.yaml"))


def load_stack_config(stack: str, root: Path = REPOSITORY_ROOT) -> StackConfig:
    """Merge the project defaults and the stack file, as the Pulumi engine does."""
    project = project_file(root)
    name = project["name"]
    values: dict[str, ConfigValue] = {}
    for key, declaration in (project.get("config") or {}).items():
        default = _project_default(declaration)
        if default is not _NO_DEFAULT:
            values[_qualified(name, key)] = ConfigValue(default)
    path = stack_file_path(stack, root)
    if not path.is_file():
        raise ConfigError.of(
            str(path), "missing", f"a stack with a file: {', '.join(available_stacks(root)) or 'none'}"
        )
    allowed = f"a stack file: a YAML mapping whose 'config' maps {name}:<key> to values"
    document = _read_yaml(path, allowed) or {}
    stack_values = (document.get("config") or {}) if isinstance(document, dict) else None
    if not isinstance(stack_values, dict):
        raise ConfigError.of(str(path), "'config' is not a mapping", allowed)
    for key, raw in stack_values.items():
        secure = isinstance(raw, dict) and set(raw) == {"secure"}
        values[_qualified(name, key)] = ConfigValue(raw["secure"] if secure else raw, secure=secure)
    return StackConfig(project=name, stack=stack, values=values)


_NO_DEFAULT = object()


def _project_default(declaration: Any) -> Any:
    """A project-level entry is either a bare value, ``{value: ...}`` or a typed declaration."""
    if not isinstance(declaration, dict):
        return declaration
    if "value" in declaration:
        return declaration["value"]
    return declaration.get("default", _NO_DEFAULT)


def load_config_file(path: Path) -> dict[str, Any]:
    """Extra settings from a YAML mapping of key to value (``key`` or ``<namespace>:key``), for the plan."""
    document = _read_yaml(path, _SETTINGS_MAPPING)
    if not isinstance(document, dict):
        raise ConfigError.of(str(path), "is not a mapping", _SETTINGS_MAPPING)
    return {str(key): value for key, value in document.items()}


def _read_yaml(path: Path, allowed: str) -> Any:
    """The document in ``path``; a missing or unparsable file is refused naming what belongs there."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError.of(str(path), "missing", allowed) from None
    except yaml.YAMLError as error:
        raise ConfigError.of(str(path), f"not valid YAML ({_first_line(error)})", allowed) from None


def _first_line(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    where = f"line {mark.line + 1}: " if mark is not None else ""
    return where + str(getattr(error, "problem", None) or error).splitlines()[0]


def _qualified(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def _to_config_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, sort_keys=True)
