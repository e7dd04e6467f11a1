"""The shadow model in a process of its own, and the engine's handle on it.

Why a process: on a thread of the engine, the shadow model call (about 1 ms of Python for a small batch on
the benchmark machine, nearly all of it holding the interpreter lock) ran while some answer waited to be
written, and the 20 ms gathering only made that rarer: with the shadow on, p99 at concurrency 1 was 0.8 to
2.6 ms higher (benchmarks/README.md). In a child process the shadow model runs on another core without the
engine's lock; what is left in the engine is sending the request bodies and adding the counts it gets back.

The protocol, over a socket pair with ``multiprocessing.connection`` framing (pickled objects):

- engine -> child, once: ``(settings, served card)``, the settings naming the shadow version as the model;
- child -> engine, once: ``("ready", description)`` or ``("failed", reason, message)``;
- engine -> child, per gathered batch: ``(offers, served)``: per offer (one model call of the engine) the
  ``(key, body)`` of each request in it and the rows picked for comparison (None: all), and the served
  price, low and high of the picked rows as one float64 buffer; the child validates the bodies again with
  the served card's decoders (the exchange's picked properties as one batch), estimates with the shadow
  model, compares, and answers ``("counts", ShadowCounts)`` (shadow_counts.py), or ``("error", text)``;
- ``None``, or the engine's end closing (also when the engine is killed, even while the child loads: it
  watches for the hang-up), ends the child.

The child loads the shadow version as the engine loads the served one: same loader, cache, sha256
verification, retry budget and fast-path check.

    python -m estimation_engine.model.shadow_process <file descriptor>   (started by ShadowProcess only)
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from estimation_engine.model.model_loading import LoadFailure, ModelLoadError, ServedModel
from estimation_engine.model.scoring import stacked_columns
from estimation_engine.model.shadow_counts import ShadowCounts
from estimation_engine.settings import EngineSettings
from model_contract.artifact import Estimates, ModelCard

if TYPE_CHECKING:
    from estimation_engine.model.fast_path import Columns, Predict

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # how often the engine, waiting for the shadow to load, checks the child is alive
NICENESS = 19  # the scheduler's lowest priority: the shadow takes the CPU the served requests leave idle
STOP_SECONDS = 5.0  # how long a child asked to stop may take before it is killed
_PACKAGES_ROOT = Path(__file__).resolve().parents[2]  # where estimation_engine/ and model_contract/ live

# What one exchange sends, per offer: its bodies as (top-level key, bytes), and its rows picked for comparison
# (indices into the bodies' properties one after the other; None: all).
Offers = list[tuple[list[tuple[str, bytes]], np.ndarray | None]]


class ShadowProcessGoneError(RuntimeError):
    """The shadow process exited, or its connection broke: nothing more can be compared."""


class ShadowBatchError(RuntimeError):
    """The shadow process could not compare one batch (it goes on with the next)."""


class ShadowProcess:
    """The engine's side: start the child, wait for its model, send it batches, stop it by its pid."""

    def __init__(self, settings: EngineSettings, served_card: ModelCard) -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            env = os.environ | {"PYTHONPATH": _python_path()}
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        self._connection = Connection(ours.detach())
        self._stopped = False
        self._stopping = threading.Lock()
        try:
            self._connection.send((settings, served_card))
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self._process.pid

    def wait_ready(self, stopping: Callable[[], bool]) -> dict[str, object] | None:
        """The loaded model's description once the child has loaded it, None if ``stopping`` came first;
        ModelLoadError when it could not load it."""
        while not self._connection.poll(POLL_SECONDS):
            if stopping():
                return None
            if self._process.poll() is not None:
                break  # exited: its end is closed, and the read below says so
        try:
            reply = self._receive()
        except ShadowProcessGoneError:
            if stopping():  # terminated by close(): no failure of the shadow model
                return None
            raise ModelLoadError(
                LoadFailure.INVALID_ARTIFACT,
                f"the shadow process (pid {self.pid}) exited with code {self._exit_code()} while loading",
            ) from None
        if reply[0] == "failed":
            raise ModelLoadError(LoadFailure(reply[1]), reply[2])
        return reply[1]

    def compare(self, offers: Offers, served: bytes) -> ShadowCounts:
        """What comparing the shadow's estimates of these offers' picked rows with ``served`` (their
        price, low and high, as one float64 buffer) adds to the series."""
        try:
            self._connection.send((offers, served))
        except OSError as error:
            raise ShadowProcessGoneError(f"the shadow process (pid {self.pid}) is gone: {error!r}") from error
        reply = self._receive()
        if reply[0] == "error":
            raise ShadowBatchError(f"the shadow process could not compare a batch: {reply[1]}")
        return reply[1]

    def terminate(self) -> None:
        """SIGTERM to the child, whatever it is doing (loading, estimating): a thread waiting on it then
        reads the end of the connection. Safe from any thread; stop() still reaps it."""
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.terminate()

    def stop(self) -> None:
        """Ask the child to end, kill it by its pid if it has not within STOP_SECONDS, and reap it. Once,
        whichever thread comes first; the other returns at once."""
        with self._stopping:
            if self._stopped:
                return
            self._stopped = True
            with contextlib.suppress(OSError):  # already gone
                self._connection.send(None)
            self._connection.close()
            try:
                self._process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._reap_killed()

    def _reap_killed(self) -> None:
        """A killed process ends only once the CPU runs it again, and at SCHED_IDLE on a machine kept busy
        at normal priority that can take longer than STOP_SECONDS (seen under a test suite's load): say so
        and leave it, rather than fail the engine's shutdown. It has no work left but its exit; until it is
        reaped (by subprocess once this object is collected, or by the container's end) it is a zombie."""
        try:
            self._process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            log.warning(
                "shadow process (pid %s) killed but not yet gone after %.0f s: at the lowest priority it "
                "exits when the CPU has time for it",
                self.pid,
                STOP_SECONDS,
            )

    def _receive(self) -> tuple:
        try:
            return self._connection.recv()
        except (EOFError, OSError, TypeError) as error:  # TypeError: the handle was closed by stop()
            raise ShadowProcessGoneError(
                f"the shadow process (pid {self.pid}) is gone (exit code {self._exit_code()}): {error!r}"
            ) from error

    def _exit_code(self) -> int | None:
        """The child's exit code once it has exited (it closed its end just before), or None."""
        try:
            return self._process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return None


