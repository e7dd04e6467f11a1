"""The progress line is drawn only on a terminal; the summary says what the batch did."""

from __future__ import annotations

import io
import json

from estimation_engine.batch import progress
from estimation_engine.batch.progress import BatchSummary, ProgressLine


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_line_is_redrawn_in_place_on_a_terminal_only(monkeypatch):
    monkeypatch.setattr(progress, "REDRAW_SECONDS", 0.0)
    terminal, log = Terminal(), io.StringIO()
    for stream in (terminal, log):
        line = ProgressLine(stream, total=1000, unit_total_is_rows=True)
        line.update(250)
        line.update(500)
        line.close()
    assert log.getvalue() == ""
    drawn = terminal.getvalue()
    assert drawn.startswith("\r  250 rows   25%") and "\r  500 rows   50%" in drawn and drawn.endswith("\n")


def test_the_summary_names_counts_time_and_rate(tmp_path):
    summary = BatchSummary("ames-price v3", "fast-path", "in.csv", "out.parquet", "out.refused.parquet",
                           rows_read=1000, estimated=990, refused=10, with_warnings=4, seconds=2.0,
                           ignored_columns=["Sale_Price"])  # fmt: skip
    text = "\n".join(summary.lines())
    for part in ("rows read: 1,000", "estimated: 990", "refused: 10", "with warnings: 4", "2.0 s (500 rows/s)", "Sale_Price"):  # fmt: skip
        assert part in text
    summary.write_json(tmp_path / "summary.json")
    assert json.loads((tmp_path / "summary.json").read_text())["rows_per_second"] == 500.0
