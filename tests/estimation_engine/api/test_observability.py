"""Request ids, Prometheus metrics and JSON logs."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timedelta

from estimation_engine.api.logs import JsonFormatter, request_id

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def test_request_id_is_taken_from_the_caller_and_echoed(http):
    answer = http.get("/health/live", headers={"x-request-id": "order-1234"})
    assert answer.headers["x-request-id"] == "order-1234"


def test_traceparent_trace_id_becomes_the_request_id_and_is_echoed(http):
    answer = http.post("/v1/estimate", json={"properties": []}, headers={"traceparent": TRACEPARENT})
    assert answer.status_code == 422
    assert answer.headers["x-request-id"] == TRACE_ID
    assert answer.headers["traceparent"] == TRACEPARENT
    assert answer.json()["request_id"] == TRACE_ID


def test_unusable_request_id_is_replaced_by_a_generated_one(http):
    answer = http.get("/health/live", headers={"x-request-id": "bad id; with spaces " + "x" * 200})
    generated = answer.headers["x-request-id"]
    assert len(generated) == 32 and " " not in generated


def metric_lines(http) -> list[str]:
    answer = http.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return answer.text.splitlines()


def test_metrics_count_requests_by_route_and_status_and_name_the_model(http, registered_models):
    row = registered_models.sample_rows[0]
    http.post("/v1/estimate", json={"properties": [row, row]})
    http.post("/v1/estimate", json={"properties": [{"nope": 1}]})
    http.get("/some/random/path/123")
    lines = metric_lines(http)
    version = registered_models.versions[0]

    def value(prefix: str) -> float:
        (line,) = [line for line in lines if line.startswith(prefix)]
        return float(line.rsplit(" ", 1)[1])

    assert value('engine_http_requests_total{method="POST",route="/v1/estimate",status="200"}') >= 1
    assert value('engine_http_requests_total{method="POST",route="/v1/estimate",status="422"}') >= 1
    assert value('engine_http_requests_total{method="GET",route="unmatched",status="404"}') >= 1
    assert not any("/some/random/path" in line for line in lines)
    assert (
        value('engine_http_request_duration_seconds_count{method="POST",route="/v1/estimate",status="200"}')
        >= 1
    )
    assert value(f'engine_predictions_total{{model_name="ames-price",model_version="{version}"}}') >= 2
    (info,) = [line for line in lines if line.startswith("engine_model_info{")]
    assert f'version="{version}"' in info and 'name="ames-price"' in info


def test_log_lines_are_json_with_the_request_id_and_extra_fields():
    token = request_id.set("req-42")
    try:
        record = logging.LogRecord(
            "estimation_engine.access", logging.INFO, __file__, 1, "POST %s", ("/x",), None
        )
        record.status = 200
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["message"] == "POST /x" and line["request_id"] == "req-42" and line["status"] == 200
    assert line["level"] == "INFO" and line["logger"] == "estimation_engine.access"


def test_a_log_line_carries_its_time_in_utc_and_an_exception_whole_but_not_uvicorns_coloured_copy():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    record.color_message = "\x1b[31mfailed\x1b[0m"
    line = json.loads(JsonFormatter().format(record))
    assert datetime.fromisoformat(line["time"]).utcoffset() == timedelta(0)
    assert line["exception"].startswith("Traceback") and "ValueError: boom" in line["exception"]
    assert "color_message" not in line and "request_id" not in line
