"""Interval coverage as a guarantee: split-conformal calibration on synthetic data with a known noise law.

The price range promises that a share ``coverage`` of sales falls inside it. For n exchangeable
calibration scores and rank k = ceil((n+1)·coverage), a new case's score is at most the k-th smallest
with probability k/(n+1) exactly when scores are continuous, so the marginal coverage lies in
[coverage, coverage + 1/(n+1)]. Conditional on the calibration draw, the coverage of the calibrated
interval is Beta(k, n+1-k) distributed (Vovk 2012; Angelopoulos & Bates, "A Gentle Introduction to
Conformal Prediction", 2021, section 3.2), with variance k(n+1-k)/((n+1)²(n+2)). The tests below average
over many fixed seeds and set their tolerances from these laws, never by eye.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erf

from model_contract.artifact import IntervalBand, ModelCard, PriceModel
from training.conformal import (
    MIN_PER_BAND,
    CalibrationError,
    calibrate,
    conformal_rank,
    rows_needed,
)

NOMINAL = 0.9
# Four standard deviations: a correct implementation fails one fixed-seed draw in about 30,000.
Z = 4.0


def synthetic(seed: int, n: int, noise_sd) -> tuple[np.ndarray, np.ndarray]:
    """Exchangeable (predicted, actual) prices: log prediction uniform on [11, 13] (about $60k to $440k),
    log actual = log prediction + noise_sd(log prediction) · N(0, 1)."""
    rng = np.random.default_rng(seed)
    log_predicted = rng.uniform(11, 13, n)
    log_actual = log_predicted + noise_sd(log_predicted) * rng.standard_normal(n)
    return np.exp(log_predicted), np.exp(log_actual)


def constant_noise(log_price: np.ndarray) -> np.ndarray:
    return np.full_like(log_price, 0.1)


def growing_noise(log_price: np.ndarray) -> np.ndarray:
    """Noise from 0.05 (cheap homes) to 0.25 (expensive ones): one pooled half-width cannot fit all."""
    return 0.05 + 0.1 * (log_price - 11)


def serving_model(bands: tuple[IntervalBand, ...]) -> PriceModel:
    """A PriceModel that only bounds given prices, as serving and evaluation do (no pipeline needed)."""
    card = ModelCard("synthetic", "price", (), NOMINAL, bands, {}, "fingerprint", "lineage")
    return PriceModel(pipeline=None, card=card)


def independent_bands(
    predicted: np.ndarray, actual: np.ndarray, coverage: float, bands: int
) -> list[tuple[float | None, float]]:
    """Mondrian split conformal from its definition, written apart from training/conformal.py.

    Band edges are the empirical quantiles of the log prediction at j/bands (a row on an edge belongs to
    the band above); a band's half-width is the smallest score s such that at least (n_b + 1)·coverage
    of the band's n_b scores are <= s. No sorting, no rank arithmetic.
    """
    log_predicted = np.log(predicted)
    scores = np.abs(np.log(actual) - log_predicted)
    count = max(1, min(bands, len(scores) // MIN_PER_BAND))
    edges = [float(np.quantile(log_predicted, j / count)) for j in range(1, count)]
    result = []
    for j in range(count):
        low = edges[j - 1] if j > 0 else -math.inf
        high = edges[j] if j < count - 1 else math.inf
        band = scores[(log_predicted >= low) & (log_predicted < high)]
        enough = (len(band) + 1) * coverage
        halfwidth = min(s for s in band if np.count_nonzero(band <= s) >= enough)
        result.append((None if high == math.inf else high, float(halfwidth)))
    return result


def beta_sd(n: int, coverage: float) -> float:
    """Standard deviation of the coverage conditional on a calibration draw of n continuous scores."""
    k = conformal_rank(n, coverage)
    return math.sqrt(k * (n + 1 - k) / ((n + 1) ** 2 * (n + 2)))


def test_one_band_covers_nominal_to_nominal_plus_one_over_n_plus_one_over_many_seeds():
    """Single band, constant noise N(0, 0.1²) on log price, n = 200 calibration rows, 2,000 seeds.

    For each seed the calibrated half-width q gives a new case the exact coverage P(|ε| <= q) =
    erf(q / (0.1·√2)) (the noise law is known, so no test cases need sampling). With k = 181 that
    coverage is Beta(181, 20): mean 181/201 = 0.90050, inside [0.9, 0.9 + 1/201 = 0.90498], and
    sd 0.02106 per seed, so 0.02106/√2000 = 0.00047 for the average. The test accepts the average
    in [0.9 - 4·0.00047, 0.90498 + 4·0.00047] = [0.89812, 0.90686]. An off-by-one rank (k = 180) has mean
    0.89552, 5.5 sd under that range; a halved rank covers about half.
    """
    n, seeds = 200, 2000
    coverage = []
    for seed in range(seeds):
        (band,) = calibrate(*synthetic(seed, n, constant_noise), NOMINAL, bands=1)
        coverage.append(erf(band.halfwidth_log / (0.1 * math.sqrt(2))))
    tolerance = Z * beta_sd(n, NOMINAL) / math.sqrt(seeds)
    assert NOMINAL - tolerance <= np.mean(coverage) <= NOMINAL + 1 / (n + 1) + tolerance


def test_each_mondrian_band_covers_nominal_where_one_pooled_band_would_not():
    """Three bands, noise growing from 0.05 to 0.25 with the price, n = 1,500, 300 seeds, 1,500 fresh
    test cases per seed bounded by ``PriceModel.bound`` (the serving path) and grouped by band.

    Per band n_b = 500 calibration rows: the exchangeable guarantee is [0.9, 0.9 + 1/(n_b + 1)]. It is
    exact for edges computed with the test case included; ours come from the calibration rows alone,
    and including the test case would move each edge past at most two calibration rows and over a gap
    that holds a test case with probability at most 2/(n + 1). Counting those as adversarial: at most
    four rows per band change band, which moves its coverage by at most 4/(n_b - 3) down and 5/(n_b - 3)
    up (the rank shifts with the row count), and the gaps hold at most 4·bands/(n + 1) of a band's test
    cases: 0.0080 each. Sampling: per seed a band's coverage varies by the Beta law (variance
    0.9·0.1/502) plus the binomial of its ~500 test cases (0.9·0.1/500), so sd 0.0011 over 300 seeds,
    4 sd = 0.0044. Accepted per band: [0.8796, 0.9224] (observed: 0.9015, 0.9000, 0.8994). With one
    pooled band the same data cover 0.995 / 0.922 / 0.784 per band: the control below fails.
    """
    n, seeds, bands = 1500, 300, 3
    per_band = n // bands
    variance = NOMINAL * (1 - NOMINAL) * (1 / (per_band + 2) + 1 / per_band)
    sampling = Z * math.sqrt(variance / seeds)
    edge_rows, edge_cases = 4 / (per_band - 3), 4 * bands / (n + 1)
    low = NOMINAL - edge_rows - edge_cases - sampling
    high = NOMINAL + 1 / (per_band - 3) + edge_rows + edge_cases + sampling
    mondrian, pooled = np.zeros((seeds, bands)), np.zeros((seeds, bands))
    for seed in range(seeds):
        predicted, actual = synthetic(seed, n, growing_noise)
        fresh_predicted, fresh_actual = synthetic(10_000 + seed, n, growing_noise)
        calibrated = calibrate(predicted, actual, NOMINAL, bands)
        assert len(calibrated) == bands
        edges = [band.upper_log_price for band in calibrated[:-1]]
        group = np.searchsorted(edges, np.log(fresh_predicted), side="right")
        for store, used in ((mondrian, calibrated), (pooled, calibrate(predicted, actual, NOMINAL, 1))):
            estimates = serving_model(used).bound(fresh_predicted)
            inside = (fresh_actual >= estimates.low) & (fresh_actual <= estimates.high)
            store[seed] = [inside[group == b].mean() for b in range(bands)]
    coverage = mondrian.mean(axis=0)
    assert np.all((low <= coverage) & (coverage <= high)), (coverage, low, high)
    pooled_coverage = pooled.mean(axis=0)
    assert not np.all((low <= pooled_coverage) & (pooled_coverage <= high)), pooled_coverage


@pytest.mark.parametrize(
    ("n", "coverage", "bands", "seed"),
    [
        (200, 0.9, 1, 0),
        (101, 0.9, 2, 1),  # the median is a calibration row: it sits on the edge, in the band above
        (301, 0.8, 3, 2),
        (537, 0.95, 3, 3),
        (1000, 0.9, 4, 4),
        (999, 0.85, 5, 5),
        (120, 0.9, 3, 6),  # too few rows for three bands of 50: two
    ],
)
def test_calibration_agrees_exactly_with_an_independent_implementation(n, coverage, bands, seed):
    predicted, actual = synthetic(seed, n, growing_noise)
    ours = [
        (band.upper_log_price, band.halfwidth_log) for band in calibrate(predicted, actual, coverage, bands)
    ]
    theirs = independent_bands(predicted, actual, coverage, bands)
    assert [halfwidth for _, halfwidth in ours] == [halfwidth for _, halfwidth in theirs]
    assert ours[-1][0] is None and theirs[-1][0] is None
    assert [edge for edge, _ in ours[:-1]] == pytest.approx([edge for edge, _ in theirs[:-1]], rel=1e-15)


def test_a_prediction_on_a_band_edge_is_calibrated_and_served_in_the_band_above():
    """101 rows in two bands: the edge is the median, itself a calibration row. Give that row the
    largest error of all: it must raise the upper band's half-width (it is calibrated there, as
    ``PriceModel.bound`` serves a price on the edge) and leave the lower band's alone."""
    predicted, actual = synthetic(7, 101, growing_noise)
    log_predicted = np.log(predicted)
    on_edge = int(np.argsort(log_predicted)[50])
    actual[on_edge] = predicted[on_edge] * np.exp(1.0)
    scores = np.abs(np.log(actual) - log_predicted)
    lower, upper = calibrate(predicted, actual, NOMINAL, bands=2)
    assert lower.upper_log_price == log_predicted[on_edge]
    below, above = (
        np.sort(scores[log_predicted < lower.upper_log_price]),
        np.sort(scores[log_predicted >= lower.upper_log_price]),
    )
    assert (len(below), len(above)) == (50, 51)
    assert lower.halfwidth_log == below[conformal_rank(50, NOMINAL) - 1]
    assert upper.halfwidth_log == above[conformal_rank(51, NOMINAL) - 1]
    estimate = serving_model((lower, upper)).bound(predicted[[on_edge]])
    assert np.log(estimate.high[0] / predicted[on_edge]) == pytest.approx(upper.halfwidth_log)


