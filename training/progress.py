"""Readable progress of a training run: which step, how long it took."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Report = Callable[[str], None]


class Progress:
    """Readable progress: which step, how long it took."""

    def __init__(self, report: Report = print) -> None:
        self.report = report

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        self.report(f"-> {name} ...")
        yield
        self.report(f"   {name}: done in {time.perf_counter() - started:.1f}s")
