"""Every route answers a method it does not support with 405 and an ``Allow`` header listing the methods it
does (RFC 9110 section 15.5.6); GET routes also answer HEAD, without a body."""

from __future__ import annotations

import pytest

from estimation_engine.api.app import create_app
from estimation_engine.settings import EngineSettings

# Every route of the app and the methods it supports; test_the_table_covers_every_route keeps it whole.
ROUTES = {
    "/v1/estimate": {"POST"},
    "/score": {"POST"},
    "/v1/model": {"GET", "HEAD"},
    "/health/live": {"GET", "HEAD"},
    "/health/ready": {"GET", "HEAD"},
    "/metrics": {"GET", "HEAD"},
    "/openapi.json": {"GET", "HEAD"},
    "/docs": {"GET", "HEAD"},
    "/docs/oauth2-redirect": {"GET", "HEAD"},
}
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def test_the_table_covers_every_route():
    app = create_app(EngineSettings.from_env({"MODEL_NAME": "ames-price", "MODEL_VERSION": "1"}))
    assert {route.path: set(route.methods) for route in app.routes} == ROUTES


@pytest.mark.parametrize(
    ("path", "method"),
    [(path, method) for path, allowed in ROUTES.items() for method in METHODS if method not in allowed],
)
def test_an_unsupported_method_is_a_405_listing_the_route_s_methods_in_allow(http, path, method):
    answer = http.request(method, path)
    assert answer.status_code == 405
    assert answer.headers["allow"] == ", ".join(sorted(ROUTES[path]))
    if method != "HEAD":
        assert answer.json()["status"] == 405 and answer.json()["message"] == "Method Not Allowed"


@pytest.mark.parametrize("path", [path for path, allowed in ROUTES.items() if "HEAD" in allowed])
def test_a_get_route_answers_head_with_the_get_status_and_no_body(http, path):
    get, head = http.get(path), http.head(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


def test_the_openapi_document_lists_head_nowhere_and_each_operation_id_once(http):
    paths = http.get("/openapi.json").json()["paths"]
    operations = [
        (path, method, op["operationId"]) for path, ops in paths.items() for method, op in ops.items()
    ]
    assert not [entry for entry in operations if entry[1] == "head"]
    assert len({op_id for _, _, op_id in operations}) == len(operations)
    assert paths["/v1/model"]["get"]["operationId"].endswith("_get")
