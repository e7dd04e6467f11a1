"""The shadow comparison of a canary: what the new model does to live prices, against the model it replaces.

During a prod rollout the overlay names the version being replaced (``SHADOW_MODEL_VERSION``, from
``overlays/prod/previous-model.env``). The engine loads it like the served model — same loader, same cache,
same sha256 verification, same fast-path check — but after readiness and on a thread of its own, so
readiness never waits on it and a shadow that cannot be loaded only counts a load failure. Then a share of
the estimated properties (``ENGINE_SHADOW_SHARE``) is estimated again with the shadow model and the pair is
compared: ``|ln(new / shadow price)|``, the interval width ratio, and whether the price moved by more than
each of ``ENGINE_SHADOW_MOVED_THRESHOLDS``. The caller is always answered with the served model only.

Why a worker thread behind a bounded queue rather than the same model call: the scorer hands each model
call's columns and estimates over *after* it has delivered the answers (a reference put, no copy), so a
request never waits for the shadow model; when the worker is behind, the offer is dropped and counted
(``engine_shadow_dropped_total``) instead of queueing without bound or slowing the served model. The
worker gathers what was offered within 20 ms into one shadow model call: a small request's model time is
mostly per-call work held under the interpreter lock, which would otherwise delay the answers being sent
beside it once per request (measured: the first version, one call per offer, added 0.8 ms to the median
at concurrency 1). The cost left on the answered request is the CPU the worker takes beside it
(benchmarks/README.md).

The series are gitops/apps/estimation-engine/analysis/metric-contract.yaml's; their children exist once the
shadow model is loaded, so their presence on /metrics means "comparing" to the canary analysis.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from estimation_engine.api.metrics import ShadowMetrics
from estimation_engine.model.model_loading import LoadFailure, ModelLoadError, ServedModel, load_pinned_model
from estimation_engine.settings import EngineSettings
from model_contract.artifact import Estimates, ModelCard

if TYPE_CHECKING:
    from estimation_engine.model.fast_path import Columns, Predict

log = logging.getLogger(__name__)

QUEUE_LIMIT = 128  # model calls waiting for the shadow; each holds references to its columns, not copies
GATHER_SECONDS = 0.02  # how long the worker collects offers into one shadow model call
_STOP = object()

Compile = Callable[[ServedModel], "Predict | None"]


class ShadowComparison:
    """Loads the shadow model, then compares what the scorer offers it, until closed."""

    def __init__(self, settings: EngineSettings, metrics: ShadowMetrics, served_card: ModelCard) -> None:
        assert settings.shadow_version is not None, "no shadow version: the comparison is off"
        self.settings = settings
        self.version: int = settings.shadow_version
        self.metrics = metrics
        self.served_card = served_card
        self.labels = (str(settings.model_version or ""), str(self.version))
        self.share = settings.shadow_share
        self.settled = threading.Event()  # set once the shadow model is loaded, or failed to load
        self.failure: ModelLoadError | None = None
        self._model: _ShadowModel | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_LIMIT)
        self._random = np.random.default_rng()
        self._thread: threading.Thread | None = None
        self._errors = 0

    @property
    def comparing(self) -> bool:
        return self._model is not None

    def start(self, compile_fast_path: Compile | None) -> None:
        """Load on a thread of its own (readiness never waits), then compare what is offered."""
        self._thread = threading.Thread(
            target=self._run, args=(compile_fast_path,), name="shadow-model", daemon=True
        )
        self._thread.start()

    def offer(self, columns: Columns, rows: int, served: Estimates) -> None:
        """Called by the scorer after it delivered these estimates: queue a share of the rows, or drop them."""
        if self._model is None:  # still loading, failed, or share 0
            return
        if self.share >= 1.0:
            picked = None
        else:
            picked = np.flatnonzero(self._random.random(rows) < self.share)
            if not len(picked):
                return
        try:
            self._queue.put_nowait((columns, rows, picked, served))
        except queue.Full:
            self.metrics.dropped.labels(*self.labels).inc(rows if picked is None else len(picked))

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            try:
                self._queue.put(_STOP, timeout=5)
            except queue.Full:
                return  # a daemon thread: it ends with the process
            self._thread.join(timeout=5)

    def _run(self, compile_fast_path: Compile | None) -> None:
        if self.share == 0:
            log.warning(
                "SHADOW_MODEL_VERSION=%s but ENGINE_SHADOW_SHARE=0: nothing is compared, the shadow model is "
                "not loaded, and the canary's shadow analysis will find 0 comparisons (inconclusive)",
                self.version,
            )
            self._create_children()
            self.settled.set()
            return
        try:
            self._model = self._load(compile_fast_path)
        except ModelLoadError as error:
            self._fail(error)
            return
        except Exception as error:  # a bug or a library error: still only a counted failure
            log.exception("shadow model load crashed")
            self._fail(ModelLoadError(LoadFailure.INVALID_ARTIFACT, f"loading failed: {error!r}"))
            return
        self._create_children()
        self.settled.set()
        with threadpool_limits(limits=1):
            self._serve()

    def _load(self, compile_fast_path: Compile | None) -> _ShadowModel:
        settings = self.settings.model_copy(update={"model_version": self.version})
        served = load_pinned_model(settings)
        model = _ShadowModel(served, self.served_card, compile_fast_path)
        # Out of the garbage collector's sight, as the served model is (engine_state._freeze_heap), but
        # without a full collection first: that would pause the requests already being served.
        gc.freeze()
        log.info(
            "shadow comparison on: %s v%s (sha256 %s, %s) against the served v%s, %.0f%% of properties",
            served.name,
            served.version,
            served.sha256,
            "fast path" if model.compiled is not None else "pipeline",
            self.settings.model_version,
            self.share * 100,
            extra={"event": "shadow_ready", "model_version": self.version},
        )
        return model

    def _fail(self, error: ModelLoadError) -> None:
        self.failure = error
        self.metrics.load_failures.labels(error.reason.value).inc()
        log.error(
            "shadow model v%s not loaded (%s): %s; serving continues, nothing is compared",
            self.version,
            error.reason.value,
            error,
            extra={"event": "shadow_load_failed", "reason": error.reason.value},
        )
        self.settled.set()

    def _create_children(self) -> None:
        """At 0, so that the series exist (meaning "comparing") before the first comparison."""
        metrics, labels = self.metrics, self.labels
        metrics.compared.labels(*labels)
        metrics.dropped.labels(*labels)
        metrics.abs_log_ratio.labels(*labels)
        metrics.width_ratio.labels(*labels)
        for threshold in self.settings.shadow_moved_thresholds:
            metrics.moved.labels(*labels, threshold)

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            items, stopping = self._gathered()
            try:
                if items:
                    self._compare(items)
            except Exception:  # never let one odd batch stop the comparison; say so, without flooding
                self._errors += 1
                if self._errors == 1 or self._errors % 1000 == 0:
                    log.exception("shadow comparison failed (%d so far)", self._errors)

    def _gathered(self) -> tuple[list[tuple], bool]:
        """What is offered within GATHER_SECONDS of the first offer (up to the batch size), and whether to
        stop after it: one shadow model call for all of it pays the per-call cost (most of a small
        request's model time, and held under the interpreter lock) once, not per request."""
        first = self._queue.get()
        if first is _STOP:
            return [], True
        items, rows = [first], _rows(first)
        deadline = time.monotonic() + GATHER_SECONDS
        while rows < self.settings.max_batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return items, True
            items.append(item)
            rows += _rows(item)
        return items, False

    def _compare(self, items: list[tuple]) -> None:
        assert self._model is not None
        parts = [_picked(*item) for item in items]
        names = parts[0][0].keys()
        columns = {name: np.concatenate([part[0][name] for part in parts]) for name in names}
        served = Estimates(
            *(np.concatenate([getattr(part[1], key) for part in parts]) for key in ("price", "low", "high"))
        )
        shadow = self._model.estimate(columns, len(served.price))
        self.observe(served, shadow)

    def observe(self, served: Estimates, shadow: Estimates) -> None:
        """One comparison per property both models could estimate (a finite, positive price and width)."""
        with np.errstate(all="ignore"):
            log_ratio = np.abs(np.log(served.price / shadow.price))
            width_ratio = (served.high - served.low) / (shadow.high - shadow.low)
        usable = np.isfinite(log_ratio) & np.isfinite(width_ratio)
        log_ratio, width_ratio = log_ratio[usable], width_ratio[usable]
        metrics, labels = self.metrics, self.labels
        for threshold in self.settings.shadow_moved_thresholds:
            moved = int(np.count_nonzero(log_ratio > float(threshold)))
            if moved:
                metrics.moved.labels(*labels, threshold).inc(moved)
        ratio_child, width_child = metrics.abs_log_ratio.labels(*labels), metrics.width_ratio.labels(*labels)
        for value in log_ratio.tolist():
            ratio_child.observe(value)
        for value in width_ratio.tolist():
            width_child.observe(value)
        metrics.compared.labels(*labels).inc(len(log_ratio))


def _rows(item: tuple) -> int:
    _, rows, picked, _ = item
    return rows if picked is None else len(picked)


def _picked(
    columns: Columns, rows: int, picked: np.ndarray | None, served: Estimates
) -> tuple[Columns, Estimates]:
    if picked is None:
        return columns, served
    chosen = {name: values[picked] for name, values in columns.items()}
    return chosen, Estimates(served.price[picked], served.low[picked], served.high[picked])


class _ShadowModel:
    """The shadow version, evaluated on the served model's validated columns."""

    def __init__(
        self, served: ServedModel, served_card: ModelCard, compile_fast_path: Compile | None
    ) -> None:
        self.served = served
        self.model = served.model
        self.fill = _columns_to_fill(served, served_card)
        self.compiled = compile_fast_path(served) if compile_fast_path is not None else None

    def estimate(self, columns: Columns, rows: int) -> Estimates:
        columns = {**columns, **{name: empty(rows) for name, empty in self.fill.items()}}
        if self.compiled is not None:
            with np.errstate(all="ignore"):  # a non-positive shadow price is simply not compared
                return self.model.bound(np.asarray(self.compiled(columns, rows), dtype=float))
        names = [feature.name for feature in self.model.card.features]
        return self.model.estimate(pd.DataFrame({name: columns[name] for name in names}))


def _columns_to_fill(shadow: ServedModel, served_card: ModelCard) -> dict[str, Callable[[int], np.ndarray]]:
    """The shadow's optional features the served model does not validate, filled as missing; a required one,
    or one whose kind differs, makes the two models incomparable (a load failure naming it)."""
    served = {feature.name: feature for feature in served_card.features}
    fill: dict[str, Callable[[int], np.ndarray]] = {}
    for feature in shadow.model.card.features:
        mine = served.get(feature.name)
        if mine is not None and mine.kind == feature.kind:
            continue
        if mine is not None or feature.required:
            why = f"a {mine.kind} feature" if mine is not None else "no feature"
            raise ModelLoadError(
                LoadFailure.INVALID_ARTIFACT,
                f"{shadow.name} v{shadow.version} needs the {feature.kind} feature {feature.name!r}, which is "
                f"{why} of the served model: the two cannot estimate the same requests",
            )
        if feature.kind == "numeric":
            fill[feature.name] = lambda rows: np.full(rows, np.nan)
        else:
            fill[feature.name] = lambda rows: np.full(rows, np.nan, dtype=object)
    return fill
