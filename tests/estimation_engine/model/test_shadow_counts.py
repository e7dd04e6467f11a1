"""A batch's comparison counted at once (in the shadow process) shows on /metrics exactly as observing each
property into prometheus_client's own Histogram and Counter would."""

from __future__ import annotations

import math

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram

from estimation_engine.api.metrics import (
    ABS_LOG_RATIO_BUCKETS,
    SHADOW_LABELS,
    WIDTH_RATIO_BUCKETS,
    EngineMetrics,
)
from estimation_engine.model.shadow_counts import ShadowCounts, _bucketed
from model_contract.artifact import Estimates

THRESHOLDS = ("0.05", "0.1", "0.2")
LABELS = ("7", "6")


def observed_one_by_one(served: Estimates, shadow: Estimates) -> dict[tuple, float]:
    """The reference: per usable property, Histogram.observe and Counter.inc, as the engine once did."""
    registry = CollectorRegistry()
    ratio = Histogram(
        "engine_shadow_abs_log_ratio", "", SHADOW_LABELS, buckets=ABS_LOG_RATIO_BUCKETS, registry=registry
    )
    width = Histogram(
        "engine_shadow_interval_width_ratio",
        "",
        SHADOW_LABELS,
        buckets=WIDTH_RATIO_BUCKETS,
        registry=registry,
    )
    compared = Counter("engine_shadow_compared", "", SHADOW_LABELS, registry=registry)
    moved = Counter("engine_shadow_moved", "", [*SHADOW_LABELS, "threshold"], registry=registry)
    for threshold in THRESHOLDS:
        moved.labels(*LABELS, threshold)
    for new, low, high, old, old_low, old_high in zip(
        served.price, served.low, served.high, shadow.price, shadow.low, shadow.high, strict=True
    ):
        with np.errstate(all="ignore"):
            log_ratio, width_ratio = abs(np.log(new / old)), (high - low) / (old_high - old_low)
        if not (np.isfinite(log_ratio) and np.isfinite(width_ratio)):
            continue
        ratio.labels(*LABELS).observe(float(log_ratio))
        width.labels(*LABELS).observe(float(width_ratio))
        compared.labels(*LABELS).inc()
        for threshold in THRESHOLDS:
            if log_ratio > float(threshold):
                moved.labels(*LABELS, threshold).inc()
    return samples(registry)


def samples(registry: CollectorRegistry) -> dict[tuple, float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
        if family.name.startswith("engine_shadow_") and not sample.name.endswith("_created")
    }


def estimates_with_every_case(count: int) -> tuple[Estimates, Estimates]:
    """Ratios near every bucket bound (the arithmetic puts only some exactly on it: the test below places
    bound values), beyond the last, and properties one side could not estimate (a zero, a NaN, an infinite
    price; an empty interval)."""
    generator = np.random.default_rng(3)
    shadow_price = generator.uniform(50_000, 500_000, count)
    log_ratio = generator.choice([-1, 1], count) * generator.uniform(0, 1.5, count)
    log_ratio[: len(ABS_LOG_RATIO_BUCKETS)] = ABS_LOG_RATIO_BUCKETS  # at (or next to) the bounds
    price = shadow_price * np.exp(log_ratio)
    price[: len(ABS_LOG_RATIO_BUCKETS)] = shadow_price[: len(ABS_LOG_RATIO_BUCKETS)]  # ratio 1 ...
    shadow_price[: len(ABS_LOG_RATIO_BUCKETS)] = price[: len(ABS_LOG_RATIO_BUCKETS)] / np.exp(
        ABS_LOG_RATIO_BUCKETS
    )
    width_ratio = generator.uniform(0.3, 2.5, count)
    width_ratio[20 : 20 + len(WIDTH_RATIO_BUCKETS)] = WIDTH_RATIO_BUCKETS
    shadow_width = generator.uniform(10_000, 90_000, count)
    width = shadow_width * width_ratio
    price[-4:] = [0.0, np.nan, np.inf, 200_000.0]
    shadow_width[-1] = 0.0  # an empty interval: the width ratio is not finite
    served = Estimates(price, price - width / 2, price + width / 2)
    shadow = Estimates(shadow_price, shadow_price - shadow_width / 2, shadow_price + shadow_width / 2)
    return served, shadow


def test_counts_of_a_batch_show_as_observing_each_property_would():
    served, shadow = estimates_with_every_case(400)
    metrics = EngineMetrics()
    counts = ShadowCounts.of(served, shadow, THRESHOLDS)
    half = 200  # added in two batches, as two exchanges would
    for part in (slice(0, half), slice(half, None)):
        ShadowCounts.of(
            Estimates(served.price[part], served.low[part], served.high[part]),
            Estimates(shadow.price[part], shadow.low[part], shadow.high[part]),
            THRESHOLDS,
        ).add_to(metrics.shadow, LABELS, THRESHOLDS)
    got, expected = samples(metrics.registry), observed_one_by_one(served, shadow)
    assert counts.compared == 400 - 4
    assert set(got) == set(expected)
    for key, value in expected.items():
        if key[0].endswith("_sum"):
            assert math.isclose(got[key], value, rel_tol=1e-12), key
        else:
            assert got[key] == value, key


def test_an_empty_batch_adds_nothing_but_keeps_the_series():
    metrics = EngineMetrics()
    nothing = Estimates(np.array([]), np.array([]), np.array([]))
    ShadowCounts.of(nothing, nothing, THRESHOLDS).add_to(metrics.shadow, LABELS, THRESHOLDS)
    found = samples(metrics.registry)
    count = ("engine_shadow_abs_log_ratio_count", (("model_version", "7"), ("shadow_version", "6")))
    assert found[count] == 0
    assert found[("engine_shadow_compared_total", count[1])] == 0


def test_a_value_on_a_bucket_bound_falls_in_that_bucket_as_observe_puts_it():
    bounds = np.asarray(ABS_LOG_RATIO_BUCKETS)
    values = np.concatenate([bounds, np.nextafter(bounds, 0), np.nextafter(bounds, 2), [0.0, 7.0, np.inf]])
    reference = Histogram("h", "", buckets=ABS_LOG_RATIO_BUCKETS, registry=CollectorRegistry())
    for value in values:
        reference.observe(float(value))
    cumulative = [s.value for s in next(iter(reference.collect())).samples if s.name == "h_bucket"]
    assert np.cumsum(_bucketed(values, ABS_LOG_RATIO_BUCKETS)).tolist() == cumulative
