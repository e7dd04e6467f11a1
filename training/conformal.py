"""Split-conformal prediction intervals, calibrated per predicted-price band (Mondrian conformal).

On a calibration split the model never trained on, the absolute log-scale residuals give, per band of
predicted price, the half-width that covers the nominal share of cases. The guarantee holds per band
under exchangeability, so the interval is honest for cheap and expensive homes alike, and on log scale
its width in dollars grows with the price.
"""

from __future__ import annotations

import math

import numpy as np

from training.artifact import IntervalBand

MIN_PER_BAND = 50


class CalibrationError(ValueError):
    """Too few calibration rows for the requested coverage."""


def calibrate(
    predicted: np.ndarray, actual: np.ndarray, coverage: float, bands: int, min_per_band: int = MIN_PER_BAND
) -> tuple[IntervalBand, ...]:
    """Interval bands from calibration predictions and outcomes (both in price units)."""
    log_predicted, residual = np.log(predicted), np.abs(np.log(actual) - np.log(predicted))
    bands = max(1, min(bands, len(residual) // min_per_band))
    edges = np.quantile(log_predicted, np.linspace(0, 1, bands + 1)[1:-1]) if bands > 1 else np.array([])
    assignment = np.searchsorted(edges, log_predicted, side="right")
    result = []
    for band in range(bands):
        upper = float(edges[band]) if band < len(edges) else None
        result.append(IntervalBand(upper, _conformal_quantile(residual[assignment == band], coverage)))
    return tuple(result)


def _conformal_quantile(residuals: np.ndarray, coverage: float) -> float:
    """The ceil((n+1)·coverage)-th smallest residual: the finite-sample-valid split-conformal quantile."""
    n = len(residuals)
    rank = math.ceil((n + 1) * coverage)
    if rank > n:
        raise CalibrationError(
            f"{n} calibration rows cannot certify {coverage:.0%} coverage; raise split.calibration_fraction"
        )
    return float(np.sort(residuals)[rank - 1])
