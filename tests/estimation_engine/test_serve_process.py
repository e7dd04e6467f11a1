"""``python -m estimation_engine serve`` as its own process: exit codes, log lines, graceful SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from estimation_engine.malloc_tunables import TUNABLES, VARIABLE
from model_contract.pins import MODEL_VERSION_RULE
from tests.conftest import RegisteredModels
from tests.estimation_engine.conftest import REPO_ROOT, engine_env

BOUND = 60.0


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_invalid_settings_exit_2_naming_each_variable():
    env = {
        "PATH": "/usr/bin:/bin",
        "MODEL_NAME": "ames-price",
        "MODEL_VERSION": "latest",
        "ENGINE_PORT": "http",
    }
    result = subprocess.run(
        [sys.executable, "-m", "estimation_engine", "serve"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=BOUND,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"estimation-engine: invalid setting: MODEL_VERSION: 'latest' is not a version; allowed: {MODEL_VERSION_RULE}",
        "estimation-engine: invalid setting: ENGINE_PORT: 'http' is not a valid integer; allowed: a valid integer",
    ]


def test_load_failure_with_exit_policy_exits_3_with_a_log_line_naming_the_cause(
    engine_process, registered_models: RegisteredModels, tmp_path
):
    env = engine_env(
        registered_models,
        tmp_path / "cache",
        MODEL_VERSION="99",
        ENGINE_ON_LOAD_FAILURE="exit",
        ENGINE_LOG_LEVEL="INFO",
    )
    handle = engine_process(env)
    assert handle.process.wait(timeout=BOUND) == 3
    failures = [line for line in json_lines(handle.log()) if line.get("event") == "model_load_failed"]
    assert len(failures) == 1
    assert failures[0]["reason"] == "not-found" and failures[0]["level"] == "ERROR"
    assert "'ames-price' version 99 does not exist" in failures[0]["message"]


def in_flight(url: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith("engine_http_requests_in_flight "):
            return float(line.split()[1])
    raise AssertionError("no in-flight gauge")


def test_sigterm_lets_the_in_flight_request_finish_before_the_process_ends(
    engine_process, registered_models: RegisteredModels, tmp_path
):
    handle = engine_process(engine_env(registered_models, tmp_path / "cache", ENGINE_LOG_LEVEL="INFO"))
    handle.wait_for("/health/ready", timeout=BOUND)
    # Outside the image serve re-executes itself, in the same process, with glibc's malloc tunables set
    # (glibc, parsing them at start, ends the variable's text after the first one: the others still apply).
    environ = dict(
        item.split("=", 1)
        for item in Path(f"/proc/{handle.process.pid}/environ").read_text().split("\0")
        if item
    )
    assert TUNABLES.startswith(environ[VARIABLE])
    body = json.dumps({"properties": list(registered_models.sample_rows)}).encode()
    host, port = handle.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=BOUND) as connection:
        head = f"POST /v1/estimate HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        connection.sendall(head.encode() + body[:10])
        deadline = time.monotonic() + BOUND
        while in_flight(handle.url) < 2:  # this request plus the metrics request itself
            assert time.monotonic() < deadline, "request never reached the app"
            time.sleep(0.05)
        handle.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)  # let the server begin shutting down before the request completes
        connection.sendall(body[10:])
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert b'"estimates"' in answer
    # uvicorn re-raises the signal once shut down, so the status is that of a process that honoured SIGTERM.
    assert handle.process.wait(timeout=BOUND) == -signal.SIGTERM
    messages = [line["message"] for line in json_lines(handle.log())]
    assert any("Shutting down" in message for message in messages)
    assert any("Finished server process" in message for message in messages)
