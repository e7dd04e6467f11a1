"""Running the model: one worker thread that coalesces the requests waiting for it into one batch.

A scikit-learn pipeline pays a large fixed cost per ``predict`` call (column-by-column validation and
encoding, a Python loop over the boosting iterations) and a small cost per row. Requests that arrive
while the model is busy are therefore stacked into the next call instead of each paying the fixed cost:
under concurrency the throughput grows with the queue, while a lone request never waits for company.

The frame handed to the pipeline is built from the validated columns and is identical (values, dtypes,
column order) to ``PriceModel.frame`` — the tests check it — so the numbers are those of
``PriceModel.estimate``; with a verified compiled model (fast_model.py) the columns go to it instead. Rows are independent in every estimator training produces; a linear member's
dot products can differ in the last bit between batch shapes (BLAS kernels), which is the only way
coalesced rows can differ from a lone request: ``coalesce=False`` turns it off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from estimation_engine.api.validation import ValidatedBatch
from model_contract.artifact import Estimates, PriceModel

if TYPE_CHECKING:
    from estimation_engine.model.fast_path import Predict

log = logging.getLogger(__name__)


@dataclass
class _Job:
    batch: ValidatedBatch
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


_STOP = object()


class Scorer:
    """Estimates batches on a dedicated thread; ``estimate`` is awaited from the event loop."""

    def __init__(
        self,
        model: PriceModel,
        max_rows_per_call: int,
        coalesce: bool = True,
        compiled: Predict | None = None,
        threads: int = 1,
    ) -> None:
        self.model = model
        self.compiled = compiled
        self.threads = threads
        self.max_rows_per_call = max_rows_per_call
        self.coalesce = coalesce
        # Called with each model call's batches and estimates once they are delivered (the shadow
        # comparison's offer, shadow.py); must not block.
        self.observer: Callable[[list[ValidatedBatch], Estimates], None] | None = None
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._carry: _Job | None = None
        self._thread = threading.Thread(target=self._run, name="scorer", daemon=True)
        self._thread.start()

    async def estimate(self, batch: ValidatedBatch) -> Estimates:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._jobs.put(_Job(batch, future, loop))
        return await future

    def estimate_now(self, batches: list[ValidatedBatch]) -> Estimates:
        """The estimates of these batches stacked in order, computed on the caller's thread."""
        return self._estimate(self.columns(batches), sum(b.size for b in batches))

    def _estimate(self, columns: dict[str, np.ndarray], rows: int) -> Estimates:
        compiled = self.compiled
        if compiled is not None:
            price = np.asarray(compiled(columns, rows), dtype=float)
            return self.model.bound(price)  # exactly what PriceModel.estimate does with predict's output
        return self.model.estimate(pd.DataFrame(columns))

    @staticmethod
    def columns(batches: list[ValidatedBatch]) -> dict[str, np.ndarray]:
        """The batches' columns stacked in order: as a DataFrame, the frame ``PriceModel.frame`` builds."""
        return stacked_columns([batch.columns for batch in batches])

    def frame(self, batches: list[ValidatedBatch]) -> pd.DataFrame:
        return pd.DataFrame(self.columns(batches))

    def close(self) -> None:
        self._jobs.put(_STOP)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        # OpenMP/BLAS threads of this thread's model calls. One by default: on a busy node a team of
        # threads waits at a barrier per boosting iteration for whichever thread was descheduled.
        with threadpool_limits(limits=self.threads):
            self._serve_jobs()

    def _serve_jobs(self) -> None:
        while True:
            first = self._carry or self._jobs.get()
            self._carry = None
            if first is _STOP:
                return
            jobs = [first]
            if self.coalesce:
                jobs += self._waiting(first.batch.size)
            self._score(jobs)

    def _waiting(self, rows: int) -> list[_Job]:
        """The jobs already queued, up to the row budget; one that does not fit waits for the next call."""
        taken: list[_Job] = []
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return taken
            if job is _STOP or rows + job.batch.size > self.max_rows_per_call:
                self._carry = job
                return taken
            taken.append(job)
            rows += job.batch.size

    def _score(self, jobs: list[_Job]) -> None:
        columns, rows = self.columns([job.batch for job in jobs]), sum(job.batch.size for job in jobs)
        try:
            estimates = self._estimate(columns, rows)
        except Exception as error:
            if len(jobs) > 1:  # isolate the request that broke the shared call
                for job in jobs:
                    self._score([job])
                return
            log.exception("model estimate failed")
            _deliver(jobs[0], error=error)
            return
        start = 0
        for job in jobs:
            end = start + job.batch.size
            part = Estimates(estimates.price[start:end], estimates.low[start:end], estimates.high[start:end])
            _deliver(job, result=part)
            start = end
        observer = self.observer  # read once: set when a shadow comparison starts
        if observer is not None:  # after delivering: the answers never wait for it
            observer([job.batch for job in jobs], estimates)


def stacked_columns(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Columns of several batches, one after the other (the first's names, in its order)."""
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _deliver(job: _Job, result: Estimates | None = None, error: BaseException | None = None) -> None:
    def settle() -> None:
        if job.future.done():  # the client went away and the handler was cancelled
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the event loop is closed: shutting down
        job.loop.call_soon_threadsafe(settle)
