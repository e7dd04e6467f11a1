"""What one batch of the shadow comparison adds to the metric contract's series, counted in the shadow
process with numpy and added by the engine in a few operations, whatever the number of properties.

Per property both models could estimate (a finite, positive price and interval width on both sides):
``|ln(new / shadow price)|`` into engine_shadow_abs_log_ratio, the interval width ratio into
engine_shadow_interval_width_ratio, one engine_shadow_moved_total per threshold exceeded, one
engine_shadow_compared_total. A value falls in the first bucket whose upper bound is at least the value,
as prometheus_client's ``Histogram.observe`` places it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from estimation_engine.api.metrics import (
    ABS_LOG_RATIO_BUCKETS,
    WIDTH_RATIO_BUCKETS,
    ShadowMetrics,
    upper_bounds,
)
from model_contract.artifact import Estimates


@dataclass(frozen=True)
class ShadowCounts:
    compared: int
    moved: tuple[int, ...]  # per threshold, in the order of ENGINE_SHADOW_MOVED_THRESHOLDS
    log_ratio_buckets: tuple[int, ...]  # per bucket of ABS_LOG_RATIO_BUCKETS, then +Inf; not cumulative
    log_ratio_sum: float
    width_ratio_buckets: tuple[int, ...]  # per bucket of WIDTH_RATIO_BUCKETS, then +Inf
    width_ratio_sum: float

    @classmethod
    def of(cls, served: Estimates, shadow: Estimates, thresholds: Sequence[str]) -> ShadowCounts:
        with np.errstate(all="ignore"):
            log_ratio = np.abs(np.log(served.price / shadow.price))
            width_ratio = (served.high - served.low) / (shadow.high - shadow.low)
        usable = np.isfinite(log_ratio) & np.isfinite(width_ratio)
        log_ratio, width_ratio = log_ratio[usable], width_ratio[usable]
        return cls(
            compared=len(log_ratio),
            moved=tuple(int(np.count_nonzero(log_ratio > float(threshold))) for threshold in thresholds),
            log_ratio_buckets=_bucketed(log_ratio, ABS_LOG_RATIO_BUCKETS),
            log_ratio_sum=float(log_ratio.sum()),
            width_ratio_buckets=_bucketed(width_ratio, WIDTH_RATIO_BUCKETS),
            width_ratio_sum=float(width_ratio.sum()),
        )

    def add_to(self, metrics: ShadowMetrics, labels: tuple[str, str], thresholds: Sequence[str]) -> None:
        for threshold, moved in zip(thresholds, self.moved, strict=True):
            if moved:
                metrics.moved.labels(*labels, threshold).inc(moved)
        metrics.abs_log_ratio.labels(*labels).add(self.log_ratio_buckets, self.log_ratio_sum)
        metrics.width_ratio.labels(*labels).add(self.width_ratio_buckets, self.width_ratio_sum)
        metrics.compared.labels(*labels).inc(self.compared)


def _bucketed(values: np.ndarray, bounds: Sequence[float]) -> tuple[int, ...]:
    """Counts per bucket, the last being +Inf: the first bound >= the value (side="left")."""
    upper = np.asarray(upper_bounds(bounds), dtype=np.float64)
    return tuple(np.bincount(np.searchsorted(upper, values, side="left"), minlength=len(upper)).tolist())