def test_too_few_rows_for_the_requested_bands_give_fewer_bands_of_at_least_the_minimum():
    for n, expected in ((49, 1), (120, 2), (149, 2), (150, 3), (10_000, 3)):
        predicted, actual = synthetic(n, n, constant_noise)
        calibrated = calibrate(predicted, actual, NOMINAL, bands=3)
        assert len(calibrated) == expected, n
        assert min(_rows_per_band(predicted, calibrated)) >= min(n, MIN_PER_BAND)


def test_a_coverage_that_needs_more_rows_per_band_merges_bands_instead_of_failing():
    # 0.99 needs 99 rows per band: 250 rows make two bands of 125, not three of 83 that cannot certify it.
    predicted, actual = synthetic(11, 250, constant_noise)
    calibrated = calibrate(predicted, actual, 0.99, bands=3)
    assert len(calibrated) == 2
    assert min(_rows_per_band(predicted, calibrated)) >= rows_needed(0.99) == 99


def test_tied_predictions_never_leave_a_band_empty_or_under_the_minimum():
    """A tree model predicts plateaus: here 150 of 300 rows share one prediction, with 100 rows below it
    and 50 above. The 2/3 quantile falls on the plateau, where the 1/3 one nearly does: cut there, the
    middle band would be empty (calibration used to fail on it). The rows below the plateau make one band
    and the plateau, which cannot be split, joins the rows above it."""
    rng = np.random.default_rng(12)
    log_predicted = np.concatenate(
        [rng.uniform(11, 11.9, 100), np.full(150, 12.0), rng.uniform(12.1, 13, 50)]
    )
    predicted = np.exp(log_predicted)
    actual = predicted * np.exp(rng.normal(0, 0.1, 300))
    calibrated = calibrate(predicted, actual, NOMINAL, bands=3)
    assert _rows_per_band(predicted, calibrated) == [100, 200]
    scores = np.abs(np.log(actual) - log_predicted)
    above = np.sort(scores[100:])
    assert calibrated[1].halfwidth_log == above[conformal_rank(200, NOMINAL) - 1]


