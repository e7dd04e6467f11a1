"""Split-conformal prediction intervals, calibrated per predicted-price band (Mondrian conformal).

On a calibration split the model never trained on, the absolute log-scale residuals give, per band of
predicted price, the half-width that covers the nominal share of cases. The guarantee holds per band
under exchangeability, so the interval is honest for cheap and expensive homes alike, and on log scale
its width in dollars grows with the price.
"""

from __future__ import annotations

import math

import numpy as np

from model_contract.artifact import IntervalBand

MIN_PER_BAND = 50


class CalibrationError(ValueError):
    """Too few calibration rows for the requested coverage, or predictions/outcomes that are not prices."""


def calibrate(
    predicted: np.ndarray, actual: np.ndarray, coverage: float, bands: int, min_per_band: int = MIN_PER_BAND
) -> tuple[IntervalBand, ...]:
    """Interval bands from calibration predictions and outcomes (both in price units).

    Bands are cut at quantiles of the predicted log price, and a row on an edge belongs to the band above
    it, as in ``PriceModel.bound``. Every band keeps at least ``min_per_band`` rows and at least as many as
    the coverage needs: a small calibration split or predictions that tie (a tree model's plateaus) give
    fewer bands, never an empty or uncertifiable one.
    """
    if not 0 < coverage < 1:
        raise CalibrationError(f"coverage {coverage!r} must lie strictly between 0 and 1")
    log_predicted, residual = _log_residuals(predicted, actual)
    edges = _band_edges(log_predicted, bands, max(min_per_band, rows_needed(coverage)))
    assignment = np.searchsorted(edges, log_predicted, side="right")
    return tuple(
        IntervalBand(
            float(edges[band]) if band < len(edges) else None,
            conformal_quantile(residual[assignment == band], coverage),
        )
        for band in range(len(edges) + 1)
    )


def conformal_rank(n: int, coverage: float) -> int:
    """Which order statistic of n calibration scores bounds a new case's score with the nominal coverage.

    For exchangeable scores, a new score is at most the ceil((n+1)·coverage)-th smallest of n with
    probability at least ``coverage`` (and, for continuous scores, at most coverage + 1/(n+1)).
    """
    return math.ceil((n + 1) * coverage)


def rows_needed(coverage: float) -> int:
    """The fewest calibration scores whose conformal rank exists: rank <= n, i.e. n >= coverage/(1-coverage).

    The ratio is rounded in floating point, so the candidates around it are checked with the rank itself.
    """
    near = math.ceil(coverage / (1 - coverage))
    return next(n for n in (near - 1, near, near + 1) if n >= 1 and conformal_rank(n, coverage) <= n)


def conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """The conformal_rank-th smallest score, ties counted with their multiplicity."""
    n = len(scores)
    rank = conformal_rank(n, coverage)
    if rank > n:
        raise CalibrationError(
            f"{n} calibration rows cannot certify {coverage:.0%} coverage (at least {rows_needed(coverage)} "
            "are needed); raise split.calibration_fraction or lower intervals.coverage"
        )
    return float(np.sort(scores)[rank - 1])


def _log_residuals(predicted: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    predicted, actual = np.asarray(predicted, dtype=float), np.asarray(actual, dtype=float)
    if predicted.shape != actual.shape or predicted.ndim != 1:
        raise CalibrationError(
            f"predictions {predicted.shape} and outcomes {actual.shape} must be two vectors of one length"
        )
    for name, values in (("predicted", predicted), ("actual", actual)):
        if not np.all(np.isfinite(values) & (values > 0)):
            raise CalibrationError(f"calibration {name} prices must be finite and positive")
    log_predicted = np.log(predicted)
    return log_predicted, np.abs(np.log(actual) - log_predicted)


def _band_edges(log_predicted: np.ndarray, bands: int, smallest: int) -> np.ndarray:
    """Upper edges of all bands but the last: quantiles of the predictions, each band >= ``smallest`` rows.

    A candidate edge is kept only if the band it closes and everything above it both hold ``smallest``
    rows; otherwise its band merges into the next one. Ties can make quantiles coincide or leave a band
    nearly empty, which this rules out.
    """
    bands = min(bands, len(log_predicted) // smallest)
    if bands < 2:
        return np.array([])
    candidates = np.unique(np.quantile(log_predicted, np.linspace(0, 1, bands + 1)[1:-1]))
    kept: list[float] = []
    for edge in candidates:
        lower = kept[-1] if kept else -np.inf
        below = np.count_nonzero((log_predicted >= lower) & (log_predicted < edge))
        above = np.count_nonzero(log_predicted >= edge)
        if below >= smallest and above >= smallest:
            kept.append(float(edge))
    return np.asarray(kept)
