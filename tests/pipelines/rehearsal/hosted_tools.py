"""The tools a Microsoft-hosted agent has, and those the pipelines install, as wrappers of their stand-ins.

On the hosted image: az, kubectl, docker, helm, curl (wget is curl's stand-in too), make and a system
python3 with pip. Installed by the pipelines themselves: pulumi, argocd and kubelogin, which a step must
download (or KubeloginInstaller@0 put on PATH) before it can run them. Every wrapper runs the stand-in of
standins/ with this interpreter, isolated from the caller's site-packages.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

STANDINS = Path(__file__).resolve().parent / "standins"
HOSTED_TOOLS = ("az", "kubectl", "docker", "helm", "curl", "wget", "make")
INSTALLED_TOOLS = ("pulumi", "argocd", "kubelogin")


def wrapper(path: Path, module: str, extra_env: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\n"
        f'REHEARSAL_INVOKED_AS="$0" {extra_env}exec "{sys.executable}" -E -s -S "{STANDINS / module}.py" "$@"\n'
    )
    path.chmod(0o755)
    return path


def install_tools(folder: Path, python: dict[str, Any]) -> dict[str, Path]:
    """The hosted image's tools under ``folder``/hosted; returns the downloadable tools' wrappers by name."""
    hosted = folder / "hosted" / "bin"
    for tool in HOSTED_TOOLS:
        wrapper(hosted / tool, "curl" if tool == "wget" else tool)
    from tests.pipelines.rehearsal.standins import interpreters

    interpreters.create(folder / "hosted" / "system-python", "system", python)
    for alias in ("python3", "pip3", "pip"):
        (hosted / alias).symlink_to(folder / "hosted" / "system-python" / "bin" / alias)
    return {tool: wrapper(folder / "downloads" / tool, tool) for tool in INSTALLED_TOOLS}
