"""The post-deploy smoke test against a real engine: passes on a good deployment, names what is wrong."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading

import httpx
import pytest

from estimation_engine.smoke import SmokeTestError, run_smoke
from tests.estimation_engine.conftest import REPO_ROOT


def smoke(url: str, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "estimation_engine", "smoke", "--url", url, "--wait", "5", *extra],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


def test_smoke_passes_against_the_pinned_deployment(engine, registered_models):
    pin = {"MODEL_NAME": registered_models.model_name, "MODEL_VERSION": str(registered_models.versions[0])}
    result = smoke(engine.url, env=pin)
    assert result.returncode == 0, result.stderr
    assert f"ok: serves ames-price v{registered_models.versions[0]}" in result.stdout
    assert "ok: bad request refused with 422" in result.stdout


def test_smoke_fails_when_another_version_is_served(engine, registered_models):
    result = smoke(engine.url, "--expect-version", str(registered_models.versions[1]))
    assert result.returncode == 1
    assert f"expected v{registered_models.versions[1]}" in result.stderr


def test_smoke_fails_when_the_estimate_is_not_sane(engine):
    result = smoke(engine.url, "--min-price", "1e9", "--max-price", "1e10")
    assert result.returncode == 1
    assert "outside the sane range" in result.stderr


def test_smoke_fails_with_the_reason_when_the_engine_failed_to_load(
    engine_factory, registered_models, tmp_path
):
    from tests.estimation_engine.conftest import engine_env

    broken = engine_factory(engine_env(registered_models, tmp_path / "cache", MODEL_VERSION="99"))
    result = smoke(broken.url)
    assert result.returncode == 1
    assert "failed to load its model" in result.stderr and "not-found" in result.stderr


def test_smoke_fails_when_nothing_answers():
    result = smoke("http://127.0.0.1:9", "--wait", "0")
    assert result.returncode == 1 and "not ready" in result.stderr


READY_MODEL = {"name": "ames-price", "version": 3, "signature": {"features": [{"name": "Lot_Area"}]}}
GOOD_ESTIMATE = {"price": 200_000, "interval": {"low": 150_000, "high": 250_000, "coverage": 0.9}}


def good_engine(request: httpx.Request) -> httpx.Response:
    """What a healthy engine answers to each of the smoke test's requests."""
    if request.url.path == "/health/ready":
        return httpx.Response(200, json={"status": "ready"})
    if request.url.path == "/v1/model":
        return httpx.Response(200, json=READY_MODEL)
    if b"__smoke_test_not_a_feature__" in request.content:
        return httpx.Response(422, json={"errors": [{"field": "properties[0].__smoke_test_not_a_feature__"}]})
    return httpx.Response(200, json={"model": {"version": 3}, "estimates": [GOOD_ESTIMATE]})


def smoke_against(broken: dict[tuple[str, str], httpx.Response | Exception]) -> list[str]:
    """run_smoke against the good engine, except that ``broken`` requests get a bad answer or an error."""

    def handle(request: httpx.Request) -> httpx.Response:
        outcome = broken.get((request.method, request.url.path)) or good_engine(request)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    transport = httpx.MockTransport(handle)
    return list(run_smoke("http://engine", "ames-price", 3, 0, (1, 1e9), transport=transport))


MODEL = ("GET", "/v1/model")
ESTIMATE = ("POST", "/v1/estimate")
NOT_JSON = "with a body that is not JSON"


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        ({MODEL: httpx.Response(200, text="<html>proxy</html>")}, f"GET /v1/model answered 200 {NOT_JSON}"),
        (
            {MODEL: httpx.Response(200, json=[1])},
            "GET /v1/model answered 200 with JSON that is not an object",
        ),
        ({MODEL: httpx.RemoteProtocolError("peer closed")}, "GET /v1/model failed: RemoteProtocolError"),
        (
            {MODEL: httpx.Response(200, json={**READY_MODEL, "signature": {"features": [1]}})},
            "signature.features is not a list",
        ),
        ({ESTIMATE: httpx.ReadError("connection reset")}, "POST /v1/estimate failed: ReadError"),
        ({ESTIMATE: httpx.Response(200, text="OK")}, f"POST /v1/estimate answered 200 {NOT_JSON}"),
        (
            {ESTIMATE: httpx.Response(200, json={"model": {"version": 3}, "estimates": []})},
            "without estimates[0]",
        ),
        ({ESTIMATE: httpx.Response(200, json={"model": 3})}, "estimate came from 3"),
    ],
)
def test_a_broken_answer_or_connection_is_a_smoke_failure_naming_the_request(broken, reason):
    with pytest.raises(SmokeTestError) as failure:
        smoke_against(broken)
    assert reason in str(failure.value)


def test_the_fake_engine_passes_when_nothing_is_broken():
    assert smoke_against({}) == [
        "ready",
        "serves ames-price v3 (sha256 None)",
        "estimate 200,000 in [150,000, 250,000] at 90% coverage",
        "bad request refused with 422",
    ]


class NotJsonHandler(http.server.BaseHTTPRequestHandler):
    """Answers every GET with 200 and an HTML page, like a proxy's landing page in front of nothing."""

    def do_GET(self) -> None:
        body = b"<html>welcome</html>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_the_cli_reports_a_non_json_answer_as_a_failed_smoke_test_not_a_traceback():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotJsonHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = smoke(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "smoke test FAILED: GET /v1/model answered 200 with a body that is not JSON"
    )
    assert "Traceback" not in result.stderr
