"""What a batch tells the person running it: a progress line on a terminal, a summary at the end.

The progress line is redrawn in place (carriage return) at most a few times a second, and only when
stderr is a terminal: in a log file or a CI job it would be thousands of lines of noise, so there only the
summary is printed. The fraction done is by rows for Parquet (the footer counts them) and by bytes of the
file read so far for CSV.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

REDRAW_SECONDS = 0.25


class ProgressLine:
    """``  412,000 rows  38%  41,000 rows/s`` on a terminal; nothing anywhere else."""

    def __init__(self, stream: TextIO, total: int | None, unit_total_is_rows: bool) -> None:
        self.stream = stream
        self.enabled = _is_terminal(stream)
        self.total = total
        self.by_rows = unit_total_is_rows
        self.started = time.monotonic()
        self._drawn = 0.0

    def update(self, rows: int, position: int = 0) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._drawn < REDRAW_SECONDS:
            return
        self._drawn = now
        elapsed = max(now - self.started, 1e-9)
        done = rows if self.by_rows else position
        share = f"  {min(done / self.total, 1.0):4.0%}" if self.total else ""
        self.stream.write(f"\r  {rows:,} rows{share}  {rows / elapsed:,.0f} rows/s ")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class BatchSummary:
    """What a finished batch did; printed for people, and as JSON with ``--summary-json``."""

    model: str
    evaluation: str
    input: str
    output: str
    refused_output: str
    rows_read: int = 0
    estimated: int = 0
    refused: int = 0
    with_warnings: int = 0
    seconds: float = 0.0
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        lines = [
            f"model: {self.model} ({self.evaluation})",
            f"rows read: {self.rows_read:,} from {self.input}",
            f"estimated: {self.estimated:,} -> {self.output}",
            f"refused: {self.refused:,} -> {self.refused_output}",
            f"with warnings: {self.with_warnings:,}",
            f"time: {self.seconds:.1f} s ({self.rows_per_second:,.0f} rows/s)",
        ]
        if self.ignored_columns:
            shown = ", ".join(self.ignored_columns[:10]) + (" ..." if len(self.ignored_columns) > 10 else "")
            lines.append(f"columns not used by the model: {shown}")
        return lines

    def write_json(self, path: Path) -> None:
        record = {**asdict(self), "rows_per_second": round(self.rows_per_second, 1)}
        Path(path).write_text(json.dumps(record, indent=2) + "\n")
