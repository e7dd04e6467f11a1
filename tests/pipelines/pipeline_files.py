"""Reading .pipelines/: the pipelines, their templates expanded with the parameters passed, their scripts.

Azure Pipelines expands ``template:`` references when it compiles a run, substituting
``${{ parameters.x }}``; this module does the same (textually, which is all the templates here use), so a
script is checked as it will run, with the values its caller passed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PIPELINES_DIR = REPO_ROOT / ".pipelines"
TEMPLATES_DIR = PIPELINES_DIR / "templates"
PARAMETER = re.compile(r"\$\{\{\s*parameters\.(\w+)\s*\}\}")
# Steps whose body is a shell script, and where it is: the `script`/`bash` step keys, or a task input.
SCRIPT_KEYS = ("script", "bash")
TASK_SCRIPT_INPUTS = {"AzureCLI@2": "inlineScript", "Bash@3": "script"}


class TemplateError(AssertionError):
    """A template reference that does not resolve, or parameters that do not match its declaration."""


@dataclass(frozen=True)
class Script:
    """One shell script as it will run: its text after template expansion, and where it came from."""

    text: str
    source: str


def pipeline_files() -> list[Path]:
    """The pipelines Azure DevOps runs: the YAML files directly under .pipelines/."""
    return sorted(PIPELINES_DIR.glob("*.yml"))


def template_files() -> list[Path]:
    return sorted(TEMPLATES_DIR.rglob("*.yml"))


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def template_kind(document: dict) -> str:
    """Which schema definition a template file is: steps, jobs, stages or variables."""
    kinds = [key for key in ("steps", "jobs", "stages", "variables") if key in document]
    if len(kinds) != 1:
        raise TemplateError(f"a template holds exactly one of steps/jobs/stages/variables, found {kinds}")
    return kinds[0]


def expand(path: Path, parameters: dict[str, Any] | None = None, used: set[Path] | None = None) -> Any:
    """The document at ``path`` with its parameters substituted and every template reference inlined."""
    document = load(path)
    if parameters is not None:  # a template: bind its declared parameters
        document = _bind(document, path, parameters)
    return _inline(document, path, used if used is not None else set())


def compile_pipeline(path: Path, parameters: dict[str, Any] | None = None) -> Any:
    """The pipeline as Azure Pipelines compiles one run: its own runtime parameters bound (the values passed,
    else the defaults, checked against ``type`` and ``values``), then every template inlined."""
    document = load(path)
    declared = {item["name"]: item for item in document.get("parameters", [])}
    passed = {name: _runtime_value(path, declared, name, value) for name, value in (parameters or {}).items()}
    document = _bind(document, path, passed)
    return _inline(document, path, set())


def _runtime_value(path: Path, declared: dict[str, Any], name: str, value: Any) -> Any:
    if name not in declared:
        raise TemplateError(f"{path.name}: no runtime parameter {name!r}")
    kind = declared[name].get("type", "string")
    if kind == "boolean":
        if not isinstance(value, bool) and str(value).lower() not in ("true", "false"):
            raise TemplateError(f"{path.name}: parameter {name} is a boolean, got {value!r}")
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if kind == "number":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise TemplateError(f"{path.name}: parameter {name} is a number, got {value!r}") from None
    return value


def scripts(document: Any, source: str) -> Iterator[Script]:
    """Every shell script in an expanded document."""
    if isinstance(document, dict):
        for key in SCRIPT_KEYS:
            if isinstance(document.get(key), str):
                yield Script(document[key], f"{source}: {document.get('displayName', key)}")
        task_input = TASK_SCRIPT_INPUTS.get(str(document.get("task")))
        if task_input and isinstance(document.get("inputs", {}).get(task_input), str):
            yield Script(
                document["inputs"][task_input], f"{source}: {document.get('displayName', document['task'])}"
            )
        for value in document.values():
            yield from scripts(value, source)
    elif isinstance(document, list):
        for item in document:
            yield from scripts(item, source)


def _bind(document: dict, path: Path, passed: dict[str, Any]) -> Any:
    declared = {item["name"]: item for item in document.get("parameters", [])}
    unknown = set(passed) - set(declared)
    if unknown:
        raise TemplateError(f"{_shown(path)}: no parameter(s) {sorted(unknown)}")
    values = {}
    for name, item in declared.items():
        if name in passed:
            values[name] = passed[name]
        elif "default" in item:
            values[name] = item["default"]
        else:
            raise TemplateError(f"{_shown(path)}: parameter {name!r} is required but not passed")
        allowed = item.get("values")
        if allowed and not PARAMETER.search(str(values[name])) and values[name] not in allowed:
            raise TemplateError(f"{_shown(path)}: {name}={values[name]!r} is not one of {allowed}")
    body = {key: value for key, value in document.items() if key != "parameters"}
    return _substitute(body, values)


def _shown(path: Path) -> Path:
    """A file's path for messages: relative to the repository when it is in it (a rehearsal compiles copies)."""
    return path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path


def _substitute(value: Any, parameters: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {_substitute(k, parameters): _substitute(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(item, parameters) for item in value]
    if isinstance(value, str):
        return PARAMETER.sub(lambda match: _render(parameters.get(match.group(1), match.group(0))), value)
    return value


def _render(value: Any) -> str:
    """How Azure Pipelines prints a parameter inside a string (booleans as True/False)."""
    return str(value)


def _inline(value: Any, path: Path, used: set[Path]) -> Any:
    if isinstance(value, list):
        inlined = []
        for item in value:
            if isinstance(item, dict) and "template" in item:
                target = (path.parent / item["template"]).resolve()
                if not target.is_file():
                    raise TemplateError(f"{_shown(path)}: template {item['template']} does not exist")
                used.add(target)
                expanded = expand(target, item.get("parameters", {}), used)
                inlined.extend(expanded[template_kind(expanded)] or [])
            else:
                inlined.append(_inline(item, path, used))
        return inlined
    if isinstance(value, dict):
        return {key: _inline(item, path, used) for key, item in value.items()}
    return value