@pytest.mark.parametrize(
    ("below", "tied", "above", "counts"),
    [
        (90, 70, 140, [90, 110, 100]),  # the first edge falls on the tie; the next band starts with it
        (99, 101, 0, [99, 101]),  # the edge falls on a tie that runs to the top: those rows are the band
    ],
)
def test_rows_tied_on_an_edge_count_in_the_band_above_it(below, tied, above, counts):
    rng = np.random.default_rng(18)
    log_predicted = np.concatenate(
        [rng.uniform(11, 11.9, below), np.full(tied, 12.0), rng.uniform(12.1, 13, above)]
    )
    predicted = np.exp(log_predicted)
    actual = predicted * np.exp(rng.normal(0, 0.1, len(predicted)))
    calibrated = calibrate(predicted, actual, NOMINAL, bands=len(counts))
    assert calibrated[0].upper_log_price == 12.0
    assert _rows_per_band(predicted, calibrated) == counts


def test_any_positive_price_is_a_price():
    predicted, actual = synthetic(19, 60, constant_noise)
    assert len(calibrate(predicted / 1e6, actual / 1e6, NOMINAL, bands=1)) == 1  # prices in millions


def test_identical_predictions_give_one_band():
    predicted = np.full(200, 250_000.0)
    actual = predicted * np.exp(np.random.default_rng(13).normal(0, 0.1, 200))
    (band,) = calibrate(predicted, actual, NOMINAL, bands=3)
    assert band.upper_log_price is None