def _python_path() -> str:
    """The engine's packages first, whatever the working directory the engine was started from."""
    inherited = os.environ.get("PYTHONPATH")
    return str(_PACKAGES_ROOT) if not inherited else os.pathsep.join((str(_PACKAGES_ROOT), inherited))


# ---- the child ------------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    from threadpoolctl import threadpool_limits

    from estimation_engine.api.logs import configure_logging

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C reaches the engine, which stops us
    descriptor = int(argv[0])
    _exit_when_the_engine_is_gone(descriptor)
    connection = Connection(descriptor)
    try:
        settings, served_card = connection.recv()
    except EOFError:
        return 0  # the engine went away before saying anything
    configure_logging(settings.log_level)
    with threadpool_limits(limits=1):  # one core's worth: the engine has the other
        model = _loaded(settings, served_card, connection)
        if model is not None:
            _serve(model, connection)
    return 0


def _loaded(settings: EngineSettings, served_card: ModelCard, connection: Connection) -> ShadowModel | None:
    from estimation_engine.model.model_loading import load_pinned_model
    from model_contract.registry_retries import RetryBudget

    RetryBudget.of(settings.registry_retry_seconds).apply()
    try:
        model = ShadowModel(load_pinned_model(settings), served_card, settings)
    except ModelLoadError as error:
        with contextlib.suppress(OSError):  # the engine went away while we were loading
            connection.send(("failed", error.reason.value, str(error)))
        return None
    except Exception as error:  # a bug or a library error: still only a load failure, said to the engine
        log.exception("shadow model load crashed")
        with contextlib.suppress(OSError):
            connection.send(("failed", LoadFailure.INVALID_ARTIFACT.value, f"loading failed: {error!r}"))
        return None
    gc.freeze()  # a long-lived heap: out of the collector's sight, as the engine's served model is
    # Loaded at the engine's priority (as the thread-based shadow was, and so that a busy node cannot delay
    # the comparison's start indefinitely); compared at the lowest.
    lower_priority()
    served = model.served
    description = {
        "name": served.name,
        "version": served.version,
        "sha256": served.sha256,
        "fast_path": model.compiled is not None,
    }
    try:
        connection.send(("ready", description))
    except OSError:
        return None  # the engine went away while we were loading
    return model


def lower_priority() -> None:
    """Every thread of this process to the lowest priority there is: SCHED_IDLE, and nice 19 should the
    policy be refused. On Linux both are attributes of a thread, not of the process (sched(7)), and the
    threads started while loading (BLAS, numba, the hang-up watch) would keep the engine's priority; threads
    started after this inherit the caller's. SCHED_IDLE is below nice 19 (sched(7)), and the scheduler puts
    a waking engine thread on a CPU that runs only SCHED_IDLE work as on an idle one: the comparison yields
    at once rather than at its next tick. Lowering one's own priority needs no privilege."""
    refused: OSError | None = None
    for thread in Path("/proc/self/task").iterdir():
        tid = int(thread.name)
        try:
            os.setpriority(os.PRIO_PROCESS, tid, NICENESS)
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        except ProcessLookupError:  # the thread ended meanwhile
            continue
        except PermissionError as error:  # e.g. a seccomp profile that forbids the call: nice 19 stands
            refused = error
    if refused is not None:
        log.warning("shadow process: SCHED_IDLE refused (%s); comparing at nice %d", refused, NICENESS)


