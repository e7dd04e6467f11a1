"""The layout as checks: which package may import which, no import cycle, no module too long to read.

The allowed directions are the architecture (README, "Where things live"): model_contract is what the
others share and imports none of them; delivery changes what runs where and never trains; training asks
delivery for its bump PR; the engine holds only the contract package beside itself (its image holds no
more); infra reads the pin contract. Imports are read from the source (every ``import`` and ``from``,
also those inside functions), not from what happens to be loaded.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGES = ("model_contract", "delivery", "training", "estimation_engine", "infra")
ALLOWED = {
    "model_contract": set(),
    "delivery": {"model_contract"},
    "training": {"model_contract", "delivery"},
    "estimation_engine": {"model_contract"},
    "infra": {"model_contract"},
}
# Folders that hold no source of the repository: local environments, state and build output (what
# .gitignore leaves out). Every other .py file, tests and their rehearsal included, is read whole.
NOT_SOURCE = frozenset({
    ".git", ".venv", ".checkov-venv", "mutants", "build", "dist", ".mlops", ".bench", "mlruns",
    "__pycache__", ".pytest_cache", ".ruff_cache",
})  # fmt: skip
MAX_LINES = 400


def modules(folder: Path) -> Iterator[Path]:
    yield from sorted(path for path in folder.rglob("*.py") if "__pycache__" not in path.parts)


def repository_sources() -> Iterator[Path]:
    """Every .py file of the repository; local environments and state are not descended into (the
    virtual environments alone hold tens of thousands of files)."""
    for folder, subfolders, files in os.walk(REPO_ROOT):
        subfolders[:] = sorted(
            name for name in subfolders if name not in NOT_SOURCE and not name.endswith(".egg-info")
        )
        yield from (Path(folder) / name for name in sorted(files) if name.endswith(".py"))


def imported_packages(source: Path) -> set[str]:
    """The top-level packages of this repository a module imports (absolute imports; relative ones stay
    inside the module's own package)."""
    found = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


def package_graph() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> the modules that import it."""
    graph: dict[str, dict[str, list[str]]] = {package: {} for package in PACKAGES}
    for package in PACKAGES:
        for source in modules(REPO_ROOT / package):
            for other in imported_packages(source) - {package}:
                graph[package].setdefault(other, []).append(str(source.relative_to(REPO_ROOT)))
    return graph


def test_every_top_level_package_is_in_the_layout():
    found = {path.parent.name for path in REPO_ROOT.glob("*/__init__.py")} - {"tests"}
    assert found == set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_what_the_layout_allows(package):
    unexpected = {
        other: importers
        for other, importers in package_graph()[package].items()
        if other not in ALLOWED[package]
    }
    assert unexpected == {}, f"{package} may import only {sorted(ALLOWED[package])}"


def test_no_import_cycle_between_packages():
    graph = {package: set(edges) for package, edges in package_graph().items()}

    def cycle_from(start: str, path: tuple[str, ...]) -> tuple[str, ...] | None:
        for other in sorted(graph[path[-1]]):
            if other == start:
                return (*path, other)
            if other not in path and (found := cycle_from(start, (*path, other))):
                return found
        return None

    cycles = [cycle for package in PACKAGES if (cycle := cycle_from(package, (package,)))]
    assert cycles == []


def test_nothing_but_the_engine_imports_the_engine():
    """Its image holds estimation_engine/ and model_contract/ only; nothing of the system may need it
    (tests, benchmarks and the demo may: they drive it)."""
    assert [package for package, edges in package_graph().items() if "estimation_engine" in edges] == []


def test_no_module_is_over_400_lines():
    """Tests too: a test module or harness too long to read hides what it proves as well as code does."""
    sources = list(repository_sources())
    # The walk must reach every place Python lives, or this check would pass by reading nothing.
    reached = {source.relative_to(REPO_ROOT).parts[0] for source in sources}
    assert reached >= {*PACKAGES, "tests", "scripts", "benchmarks", ".pipelines"}
    long = {
        str(source.relative_to(REPO_ROOT)): lines
        for source in sources
        if (lines := len(source.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, "split a module by job before it grows past 400 lines"


def test_installing_the_distribution_installs_every_package_and_names_no_placeholder():
    """``pip install .`` (the engine image) and ``pip install -e .`` find packages by pyproject's patterns:
    every package of the repository must match one; the project's URLs, if any, must be real."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {
        ".".join(path.parent.relative_to(REPO_ROOT).parts)
        for package in PACKAGES
        for path in (REPO_ROOT / package).rglob("__init__.py")
    }
    assert {name for name in packages if not any(fnmatch.fnmatch(name, p) for p in patterns)} == set()
    urls = " ".join(project["project"].get("urls", {}).values())
    assert not any(placeholder in urls for placeholder in ("your-org", "example.com", "<"))