def test_tied_scores_count_with_their_multiplicity():
    """Duplicated sales tie exactly. The half-width is the k-th smallest score counting each copy: for
    100 rows each present twice, k = ceil(201·0.9) = 181, i.e. the 91st smallest distinct score."""
    predicted, actual = synthetic(14, 100, constant_noise)
    (band,) = calibrate(np.tile(predicted, 2), np.tile(actual, 2), NOMINAL, bands=1)
    distinct = np.sort(np.abs(np.log(actual) - np.log(predicted)))
    assert band.halfwidth_log == distinct[math.ceil(181 / 2) - 1]


def test_a_single_band_bounds_every_price_with_the_pooled_quantile():
    predicted, actual = synthetic(15, 400, growing_noise)
    (band,) = calibrate(predicted, actual, NOMINAL, bands=1)
    scores = np.sort(np.abs(np.log(actual) - np.log(predicted)))
    assert band == IntervalBand(None, float(scores[conformal_rank(400, NOMINAL) - 1]))
    prices = np.array([1_000.0, 200_000.0, 50_000_000.0])
    estimates = serving_model((band,)).bound(prices)
    assert np.allclose(np.log(estimates.high / prices), band.halfwidth_log)
    assert np.allclose(np.log(prices / estimates.low), band.halfwidth_log)


def test_too_few_rows_for_the_coverage_are_refused_naming_the_count_and_the_settings():
    predicted, actual = synthetic(16, 8, constant_noise)
    with pytest.raises(CalibrationError) as raised:
        calibrate(predicted, actual, NOMINAL, bands=3)
    assert str(raised.value) == (
        "8 calibration rows cannot certify 90% coverage (at least 9 are needed); "
        "raise split.calibration_fraction or lower intervals.coverage"
    )
    assert len(calibrate(*synthetic(16, 9, constant_noise), NOMINAL, bands=3)) == 1


@pytest.mark.parametrize("coverage", [0.3, 0.5, 0.6, 0.8, 0.9, 0.95, 0.975, 0.99])
def test_rows_needed_is_the_fewest_rows_whose_conformal_rank_exists(coverage):
    needed = rows_needed(coverage)
    assert conformal_rank(needed, coverage) <= needed
    assert conformal_rank(needed - 1, coverage) > needed - 1


@pytest.mark.parametrize(
    ("predicted", "actual", "message"),
    [
        ([100.0, -5.0], [100.0, 100.0], "predicted prices must be finite and positive"),
        ([100.0, 100.0], [0.0, 100.0], "actual prices must be finite and positive"),
        ([100.0, 100.0], [100.0, float("nan")], "actual prices must be finite and positive"),
        ([100.0, 100.0], [100.0], "must be two vectors of one length"),
    ],
)
def test_predictions_or_outcomes_that_are_not_prices_are_refused(predicted, actual, message):
    with pytest.raises(CalibrationError, match=message):
        calibrate(np.array(predicted), np.array(actual), NOMINAL, bands=1)


@pytest.mark.parametrize("coverage", [0.0, 1.0])
def test_a_coverage_outside_zero_to_one_is_refused(coverage):
    with pytest.raises(CalibrationError, match="strictly between 0 and 1"):
        calibrate(*synthetic(17, 100, constant_noise), coverage, bands=1)


def _edges(bands: tuple[IntervalBand, ...]) -> np.ndarray:
    return np.asarray([band.upper_log_price for band in bands[:-1]], dtype=float)


def _rows_per_band(predicted: np.ndarray, bands: tuple[IntervalBand, ...]) -> list[int]:
    group = np.searchsorted(_edges(bands), np.log(predicted), side="right")
    return np.bincount(group, minlength=len(bands)).tolist()
