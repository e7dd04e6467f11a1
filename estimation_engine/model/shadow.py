"""The shadow comparison of a canary: what the new model does to live prices, against the model it replaces.

During a prod rollout the overlay names the version being replaced (``SHADOW_MODEL_VERSION``, from
``overlays/prod/previous-model.env``). After readiness, a child process loads it like the served model — same
loader, cache, sha256 verification and fast-path check (shadow_process.py) — so readiness never waits on it
and a shadow that cannot be loaded only counts a load failure. Then a share of the estimated properties
(``ENGINE_SHADOW_SHARE``) is estimated again with the shadow model and the pair is compared:
``|ln(new / shadow price)|``, the interval width ratio, and whether the price moved by more than each of
``ENGINE_SHADOW_MOVED_THRESHOLDS``. The caller is always answered with the served model only.

The scorer hands each model call's batches and estimates over *after* it has delivered the answers (a
reference put, no copy), so a request never waits for the shadow; when the comparison is behind, the offer
is dropped and counted (``engine_shadow_dropped_total``) instead of queueing without bound. A worker thread
gathers what is offered within 20 ms into one batch for the child. What the engine does per exchange stays
small whatever the number of properties and features, since it runs under the interpreter lock beside the
answers being written: it sends the request bodies the batches were validated from (bytes, which pickle by
copy) with the served estimates as one float64 buffer; the child validates the bodies again with the same
decoders (an exchange's picked properties as one batch), estimates with the shadow model, compares and
buckets with numpy, and answers with counts that the engine adds to its series (shadow_counts.py). The
shadow model itself runs in the child, not under the engine's interpreter lock: measured, on a thread it
added 0.8 to 2.6 ms to the p99 of the answers it overlapped; with the child sent columns as lists and the
engine observing each property, the shadow still added 0.65 ms at p99 (median over rounds), against 0.15 ms
with bodies and counts; on a faster host, validating an exchange's bodies as one batch in the child took that
from +0.70 to +0.59 ms and the c=16 throughput cost from 7 % to 2 % (benchmarks/README.md).

The series are gitops/apps/estimation-engine/analysis/metric-contract.yaml's; their children exist once the
shadow model is loaded, so their presence on /metrics means "comparing" to the canary analysis.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from estimation_engine.api.metrics import ShadowMetrics
from estimation_engine.api.validation import BatchSource, ValidatedBatch
from estimation_engine.model.model_loading import LoadFailure, ModelLoadError
from estimation_engine.model.shadow_process import ShadowProcess, ShadowProcessGoneError
from estimation_engine.settings import EngineSettings
from model_contract.artifact import Estimates, ModelCard

log = logging.getLogger(__name__)

QUEUE_LIMIT = 128  # model calls waiting for the shadow; each holds references to its bodies, not copies
QUEUE_BYTES = 64 * 1024 * 1024  # and their bodies' bytes, queued or being sent: a body may be 32 MiB
EXCHANGE_BYTES = 8 * 1024 * 1024  # bodies per exchange with the shadow process (at least one offer)
GATHER_SECONDS = 0.02  # how long the worker collects offers into one batch for the shadow process


class ShadowComparison:
    """Starts the shadow process, then compares what the scorer offers it, until closed."""

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
        self.process: ShadowProcess | None = None  # started by the worker; stopped by close()
        self._comparing = False
        self._gone = False  # the shadow process died while comparing
        self._closing = threading.Event()
        self._offers: deque[Offer] = deque()  # appended by the scorer, taken by the worker
        self._queued_bytes = 0  # body bytes of the offers waiting or being compared (released after)
        self._queue_lock = threading.Lock()  # over the two above and the switch from comparing to gone
        self._random = np.random.default_rng()
        self._thread: threading.Thread | None = None
        self._errors = 0

    @property
    def comparing(self) -> bool:
        return self._comparing

    def describe(self) -> dict[str, object]:
        """What GET /v1/model says of the comparison, for a person watching a rollout: against which version,
        what share, and where it stands (loading, comparing, failed to load, gone, or off)."""
        if not self.settled.is_set():
            state = "loading"
        elif self.failure is not None:
            state = "failed"
        elif self._gone:
            state = "gone"
        else:
            state = "comparing" if self._comparing else "off"
        described: dict[str, object] = {"version": self.version, "share": self.share, "state": state}
        if self.failure is not None:
            described["failure"] = {"reason": self.failure.reason.value, "detail": str(self.failure)}
        return described

    @property
    def idle(self) -> bool:
        """No offer waits and none is being compared: what was offered so far is counted or dropped. (An
        offer follows its answer, so a request just answered may still come.)"""
        with self._queue_lock:
            return not self._offers and self._queued_bytes == 0

    def start(self) -> None:
        """Start the shadow process from a thread of its own (readiness never waits), then compare."""
        self._thread = threading.Thread(target=self._run, name="shadow-comparison", daemon=True)
        self._thread.start()

    def offer(self, batches: list[ValidatedBatch], served: Estimates) -> None:
        """Called by the scorer after it delivered these estimates: queue a share of the rows, or drop them."""
        rows = len(served.price)
        if not self._comparing:  # still loading, failed, gone, or share 0
            if self._gone:  # said on /metrics, not only in the log: these would have been compared
                self.metrics.dropped.labels(*self.labels).inc(rows * self.share)
            return
        if self.share >= 1.0:
            picked = None
        else:
            picked = np.flatnonzero(self._random.random(rows) < self.share)
            if not len(picked):
                return
        offer = Offer([batch.source for batch in batches], picked, served)
        if not self._queued(offer):  # behind, or a batch with no body to validate again
            self.metrics.dropped.labels(*self.labels).inc(offer.rows)

    def _queued(self, offer: Offer) -> bool:
        """Queue the offer (a deque append: it wakes no thread, the worker polls), unless a batch has no
        body to validate again, the queue is full (offers or bytes), or the comparison just ended."""
        if None in offer.sources:
            return False
        size = offer.bytes
        with self._queue_lock:  # the worker switches to "gone" under it: nothing queued after its last take
            if (
                not self._comparing
                or len(self._offers) >= QUEUE_LIMIT
                or self._queued_bytes + size > QUEUE_BYTES
            ):
                return False
            self._offers.append(offer)
            self._queued_bytes += size
        return True

    def _taken(self, rows: int | None = None) -> list[Offer]:
        """The waiting offers in order, up to ``rows`` properties and EXCHANGE_BYTES of bodies (all when
        ``rows`` is None); their bytes count against QUEUE_BYTES until ``_released``."""
        taken: list[Offer] = []
        count = size = 0
        with self._queue_lock:
            while self._offers and (rows is None or (count < rows and size < EXCHANGE_BYTES)):
                offer = self._offers.popleft()
                taken.append(offer)
                count, size = count + offer.rows, size + offer.bytes
        return taken

    def _released(self, offers: list[Offer]) -> None:
        with self._queue_lock:
            self._queued_bytes -= sum(offer.bytes for offer in offers)

    def close(self) -> None:
        """Stop the shadow process and the worker. SIGTERM first, so that a worker waiting on the child
        (loading or mid-exchange) reads the end of the connection at once; the worker then reaps it."""
        self._closing.set()
        self._comparing = False
        if self.process is not None:
            self.process.terminate()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=5)  # a daemon thread: should it not end, it ends with the process
        self._stop_process()  # if the worker did not (or never started); stop() runs once

    def _stop_process(self) -> None:
        if self.process is not None:
            self.process.stop()

    def _run(self) -> None:
        try:
            self._start_and_compare()
        finally:
            self._stop_process()  # reaped whatever ended the comparison: closed, failed, or gone

    def _start_and_compare(self) -> None:
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
            description = self._load()
        except ModelLoadError as error:
            self._fail(error)
            return
        except Exception as error:  # a bug or a system error: still only a counted failure
            log.exception("shadow process could not be started")
            self._fail(ModelLoadError(LoadFailure.INVALID_ARTIFACT, f"loading failed: {error!r}"))
            return
        if description is None:  # closed while loading
            self.settled.set()
            return
        log.info(
            "shadow comparison on: %s v%s (sha256 %s, %s) against the served v%s, %.0f%% of properties; "
            "shadow process pid %s",
            description["name"],
            description["version"],
            description["sha256"],
            "fast path" if description["fast_path"] else "pipeline",
            self.settings.model_version,
            self.share * 100,
            self.process.pid,
            extra={"event": "shadow_ready", "model_version": self.version},
        )
        self._create_children()
        self._comparing = not self._closing.is_set()
        self.settled.set()
        self._serve()

    def _load(self) -> dict[str, object] | None:
        """The shadow model's description once the child has loaded it, or None when closed meanwhile
        (``self.process`` is set whenever this returns one)."""
        settings = self.settings.model_copy(
            update={"model_version": self.version, "shadow_model_version": None}
        )
        if self._closing.is_set():
            return None
        self.process = ShadowProcess(settings, self.served_card)
        if self._closing.is_set():  # close() ran while it started, and saw no process to terminate
            self.process.terminate()
        return self.process.wait_ready(stopping=self._closing.is_set)

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
        backlog = False
        while not self._closing.is_set():
            if not backlog:
                self._closing.wait(GATHER_SECONDS)
            offers, backlog = self._gathered()
            try:
                if offers and self._comparing:
                    self._compare(offers)
            except ShadowProcessGoneError as error:
                if not self._closing.is_set():
                    with self._queue_lock:  # no offer is queued after this; later ones count as dropped
                        self._gone, self._comparing = True, False
                    self._drop(offers)
                    waiting = self._taken()
                    self._released(waiting)
                    self._drop(waiting)
                    log.error(
                        "%s; serving continues, nothing more is compared (counted as dropped)",
                        error,
                        extra={"event": "shadow_process_gone"},
                    )
                return
            except Exception:  # never let one odd batch stop the comparison; say so, without flooding
                self._drop(offers)
                self._errors += 1
                if self._errors == 1 or self._errors % 1000 == 0:
                    log.exception("shadow comparison failed (%d so far)", self._errors)
            finally:
                self._released(offers)

    def _drop(self, offers: list[Offer]) -> None:
        rows = sum(offer.rows for offer in offers)
        if rows:
            self.metrics.dropped.labels(*self.labels).inc(rows)

    def _gathered(self) -> tuple[list[Offer], bool]:
        """What was offered since the last batch, up to the batch size, and whether more is waiting.

        The worker wakes every GATHER_SECONDS rather than at each offer: an offer is a deque append that
        wakes no thread, so the answer being written beside it never shares the interpreter lock with a
        woken worker; and one exchange with the shadow process per batch pays the per-call costs (the
        pickling here, the model's fixed cost there) once, not per request."""
        offers = self._taken(self.settings.max_batch_size)
        return offers, bool(self._offers)

    def _compare(self, offers: list[Offer]) -> None:
        assert self.process is not None
        served = [offer.served_rows() for offer in offers]
        buffer = np.concatenate([np.concatenate(parts) for parts in zip(*served, strict=True)]).tobytes()
        wire = [([(s.key, s.body) for s in offer.sources], offer.picked) for offer in offers]
        counts = self.process.compare(wire, buffer)
        counts.add_to(self.metrics, self.labels, self.settings.shadow_moved_thresholds)


@dataclass(frozen=True)
class Offer:
    """One model call handed over by the scorer: the bodies its batches were validated from, the rows
    picked for comparison (None: all), and the served estimates of every row."""

    sources: list[BatchSource]
    picked: np.ndarray | None
    served: Estimates

    @property
    def rows(self) -> int:
        return len(self.served.price) if self.picked is None else len(self.picked)

    @property
    def bytes(self) -> int:
        return sum(len(source.body) for source in self.sources)

    def served_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        served, picked = self.served, self.picked
        if picked is None:
            return served.price, served.low, served.high
        return served.price[picked], served.low[picked], served.high[picked]