def _serve(model: ShadowModel, connection: Connection) -> None:
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return  # the engine's end closed: it stopped, or was killed
        if request is None:
            return
        offers, served = request
        try:
            counts = model.compare(offers, served)
        except Exception as error:  # one odd batch: said to the engine, which counts and logs it
            connection.send(("error", repr(error)))
            continue
        connection.send(("counts", counts))


def _exit_when_the_engine_is_gone(descriptor: int) -> None:
    """Exit as soon as the engine's end of the socket closes, even while loading (when nothing reads the
    socket): POLLRDHUP reports the peer's close without consuming what it sent. Linux; elsewhere the child
    notices at its next read."""
    watch = getattr(select, "POLLRDHUP", None)
    if watch is None:
        return

    def wait_for_hangup() -> None:
        poller = select.poll()
        poller.register(descriptor, watch)
        while True:
            for _, events in poller.poll():
                if events & (watch | select.POLLHUP | select.POLLERR | select.POLLNVAL):
                    os._exit(0)

    threading.Thread(target=wait_for_hangup, name="engine-watch", daemon=True).start()


class ShadowModel:
    """The shadow version, evaluated on the requests the served model answered, validated as it did."""

    def __init__(self, served: ServedModel, served_card: ModelCard, settings: EngineSettings) -> None:
        from estimation_engine.api.schema_decoding import body_decoders
        from estimation_engine.api.validation import BatchValidator

        self.served = served
        self.model = served.model
        self.fill = columns_to_fill(served, served_card)
        self.thresholds = settings.shadow_moved_thresholds
        # The served model's validation, exactly: the same card, policy and limit give the same columns.
        validator = BatchValidator(served_card, settings.unknown_categories)
        self.decoders = body_decoders(served_card, validator, settings.max_batch_size)
        self.compiled: Predict | None = None
        if settings.fast_path:
            from estimation_engine.model.verified_fast_path import verified_fast_path

            self.compiled = verified_fast_path(served, 1)

    def compare(self, offers: Offers, served: bytes) -> ShadowCounts:
        columns = self.columns(offers)
        rows = len(next(iter(columns.values())))
        price, low, high = np.frombuffer(served, dtype=np.float64).reshape(3, rows)
        return ShadowCounts.of(Estimates(price, low, high), self.estimate(columns, rows), self.thresholds)

    def columns(self, offers: Offers) -> Columns:
        """The served model's validated columns of the offers' picked rows, in order.

        The picked properties of every body are validated as one batch: validation has a fixed cost per
        call (tens of microseconds, benchmarks/README.md) that would otherwise be paid per request, and every
        CPU-second spent here is one the engine's host does not have. A body the schema does not fit (the
        engine took its exhaustive path) sends the whole exchange body by body, as the engine read it."""
        items = self._picked_items(offers)
        batch = self.decoders["properties"].typed(items) if items else None
        return batch.columns if batch is not None else self._columns_body_by_body(offers)

    def _picked_items(self, offers: Offers) -> list | None:
        """The decoded properties of the offers' picked rows, or None when a body does not fit the schema."""
        picked_items: list = []
        for sources, picked in offers:
            bodies = [self.decoders[key].items(body) for key, body in sources]
            if None in bodies:
                return None
            items = [item for body in bodies for item in body]
            picked_items += items if picked is None else [items[row] for row in picked]
        return picked_items

    def _columns_body_by_body(self, offers: Offers) -> Columns:
        parts = []
        for sources, picked in offers:
            batches = [self.decoders[key].batch(body).columns for key, body in sources]
            columns = stacked_columns(batches)
            parts.append(columns if picked is None else {name: v[picked] for name, v in columns.items()})
        return stacked_columns(parts)

    def estimate(self, columns: Columns, rows: int) -> Estimates:
        columns = {**columns, **{name: empty(rows) for name, empty in self.fill.items()}}
        if self.compiled is not None:
            with np.errstate(all="ignore"):  # a non-positive shadow price is simply not compared
                return self.model.bound(np.asarray(self.compiled(columns, rows), dtype=float))
        names = [feature.name for feature in self.model.card.features]
        return self.model.estimate(pd.DataFrame({name: columns[name] for name in names}))


def columns_to_fill(shadow: ServedModel, served_card: ModelCard) -> dict[str, Callable[[int], np.ndarray]]:
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
