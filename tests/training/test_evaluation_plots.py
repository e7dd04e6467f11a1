"""The run's plots: every test row counts in the coverage plot, the point plots draw a bounded sample."""

from __future__ import annotations

import numpy as np
import pytest

from model_contract.artifact import Estimates
from training.evaluation import MAX_PLOTTED_POINTS, plotted_rows, save_plots


def test_the_point_plots_draw_every_row_up_to_the_limit_then_a_seeded_sample():
    assert np.array_equal(plotted_rows(1200), np.arange(1200))
    sample = plotted_rows(60_000)
    assert len(sample) == MAX_PLOTTED_POINTS == len(set(sample)) and np.all(np.diff(sample) > 0)
    assert np.array_equal(sample, plotted_rows(60_000)) and sample.max() < 60_000


@pytest.mark.parametrize("rows", [300, MAX_PLOTTED_POINTS + 700])
def test_the_plots_are_written_for_small_and_large_test_splits(tmp_path, rows, monkeypatch):
    import matplotlib.axes

    titles = []
    monkeypatch.setattr(matplotlib.axes.Axes, "set_title", lambda self, title, *a, **k: titles.append(title))
    generator = np.random.default_rng(0)
    price = np.exp(generator.uniform(11, 13, rows))
    actual = price * np.exp(generator.normal(0, 0.1, rows))
    paths = save_plots(actual, Estimates(price, price * 0.85, price * 1.15), 0.9, tmp_path)
    assert [p.name for p in paths] == ["predicted_vs_actual.png", "residuals.png",
                                       "interval_coverage_by_price_band.png"]  # fmt: skip
    assert all(p.stat().st_size > 0 for p in paths)
    shown = f", {MAX_PLOTTED_POINTS:,} of {rows:,} rows" if rows > MAX_PLOTTED_POINTS else ""
    assert titles == [f"Predicted vs actual (test split{shown})", f"Residuals on log scale (test split{shown})",
                      "Interval coverage by price band (test split)"]  # fmt: skip
