"""The benchmarks' load generator takes turns between servers as it says: every server gets its turns in the
rotating order, each turn starts with one untimed request per connection, and only what is answered inside
a turn is timed, whether a server keeps its connections, closes them after answers, closes them between
turns, or drops one without answering."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks.engine.loadgen import SETTLE_SECONDS, Target, run_alternating, run_load

HOST = "127.0.0.1"
CONCURRENCY, TURN, CYCLES = 2, 0.1, 4


class Recorder(ThreadingHTTPServer):
    """Answers every POST with 200 and notes when each request came. ``close_every``: close the connection
    after every so many answers; ``idle_seconds``: close a connection idle that long; ``drop_at``: close
    the connection instead of answering that request (counted from 1)."""

    daemon_threads = True

    def __init__(
        self, close_every: int | None = None, idle_seconds: float | None = None, drop_at: int | None = None
    ) -> None:
        super().__init__((HOST, 0), Handler)
        self.close_every, self.idle_seconds, self.drop_at = close_every, idle_seconds, drop_at
        self.arrivals: list[float] = []
        self.connections = 0
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return self.server_address[1]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Recorder

    def setup(self) -> None:
        self.timeout = self.server.idle_seconds  # http.server closes a connection whose read times out
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.arrivals.append(time.perf_counter())
            count = len(self.server.arrivals)
        if count == self.server.drop_at:
            self.close_connection = True
            return
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
def serving() -> Iterator[Callable[..., Recorder]]:
    started: list[Recorder] = []
    threads: list[threading.Thread] = []

    def start(**behaviour: object) -> Recorder:
        server = Recorder(**behaviour)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        started.append(server)
        threads.append(thread)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(timeout=5)


def request(port: int) -> bytes:
    return f"POST /x HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Length: 2\r\n\r\n{{}}".encode()


def alternate(servers: dict[str, Recorder], turn: float = TURN) -> dict:
    targets = [Target(name, s.port, [request(s.port)]) for name, s in servers.items()]
    return run_alternating(HOST, targets, CONCURRENCY, turn, CYCLES)


def test_servers_take_turns_in_a_rotating_order_and_only_answers_inside_a_turn_are_timed(serving):
    servers = {"steady": serving(), "closing": serving(close_every=3)}
    began = time.perf_counter()
    results = alternate(servers)
    took = time.perf_counter() - began
    # Turns steady, closing | closing, steady | steady, closing | closing, steady: consecutive turns of one
    # server run together, so the arrivals come in five runs.
    arrivals = sorted((t, name) for name, s in servers.items() for t in s.arrivals)
    runs = [name for name, _ in itertools.groupby(name for _, name in arrivals)]
    assert runs == ["steady", "closing", "steady", "closing", "steady"]
    for name, result in results.items():
        assert result.errors == 0, name
        assert result.seconds >= CYCLES * TURN, name
        # Untimed: one request per connection before each turn; a reconnect inside a turn is timed.
        assert len(servers[name].arrivals) == result.requests + CONCURRENCY * CYCLES, name
    # The time counted is the turns', not the pauses before them.
    assert sum(result.seconds for result in results.values()) + 2 * CYCLES * SETTLE_SECONDS <= took


def test_a_server_closing_after_every_answer_is_reconnected_inside_the_turn(serving):
    servers = {"always-closing": serving(close_every=1), "steady": serving()}
    result = alternate(servers)["always-closing"]
    assert result.errors == 0 and result.requests > 0
    assert len(servers["always-closing"].arrivals) == result.requests + CONCURRENCY * CYCLES


def test_a_connection_the_server_closed_between_turns_is_reopened_before_the_next(serving):
    # Idle for 0.25 s the server closes a connection: never inside a turn (the next request follows at once,
    # unless the machine stalls that long), always between two (the other server's turns and pauses, 0.5 s).
    servers = {"idle-closing": serving(idle_seconds=0.25), "steady": serving()}
    result = alternate(servers, turn=0.2)["idle-closing"]
    assert result.errors == 0 and result.requests > 0
    assert len(servers["idle-closing"].arrivals) == result.requests + CONCURRENCY * CYCLES
    assert servers["idle-closing"].connections > CONCURRENCY  # it did close them, and they were reopened


def test_a_connection_dropped_without_an_answer_is_a_failure_and_the_run_goes_on(serving):
    servers = {"dropping": serving(drop_at=CONCURRENCY + 5)}  # inside the first turn
    result = alternate(servers)["dropping"]
    assert result.errors == 1 and result.requests > 0
    assert len(servers["dropping"].arrivals) == result.requests + 1 + CONCURRENCY * CYCLES


def test_run_load_times_every_answer_from_the_first_connect(serving):
    server = serving(close_every=2)
    result = run_load(HOST, server.port, [request(server.port)], CONCURRENCY, TURN)
    assert result.errors == 0 and len(server.arrivals) == result.requests
