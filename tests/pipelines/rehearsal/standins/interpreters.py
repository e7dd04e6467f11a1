"""Emulated Python interpreters: the agent's system python3, the tool cache's (UsePythonVersion@0) and every
virtual environment a step (or Pulumi) creates with ``python -m venv``.

Each is a folder like a real one (``bin/python``, ``bin/pip``, ``pyvenv.cfg`` for venvs) whose ``python``
runs the dispatcher (python.py) with the folder. What is installed in it is recorded in
``rehearsal-python.json``: an interpreter imports this repository and its dependencies only after a
``pip install`` of the repository *into that interpreter*, which is the distinction Pulumi's
``virtualenv`` option depends on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

MANIFEST = "rehearsal-python.json"


def create(root: Path, kind: str, settings: dict[str, Any]) -> Path:
    """An empty interpreter at ``root`` (``settings``: the run's python.json: harness, standins, version)."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    python = bin_dir / "python"
    python.write_text(
        f'#!/bin/sh\nexec "{settings["harness"]}" -E -s -S "{settings["standins"]}/python.py" "{root}" "$@"\n'
    )
    pip = bin_dir / "pip"
    pip.write_text(f'#!/bin/sh\nexec "{python}" -m pip "$@"\n')
    activate = bin_dir / "activate"
    activate.write_text(f'VIRTUAL_ENV="{root}"\nexport VIRTUAL_ENV\nPATH="{bin_dir}:$PATH"\nexport PATH\n')
    for executable in (python, pip):
        executable.chmod(0o755)
    major_minor = ".".join(settings["version"].split(".")[:2])
    for alias, target in (("python3", "python"), (f"python{major_minor}", "python"), ("pip3", "pip")):
        link = bin_dir / alias
        if not link.exists():
            link.symlink_to(target)
    if kind == "venv":
        (root / "pyvenv.cfg").write_text(f"home = {settings['base_home']}\nversion = {settings['version']}\n")
    write_manifest(root, {"kind": kind, "installed": [], "extras": [], "project": None})
    return python


def read_manifest(root: Path) -> dict[str, Any]:
    return json.loads((root / MANIFEST).read_text())


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1))


def environment_for(manifest: dict[str, Any]) -> dict[str, str]:
    """The environment under which the real interpreter sees exactly what was installed."""
    environment = dict(os.environ)
    paths = [*manifest["installed"], *filter(None, environment.get("PYTHONPATH", "").split(":"))]
    environment["PYTHONPATH"] = ":".join(paths)
    environment["PYTHONNOUSERSITE"] = "1"
    return environment
