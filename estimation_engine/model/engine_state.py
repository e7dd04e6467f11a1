"""The engine's lifecycle: loading, ready or failed, and what is served once ready.

Loading runs on a background thread started with the server, so ``/health/live`` answers from the first
second while ``/health/ready`` stays 503 (with the reason) until the pinned model is loaded, verified and
warmed up. Request handlers read ``EngineState.serving`` once per request: a single reference swap, so a
request sees either nothing or a complete model, never a half-initialised one.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits

from estimation_engine.api.metrics import EngineMetrics
from estimation_engine.api.schema_decoding import SchemaDecoder, body_decoders
from estimation_engine.api.validation import BatchValidator, ValidatedBatch
from estimation_engine.model.model_loading import LoadFailure, ModelLoadError, ServedModel, load_pinned_model
from estimation_engine.model.scoring import Scorer
from estimation_engine.model.shadow import ShadowComparison
from estimation_engine.model.verified_fast_path import verified_fast_path
from estimation_engine.settings import EngineSettings
from model_contract.artifact import ModelCard
from model_contract.registry_retries import RetryBudget

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


class Status(StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class Serving:
    """Everything a request needs, swapped in as one object when the model is ready."""

    served: ServedModel
    validator: BatchValidator
    decoders: dict[str, SchemaDecoder]  # by the body's top-level key: "properties", "data"
    scorer: Scorer


class EngineState:
    def __init__(
        self,
        settings: EngineSettings,
        metrics: EngineMetrics,
        on_failure: Callable[[ModelLoadError], None] | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.on_failure = on_failure
        self.status = Status.LOADING
        self.loading_detail: str | None = None  # e.g. "registry not answering ... retrying", while loading
        self.failure: ModelLoadError | None = None
        self.serving: Serving | None = None
        self.shadow: ShadowComparison | None = None  # the canary's comparison, once the served model is ready
        self._starting_shadow = threading.Lock()
        self._closed = False
        self.started_at = time.monotonic()
        self._thread: threading.Thread | None = None
        self.evaluation_settled = threading.Event()  # set once the fast path is in use or ruled out

    def start_loading(self) -> None:
        self._thread = threading.Thread(target=self._load, name="model-loader", daemon=True)
        self._thread.start()

    def wait_loaded(self, timeout: float) -> bool:
        """Wait until loading ended (ready or failed) and the fast-path check, if any, has settled."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.status is not Status.LOADING and self.evaluation_settled.wait(timeout)

    def close(self) -> None:
        with self._starting_shadow:  # a shadow is either started before this, and closed here, or never
            self._closed = True
        if self.serving is not None:
            self.serving.scorer.close()
        if self.shadow is not None:
            self.shadow.close()

    def _load(self) -> None:
        log.info("loading model %s", self.settings.model_label, extra={"event": "model_loading"})
        RetryBudget.of(self.settings.registry_retry_seconds).apply(announce=self._retrying)
        try:
            served = load_pinned_model(self.settings)
            serving = self._prepare(served)
        except ModelLoadError as error:
            self._fail(error)
            return
        except Exception as error:  # a bug or an unexpected library error: still a clear not-ready
            log.exception("model load crashed")
            self._fail(ModelLoadError(LoadFailure.INVALID_ARTIFACT, f"loading failed: {error!r}"))
            return
        self.serving = serving
        self.status = Status.READY
        self.metrics.ready.set(1)
        self.metrics.load_seconds.set(served.load_seconds)
        self.metrics.model_info.info(
            {"name": served.name, "version": str(served.version or ""), "sha256": served.sha256}
        )
        log.info(
            "ready: serving %s v%s (sha256 %s) from %s%s in %.2fs; %.2fs after start",
            served.name,
            served.version,
            served.sha256,
            served.origin,
            " (local cache)" if served.from_cache else "",
            served.load_seconds,
            time.monotonic() - self.started_at,
            extra={"event": "model_ready", "model_name": served.name, "model_version": served.version},
        )
        if self.settings.fast_path:
            # Verified after readiness: until then the pipeline itself answers, with the same numbers.
            self._switch_to_fast_path(serving)
        else:
            _freeze_heap()
            self.evaluation_settled.set()
        self._start_shadow(serving)

    def _start_shadow(self, serving: Serving) -> None:
        """The canary's shadow comparison, when a shadow version is set: loaded after readiness, by a
        process of its own (shadow_process.py)."""
        if self.settings.shadow_version is None:
            return
        with self._starting_shadow:
            if self._closed:  # the engine stopped while the served model was loading
                return
            shadow = ShadowComparison(self.settings, self.metrics.shadow, serving.served.model.card)
            self.shadow = shadow
            shadow.start()
        serving.scorer.observer = shadow.offer

    def _prepare(self, served: ServedModel) -> Serving:
        validator = BatchValidator(served.model.card, self.settings.unknown_categories)
        threads = self.settings.model_threads
        scorer = Scorer(served.model, max_rows_per_call=max(self.settings.max_batch_size, 1), threads=threads)
        try:
            with threadpool_limits(limits=threads):
                scorer.estimate_now([warm_up_batch(served.model.card)])  # first call pays lazy initialisation
        except Exception as error:
            scorer.close()
            raise ModelLoadError(
                LoadFailure.INVALID_ARTIFACT, f"{served.name} v{served.version} fails to estimate: {error!r}"
            ) from error
        limit = self.settings.max_batch_size
        card = served.model.card
        decoders = body_decoders(card, validator, limit)
        return Serving(served, validator, decoders, scorer)

    def _switch_to_fast_path(self, serving: Serving) -> None:
        try:
            with threadpool_limits(limits=self.settings.model_threads):
                compiled = verified_fast_path(serving.served, self.settings.batch_threads)
            if compiled is not None:
                serving.scorer.compiled = compiled  # one reference swap, read once per model call
        except Exception:  # never worse than the pipeline: keep using it
            log.exception("fast path check crashed: using pipeline.predict")
        finally:
            _freeze_heap()
            self.evaluation_settled.set()

    def _retrying(self, line: str) -> None:
        """A registry call is being retried: say so in the log and on /health/ready while loading."""
        self.loading_detail = line
        log.warning(line, extra={"event": "registry_retry"})

    def _fail(self, error: ModelLoadError) -> None:
        self.evaluation_settled.set()
        self.failure = error
        self.status = Status.FAILED
        self.metrics.load_failures.labels(error.reason.value).inc()
        log.error(
            "model not loaded (%s): %s; the engine is not ready and serves no model",
            error.reason.value,
            error,
            extra={"event": "model_load_failed", "reason": error.reason.value},
        )
        if self.on_failure is not None:
            self.on_failure(error)


def warm_up_batch(card: ModelCard) -> ValidatedBatch:
    """One synthetic property (every feature missing but the required ones) to warm the pipeline up."""
    columns: dict[str, np.ndarray] = {}
    for feature in card.features:
        if feature.kind == "numeric":
            columns[feature.name] = np.array([1.0 if feature.required else np.nan])
        else:
            value = feature.categories[0] if feature.required and feature.categories else np.nan
            columns[feature.name] = np.array([value], dtype=object)
    return ValidatedBatch(size=1, columns=columns, warnings=[[]])


def _freeze_heap() -> None:
    """Move the loaded model's objects out of the garbage collector's sight.

    The model is hundreds of thousands of long-lived objects; without this every full collection walks
    them all, which shows up as multi-millisecond pauses in the tail latency of ordinary requests.
    """
    gc.collect()
    gc.freeze()
