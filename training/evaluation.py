"""Scoring a model on held-out data: the metrics the gate compares and the plots people look at."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model_contract.artifact import Estimates

PRICE_BANDS = 5
# The point plots draw at most this many test rows (a seeded sample): more is a blot that costs seconds per
# ten thousand points to draw. Coverage by price band always counts every row.
MAX_PLOTTED_POINTS = 5000


def metrics(actual: np.ndarray, estimates: Estimates) -> dict[str, float]:
    """Point accuracy on the original and log scales, and how the intervals behaved."""
    price = estimates.price
    error = price - actual
    log_error = np.log(price) - np.log(actual)
    inside = (actual >= estimates.low) & (actual <= estimates.high)
    total = np.sum((actual - actual.mean()) ** 2)
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "r2": float(1 - np.sum(error**2) / total) if total > 0 else 0.0,
        "mape": float(np.mean(np.abs(error) / actual)),
        "rmse_log": float(np.sqrt(np.mean(log_error**2))),
        "interval_coverage": float(np.mean(inside)),
        "interval_mean_width": float(np.mean(estimates.high - estimates.low)),
        "interval_mean_relative_width": float(np.mean((estimates.high - estimates.low) / price)),
    }


def coverage_by_price_band(actual: np.ndarray, estimates: Estimates, bands: int = PRICE_BANDS) -> list[dict]:
    """Empirical coverage per band of actual price (quantile bands), to see where ranges are too tight."""
    edges = np.quantile(actual, np.linspace(0, 1, bands + 1))
    index = np.clip(np.searchsorted(edges, actual, side="right") - 1, 0, bands - 1)
    inside = (actual >= estimates.low) & (actual <= estimates.high)
    return [
        {
            "low": float(edges[b]),
            "high": float(edges[b + 1]),
            "count": int(np.sum(index == b)),
            "coverage": float(np.mean(inside[index == b])) if np.any(index == b) else float("nan"),
        }
        for b in range(bands)
    ]


def save_plots(actual: np.ndarray, estimates: Estimates, nominal: float, folder: Path) -> list[Path]:
    """Predicted vs actual, residuals, coverage by price band, as PNG files in ``folder``.

    The two point plots show at most ``MAX_PLOTTED_POINTS`` rows, the same seeded sample in both.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    shown = plotted_rows(len(actual))
    sample = Estimates(estimates.price[shown], estimates.low[shown], estimates.high[shown])
    split = "test split" + ("" if len(shown) == len(actual) else f", {len(shown):,} of {len(actual):,} rows")
    paths = []
    for name, draw, rows in (
        ("predicted_vs_actual.png", _predicted_vs_actual, (actual[shown], sample, split)),
        ("residuals.png", _residuals, (actual[shown], sample, split)),
        ("interval_coverage_by_price_band.png", _coverage, (actual, estimates, "test split")),
    ):
        figure, axes = plt.subplots(figsize=(6, 4.5), dpi=100)
        draw(axes, *rows, nominal)
        figure.tight_layout()
        figure.savefig(folder / name)
        plt.close(figure)
        paths.append(folder / name)
    return paths


def plotted_rows(rows: int, limit: int = MAX_PLOTTED_POINTS) -> np.ndarray:
    """Positions of the rows the point plots draw: all of them, or a seeded sample of ``limit``."""
    if rows <= limit:
        return np.arange(rows)
    return np.sort(np.random.default_rng(0).choice(rows, size=limit, replace=False))


def _predicted_vs_actual(axes, actual, estimates, split, nominal) -> None:
    axes.errorbar(
        actual, estimates.price,
        yerr=[estimates.price - estimates.low, estimates.high - estimates.price],
        fmt="o", markersize=2, elinewidth=0.4, alpha=0.5, label=f"estimate with {nominal:.0%} range",
    )  # fmt: skip
    limits = [min(actual.min(), estimates.low.min()), max(actual.max(), estimates.high.max())]
    axes.plot(limits, limits, color="black", linewidth=0.8, label="perfect")
    axes.set(xscale="log", yscale="log", xlabel="actual price ($)", ylabel="estimated price ($)")
    axes.set_title(f"Predicted vs actual ({split})")
    axes.legend(loc="upper left", fontsize=8)


def _residuals(axes, actual, estimates, split, nominal) -> None:
    axes.scatter(estimates.price, np.log(actual) - np.log(estimates.price), s=4, alpha=0.6)
    axes.axhline(0, color="black", linewidth=0.8)
    axes.set(xscale="log", xlabel="estimated price ($)", ylabel="log(actual) - log(estimate)")
    axes.set_title(f"Residuals on log scale ({split})")


def _coverage(axes, actual, estimates, split, nominal) -> None:
    rows = coverage_by_price_band(actual, estimates)
    labels = [f"{r['low'] / 1000:.0f}k-{r['high'] / 1000:.0f}k" for r in rows]
    axes.bar(labels, [r["coverage"] for r in rows], color="tab:blue")
    axes.axhline(nominal, color="tab:red", linestyle="--", label=f"nominal {nominal:.0%}")
    axes.set(ylim=(0, 1.05), xlabel="actual price band", ylabel="share inside the range")
    axes.set_title(f"Interval coverage by price band ({split})")
    axes.legend(loc="lower right", fontsize=8)
