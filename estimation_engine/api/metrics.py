"""Prometheus metrics: what an on-call engineer graphs and alerts on.

A registry per engine instance (not the process-global default), so tests can run several apps in one
process. Label values are bounded: the route label is the route template, or ``unmatched`` for any path
the app does not serve, so random URLs cannot grow the label set.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST
# The shadow comparison's buckets: gitops/apps/estimation-engine/analysis/metric-contract.yaml names them
# (the canary analysis takes medians of these histograms; its thresholds are bucket bounds).
ABS_LOG_RATIO_BUCKETS = (0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
WIDTH_RATIO_BUCKETS = (0.5, 0.67, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25, 1.5, 2.0)
SHADOW_LABELS = ("model_version", "shadow_version")


class EngineMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "engine_http_requests",
            "HTTP requests answered, by route, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "engine_http_request_duration_seconds",
            "Time from request start to the end of the response, by route, method and status code.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "engine_http_requests_in_flight", "Requests being served.", registry=self.registry
        )
        self.predictions = Counter(
            "engine_predictions",
            "Properties estimated, by model name and version.",
            ["model_name", "model_version"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "engine_request_batch_size",
            "Properties per estimate request.",
            buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000),
            registry=self.registry,
        )
        self.unknown_categories = Counter(
            "engine_unknown_categories",
            "Categorical values not seen in training, accepted with a warning, by feature.",
            ["feature"],
            registry=self.registry,
        )
        self.out_of_range_values = Counter(
            "engine_out_of_range_values",
            "Numeric values outside the range seen in training, estimated with a warning, by feature.",
            ["feature"],
            registry=self.registry,
        )
        self.model_info = Info("engine_model", "The model this process serves.", registry=self.registry)
        self.ready = Gauge(
            "engine_ready", "1 once the pinned model is loaded and verified.", registry=self.registry
        )
        self.load_failures = Counter(
            "engine_model_load_failures", "Failed model loads, by reason.", ["reason"], registry=self.registry
        )
        self.load_seconds = Gauge(
            "engine_model_load_seconds", "Time spent loading and verifying the model.", registry=self.registry
        )

        self.shadow = ShadowMetrics(self.registry)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class ShadowMetrics:
    """The shadow comparison's series (the metric contract). Labelled metrics export no sample until a
    child exists: the comparison creates its children once the shadow model is loaded, so their presence
    on /metrics means "comparing"."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.compared = Counter(
            "engine_shadow_compared",
            "Properties estimated by both the served and the shadow model.",
            SHADOW_LABELS,
            registry=registry,
        )
        self.moved = Counter(
            "engine_shadow_moved",
            "Compared properties whose |ln(new price / shadow price)| exceeded the threshold.",
            [*SHADOW_LABELS, "threshold"],
            registry=registry,
        )
        self.abs_log_ratio = CountedHistogram(
            "engine_shadow_abs_log_ratio",
            "|ln(new price / shadow price)| per compared property.",
            SHADOW_LABELS,
            buckets=ABS_LOG_RATIO_BUCKETS,
            registry=registry,
        )
        self.width_ratio = CountedHistogram(
            "engine_shadow_interval_width_ratio",
            "Width of the new prediction interval over the shadow model's, per compared property.",
            SHADOW_LABELS,
            buckets=WIDTH_RATIO_BUCKETS,
            registry=registry,
        )
        self.load_failures = Counter(
            "engine_shadow_load_failures",
            "Failed loads of the shadow model, by the reasons of engine_model_load_failures_total.",
            ["reason"],
            registry=registry,
        )
        # Beyond the contract: comparisons skipped (the worker behind, a failed batch, or the shadow process gone).
        self.dropped = Counter(
            "engine_shadow_dropped",
            "Estimated properties not compared: the shadow comparison was behind, could not estimate a "
            "batch, or its process is gone (expected count at ENGINE_SHADOW_SHARE below 1).",
            SHADOW_LABELS,
            registry=registry,
        )


def upper_bounds(buckets: Sequence[float]) -> list[float]:
    """A histogram's bucket bounds as prometheus_client's Histogram takes them: +Inf last, added if absent."""
    bounds = [float(bound) for bound in buckets]
    return bounds if bounds and bounds[-1] == math.inf else [*bounds, math.inf]


class CountedHistogram(Collector):
    """A labelled histogram fed with bucket counts rather than observations: the shadow process buckets a
    whole batch with numpy, and the engine adds the counts under one lock instead of observing property by
    property under its interpreter lock. Exposed as prometheus_client's Histogram is (``_bucket`` with
    cumulative ``le`` counts up to ``+Inf``, ``_count``, ``_sum``), without the ``_created`` series."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self.upper_bounds = upper_bounds(buckets)
        self._children: dict[tuple[str, ...], BucketCounts] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def labels(self, *values: str) -> BucketCounts:
        """The series of these label values, created at 0 (it then shows on /metrics)."""
        key = tuple(str(value) for value in values)
        if len(key) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {key}")
        with self._lock:
            return self._children.setdefault(key, BucketCounts(len(self.upper_bounds)))

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        with self._lock:
            children = list(self._children.items())
        for values, child in children:
            counts, total = child.snapshot()
            cumulative, buckets = 0, []
            for bound, count in zip(self.upper_bounds, counts, strict=True):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))
            family.add_metric(list(values), buckets, total)
        yield family


class BucketCounts:
    """One series of a CountedHistogram: per-bucket counts (not cumulative) and the sum of the values."""

    def __init__(self, buckets: int) -> None:
        self._counts = [0] * buckets
        self._sum = 0.0
        self._lock = threading.Lock()

    def add(self, counts: Sequence[int], total: float) -> None:
        """``counts[i]`` values fell in bucket i (the first whose upper bound is >= the value); ``total``
        is their sum."""
        if len(counts) != len(self._counts):
            raise ValueError(f"expected {len(self._counts)} bucket counts, got {len(counts)}")
        with self._lock:
            self._counts = [mine + int(more) for mine, more in zip(self._counts, counts, strict=True)]
            self._sum += float(total)

    def snapshot(self) -> tuple[list[int], float]:
        with self._lock:
            return list(self._counts), self._sum
