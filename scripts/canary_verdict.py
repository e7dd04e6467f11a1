"""The canary analysis's verdict computed from an engine's own /metrics, for ``make demo``.

In the cluster Argo Rollouts asks Prometheus (gitops/apps/estimation-engine/analysis/analysis-templates.yaml).
The demo must run without Prometheus, so it computes the same quantities from the canary engine's
exposition over everything the demo sent (Prometheus would take a rate over a window): the median of a
histogram by ``histogram_quantile``'s own linear interpolation within the bucket, the moved share, the
error rate and the p99 latency of the scoring routes; the thresholds are the rendered templates' args with
the Rollout's step args in place, read from the same render Argo CD applies. tests/analysis runs the
templates' real queries against a real Prometheus.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

SCORING_ROUTES = ("/v1/estimate", "/score")


@dataclass(frozen=True)
class Judged:
    metric: str
    value: float
    rule: str
    passed: bool | None  # None: too little evidence (Inconclusive)

    @property
    def phase(self) -> str:
        return {True: "Successful", False: "Failed", None: "Inconclusive"}[self.passed]


def samples(exposition: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    ]


def histogram_quantile(quantile: float, buckets: Iterable[tuple[float, float]]) -> float:
    """Prometheus' histogram_quantile over cumulative (le, count) buckets, +Inf included."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] == 0:
        return math.nan
    rank = quantile * ordered[-1][1]
    previous_le, previous_count = 0.0, 0.0
    for index, (le, count) in enumerate(ordered):
        if count >= rank:
            if math.isinf(le):
                return ordered[index - 1][0] if index else math.nan
            if index == 0 and le <= 0:
                return le
            return previous_le + (le - previous_le) * (rank - previous_count) / (count - previous_count)
        previous_le, previous_count = le, count
    return math.nan


def template_args(template: dict, rollout: dict) -> dict[str, str]:
    """The template's args with the Rollout's analysis step args in place (Argo Rollouts' MergeArgs)."""
    values = {arg["name"]: arg.get("value") for arg in template["spec"]["args"]}
    for step in rollout["spec"]["strategy"]["canary"].get("steps", []):
        for arg in step.get("analysis", {}).get("args", []):
            if arg["name"] in values and "value" in arg:
                values[arg["name"]] = arg["value"]
    return {name: value for name, value in values.items() if value is not None}


def judge_shadow(exposition: str, args: dict[str, str]) -> list[Judged]:
    """The estimation-engine-shadow template's metrics: median |ln ratio|, moved share, width ratio,
    comparisons."""
    found = samples(exposition)
    compared = sum(v for n, _, v in found if n == "engine_shadow_compared_total")
    if not any(n == "engine_shadow_compared_total" for n, _, _ in found):
        return []  # no shadow version: nothing to judge (the template passes on no data)
    threshold = args["moved-threshold"]
    moved = [
        v for n, labels, v in found if n == "engine_shadow_moved_total" and labels["threshold"] == threshold
    ]
    share = (sum(moved) / compared if compared else math.nan) if moved else 1.0  # the query's loud 1.0
    median_ratio = histogram_quantile(0.5, _buckets(found, "engine_shadow_abs_log_ratio_bucket"))
    median_width = histogram_quantile(0.5, _buckets(found, "engine_shadow_interval_width_ratio_bucket"))
    low, high = float(args["min-median-width-ratio"]), float(args["max-median-width-ratio"])
    most, needed = float(args["max-median-abs-log-ratio"]), float(args["min-comparisons"])
    return [
        Judged("shadow-median-abs-log-ratio", median_ratio, f"<= {most:g}", _within(median_ratio, high=most)),
        Judged(
            "shadow-moved-share",
            share,
            f"<= {float(args['max-moved-share']):g} (moved: |ln ratio| > {threshold})",
            _within(share, high=float(args["max-moved-share"])),
        ),
        Judged(
            "shadow-median-width-ratio",
            median_width,
            f"{low:g} .. {high:g}",
            _within(median_width, low, high),
        ),
        Judged("shadow-comparisons", compared, f">= {needed:g}", True if compared >= needed else None),
    ]


def judge_serving(exposition: str, args: dict[str, str]) -> list[Judged]:
    """The estimation-engine-serving template's metrics over the scoring routes."""
    found = [s for s in samples(exposition) if s[1].get("route") in SCORING_ROUTES]
    requests = sum(v for n, _, v in found if n == "engine_http_requests_total")
    errors = sum(
        v for n, labels, v in found if n == "engine_http_requests_total" and labels["status"][0] == "5"
    )
    rate = errors / requests if requests else math.nan
    p99 = histogram_quantile(0.99, _buckets(found, "engine_http_request_duration_seconds_bucket"))
    most_errors, slowest = float(args["max-error-rate"]), float(args["max-p99-seconds"])
    needed = float(args["min-requests"])
    return [
        Judged("error-rate", rate, f"<= {most_errors:g}", _within(rate, high=most_errors)),
        Judged("latency-p99", p99, f"<= {slowest:g} s", _within(p99, high=slowest)),
        Judged("canary-requests", requests, f">= {needed:g}", True if requests >= needed else None),
    ]


def _buckets(found: list[tuple[str, dict[str, str], float]], name: str) -> list[tuple[float, float]]:
    """Buckets summed over every other label, as ``sum by (le)`` does."""
    summed: dict[float, float] = defaultdict(float)
    for sample_name, labels, value in found:
        if sample_name == name:
            summed[float(labels["le"])] += value
    return list(summed.items())


def _within(value: float, low: float = -math.inf, high: float = math.inf) -> bool:
    """As the templates' conditions: NaN (no traffic) passes; the evidence metrics judge the amount."""
    return math.isnan(value) or low <= value <= high
