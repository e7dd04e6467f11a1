"""The benchmarks' load generator takes turns between servers as it says: every server gets its slices, in
turn, and only answered requests inside a slice are timed, also when a server closes its connections."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks.engine.loadgen import Target, run_alternating

HOST = "127.0.0.1"


class Recorder(ThreadingHTTPServer):
    """Answers every POST with 200 (closing the connection after every ``close_every``-th answer when set)
    and notes when each request came."""

    daemon_threads = True

    def __init__(self, close_every: int | None = None) -> None:
        super().__init__((HOST, 0), Handler)
        self.close_every = close_every
        self.arrivals: list[float] = []
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Recorder

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.arrivals.append(time.perf_counter())
            count = len(self.server.arrivals)
        closing = self.server.close_every is not None and count % self.server.close_every == 0
        self.send_response(200)
        self.send_header("Content-Length", "2")
        if closing:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[dict[str, Recorder]]:
    started = {"steady": Recorder(), "closing": Recorder(close_every=3)}
    threads = [
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}) for s in started.values()
    ]
    for thread in threads:
        thread.start()
    try:
        yield started
    finally:
        for server in started.values():
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(timeout=5)


def request(port: int) -> bytes:
    return f"POST /x HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Length: 2\r\n\r\n{{}}".encode()


def test_servers_take_turns_and_only_answers_inside_their_slices_are_timed(servers):
    targets = [
        Target(name, s.server_address[1], [request(s.server_address[1])]) for name, s in servers.items()
    ]
    began = time.perf_counter()
    results = run_alternating(HOST, targets, concurrency=2, slice_seconds=0.1, cycles=4)
    took = time.perf_counter() - began

    assert set(results) == {"steady", "closing"}
    for name, result in results.items():
        assert result.errors == 0, name
        assert result.requests > 0, name
        assert 0.35 < result.seconds < min(took, 1.5), name  # four slices of 0.1 s each, and no more
        # Untimed: the first request on each connection (two per server), and each reconnect's first.
        assert result.requests < len(servers[name].arrivals), name
    # In turns, the order rotating each cycle: steady, closing | closing, steady | steady, closing | closing,
    # steady. After the other's first request, each server's requests come in three bursts (slices of
    # consecutive turns run together), each separated from the next by the other's requests.
    for name, server in servers.items():
        other = servers["closing" if name == "steady" else "steady"]
        timed = [t for t in server.arrivals if t > min(other.arrivals)]
        bursts = 1 + sum(1 for a, b in itertools.pairwise(timed) if any(a < t < b for t in other.arrivals))
        assert bursts == 3, (name, bursts)
