"""What all rehearsed runs of a test session share, and the numbered folders each run and agent gets."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.pipelines.rehearsal.errors import RehearsalError
from tests.pipelines.rehearsal.hosted_tools import STANDINS
from tests.pipelines.rehearsal.source import SourceRepository


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


def fresh_folder(parent: Path, stem: str) -> str:
    parent.mkdir(parents=True, exist_ok=True)
    for index in range(1000):
        candidate = parent / f"{stem}-{index}"
        try:
            candidate.mkdir()
            return str(candidate)
        except FileExistsError:
            continue
    raise RehearsalError(f"no free folder under {parent}")
