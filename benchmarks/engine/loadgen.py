"""A small closed-loop HTTP/1.1 load generator: N keep-alive connections, each sending its next request
as soon as the previous answer arrived. Raw asyncio streams, pre-encoded requests: the client's own cost
per request is tens of microseconds, the same for every server measured with it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Before each turn of an alternating run: what the previous server left running ends (a shadow comparison
# gathers 20 ms of offers, then compares them).
SETTLE_SECONDS = 0.05
BROKEN = 0  # the status a failure gets when the connection broke instead of answering


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: np.ndarray

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if len(self.latencies_ms) else float("nan")

    def summary(self) -> dict[str, float]:
        return {
            "concurrency": self.concurrency,
            "requests": self.requests,
            "errors": self.errors,
            "requests_per_s": round(self.throughput, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
        }


def post_request(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, whether the server keeps the connection open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length, keep_alive = 0, True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep_alive = False
    body = await reader.readexactly(length) if length else b""
    return status, body, keep_alive


async def _run(host, port, requests, concurrency, seconds, stop_after) -> LoadResult:
    latencies: list[float] = []
    failures: list[int] = []
    started = time.perf_counter()
    deadline = started + seconds
    clients = _clients(host, port, requests, concurrency)
    try:
        await asyncio.gather(*(client.drive(deadline, latencies, failures, stop_after) for client in clients))
    finally:
        _close(clients)
    elapsed = time.perf_counter() - started
    return LoadResult(concurrency, len(latencies), len(failures), elapsed, np.asarray(latencies))


def run_load(
    host: str,
    port: int,
    requests: Sequence[bytes],
    concurrency: int,
    seconds: float,
    stop_after: int | None = None,
) -> LoadResult:
    """Drive the server for ``seconds`` (or until ``stop_after`` answers) with ``concurrency`` connections."""
    return asyncio.run(_run(host, port, list(requests), concurrency, seconds, stop_after))


@dataclass(frozen=True)
class Target:
    """One server of an alternating run, and the requests it is sent (in turn, cycling)."""

    name: str
    port: int
    requests: Sequence[bytes]


def run_alternating(
    host: str, targets: Sequence[Target], concurrency: int, slice_seconds: float, cycles: int
) -> dict[str, LoadResult]:
    """Drive each target in turn for ``slice_seconds``, ``cycles`` times over (the order rotating by one each
    cycle), on connections kept open between turns.

    A shared machine's speed changes from one minute to the next; turns of a fraction of a second let every
    server meet the same changes, so their latencies compare where whole phases of seconds one after the
    other do not. Before each turn's clock starts, the run waits SETTLE_SECONDS (what the previous target
    left running, such as a shadow comparison's last exchange, ends on its own time) and sends one untimed
    request per connection (no turn starts on a connection idle since the last). Each server's latencies
    are pooled over its turns."""
    return asyncio.run(_alternate(host, list(targets), concurrency, slice_seconds, cycles))


class _Client:
    """One keep-alive connection, cycling through its requests. A server that closes after an answer
    (gunicorn's sync worker) is reconnected inside the timed window, as a real client would; a connection
    that breaks is a failure, and the next request reconnects."""

    def __init__(self, host: str, port: int, requests: Sequence[bytes]) -> None:
        self.host, self.port = host, port
        self.pool = itertools.cycle(requests)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def warm(self) -> None:
        """One untimed request, on a new connection if the server closed this one while idle (one retry:
        a keep-alive timeout may close it as the request goes out)."""
        for attempt in range(2):
            try:
                if self.writer is None or self.reader.at_eof() or self.writer.is_closing():
                    self.close()
                    await self._connect()
                _, keep_alive = await self._exchange(next(self.pool))
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
                continue
            if not keep_alive:
                self.close()
            return

    async def drive(
        self, deadline: float, latencies: list[float], failures: list[int], stop_after: int | None = None
    ) -> None:
        while time.perf_counter() < deadline and (stop_after is None or len(latencies) < stop_after):
            started = time.perf_counter()
            try:
                if self.writer is None:
                    await self._connect()
                status, keep_alive = await self._exchange(next(self.pool))
            except (ConnectionError, asyncio.IncompleteReadError):
                failures.append(BROKEN)
                self.close()
                continue
            elapsed = (time.perf_counter() - started) * 1000
            if status == 200:
                latencies.append(elapsed)
            else:
                failures.append(status)
            if not keep_alive:
                self.close()

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def _exchange(self, request: bytes) -> tuple[int, bool]:
        self.writer.write(request)
        status, _, keep_alive = await _read_response(self.reader)
        return status, keep_alive

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _clients(host: str, port: int, requests: Sequence[bytes], concurrency: int) -> list[_Client]:
    """One client per connection, each cycling through its own share of the requests."""
    return [_Client(host, port, requests[i::concurrency] or requests) for i in range(concurrency)]


def _close(clients: list[_Client]) -> None:
    for client in clients:
        client.close()


async def _alternate(host, targets, concurrency, slice_seconds, cycles) -> dict[str, LoadResult]:
    clients = {t.name: _clients(host, t.port, t.requests, concurrency) for t in targets}
    latencies: dict[str, list[float]] = {t.name: [] for t in targets}
    failures: dict[str, list[int]] = {t.name: [] for t in targets}
    spent = dict.fromkeys(clients, 0.0)
    try:
        for cycle in range(cycles):
            turn = cycle % len(targets)
            for target in targets[turn:] + targets[:turn]:
                each = clients[target.name]
                await asyncio.sleep(SETTLE_SECONDS)
                await asyncio.gather(*(client.warm() for client in each))
                started = time.perf_counter()
                deadline = started + slice_seconds
                await asyncio.gather(
                    *(c.drive(deadline, latencies[target.name], failures[target.name]) for c in each)
                )
                spent[target.name] += time.perf_counter() - started
    finally:
        for each in clients.values():
            _close(each)
    return {
        name: LoadResult(
            concurrency, len(latencies[name]), len(failures[name]), spent[name], np.asarray(latencies[name])
        )
        for name in clients
    }


def fetch(host: str, port: int, request: bytes) -> tuple[int, bytes]:
    async def once():
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(request)
            status, body, _ = await _read_response(reader)
            return status, body
        finally:
            writer.close()

    return asyncio.run(once())
