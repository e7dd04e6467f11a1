"""The HTTP API: estimates, the Azure ML scoring route, model description, health, metrics, OpenAPI.

Handlers read raw bodies and validate them against the model's signature themselves (validation.py)
rather than through a pydantic model: the signature is only known once the model is loaded, the checks
run per column for the whole batch, and every error names its field in one consistent format.
Any failure that is not the caller's fault becomes a 500 with the request id, logged with its traceback.
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.utils import generate_unique_id
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute

from estimation_engine import __version__
from estimation_engine.api.api_schema import (
    ERROR,
    ESTIMATE_REQUEST,
    ESTIMATE_RESPONSE,
    MODEL_DESCRIPTION,
    SCORE_REQUEST,
    SCORE_RESPONSE,
    component_schemas,
    json_body,
)
from estimation_engine.api.http_io import (
    HttpProblemError,
    json_response,
    problem_response,
    read_body,
)
from estimation_engine.api.metrics import CONTENT_TYPE, EngineMetrics
from estimation_engine.api.schema_decoding import TooManyItemsError
from estimation_engine.api.validation import InvalidInputError, Problem, ValidatedBatch
from estimation_engine.model.engine_state import EngineState, Serving, Status
from estimation_engine.model.model_loading import ModelLoadError
from estimation_engine.settings import EngineSettings
from model_contract.artifact import Estimates
from model_contract.registry import TAG_GIT_COMMIT

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]
# RFC 9110 section 9.1: every general-purpose server supports HEAD wherever it supports GET. Starlette's
# own routes (the docs) add it themselves; FastAPI's routes take only the methods they are given.
_GET = ["GET", "HEAD"]
_ERRORS = {status: json_body(ERROR) for status in (400, 413, 415, 422, 503)}


def create_app(
    settings: EngineSettings,
    metrics: EngineMetrics | None = None,
    on_load_failure: Callable[[ModelLoadError], None] | None = None,
) -> FastAPI:
    """The ASGI app; the model starts loading when the server starts (lifespan), not at import."""
    metrics = metrics or EngineMetrics()
    state = EngineState(settings, metrics, on_load_failure)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.start_loading()
        yield
        state.close()

    app = FastAPI(
        title="Property price estimation engine",
        version=__version__,
        description="Price estimates with calibrated prediction intervals from the pinned model version.",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.engine = state
    api = _Api(settings, state, metrics)
    app.add_api_route(
        "/v1/estimate",
        api.estimate,
        methods=["POST"],
        summary="Estimate prices with prediction intervals for a batch of properties",
        openapi_extra={"requestBody": {**json_body(ESTIMATE_REQUEST), "required": True}},
        responses={200: json_body(ESTIMATE_RESPONSE, "Estimates, in request order"), **_ERRORS},
    )
    app.add_api_route(
        "/score",
        api.score,
        methods=["POST"],
        summary="Azure ML scoring payload: {'data': [records]} -> {'result': [prices]}",
        openapi_extra={"requestBody": {**json_body(SCORE_REQUEST), "required": True}},
        responses={200: json_body(SCORE_RESPONSE, "Prices, in request order"), **_ERRORS},
    )
    app.add_api_route(
        "/v1/model",
        api.model,
        methods=_GET,
        summary="The served model: name, version, metrics, training run, input signature",
        responses={200: json_body(MODEL_DESCRIPTION, "The served model"), 503: json_body(ERROR)},
    )
    app.add_api_route("/health/live", api.live, methods=_GET, summary="Liveness: the process answers")
    app.add_api_route(
        "/health/ready", api.ready, methods=_GET, summary="Readiness: the pinned model is loaded"
    )
    app.add_api_route(
        "/metrics", api.metrics, methods=_GET, summary="Prometheus metrics", include_in_schema=False
    )
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.openapi = functools.partial(_openapi, app, settings, state)  # type: ignore[method-assign]
    from estimation_engine.api.middleware import RequestContextMiddleware

    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app


def _guarded(handler: Handler) -> Handler:
    """Turn HttpProblemError into its answer and anything unexpected into a logged 500."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except HttpProblemError as problem:
            return problem_response(problem)
        except Exception:
            log.exception("unexpected error serving %s %s", request.method, request.url.path)
            return problem_response(
                HttpProblemError(500, "internal error: the engine logged it with this request id")
            )

    return wrapper


class _Api:
    def __init__(self, settings: EngineSettings, state: EngineState, metrics: EngineMetrics) -> None:
        self.settings = settings
        self.state = state
        self.metrics_ = metrics
        self.estimate = _guarded(self._estimate)
        self.score = _guarded(self._score)
        self.model = _guarded(self._model)

    async def _estimate(self, request: Request) -> Response:
        serving = self._serving()
        body = await read_body(request, self.settings.max_body_bytes)
        batch = self._batch(serving, body, "properties")
        estimates = await self._run(serving, batch, "properties")
        coverage = serving.served.model.card.nominal_coverage
        results = [
            {
                "price": price,
                "interval": {"low": low, "high": high, "coverage": coverage},
                "warnings": warnings,
            }
            for price, low, high, warnings in zip(
                estimates.price.tolist(),
                estimates.low.tolist(),
                estimates.high.tolist(),
                batch.warnings,
                strict=True,
            )
        ]
        identity = {"name": serving.served.name, "version": serving.served.version}
        return json_response({"model": identity, "estimates": results}, headers=_model_headers(serving))

    async def _score(self, request: Request) -> Response:
        serving = self._serving()
        body = await read_body(request, self.settings.max_body_bytes)
        batch = self._batch(serving, body, "data")
        estimates = await self._run(serving, batch, "data")
        return json_response({"result": estimates.price.tolist()}, headers=_model_headers(serving))

    async def _model(self, request: Request) -> Response:
        shadow = self.state.shadow
        return json_response(describe(self._serving()) | {"shadow": shadow and shadow.describe()})

    async def live(self) -> Response:
        return json_response({"status": "alive"})

    async def ready(self) -> Response:
        state = self.state
        if state.status is Status.READY and state.serving is not None:
            served = state.serving.served
            model = {"name": served.name, "version": served.version, "sha256": served.sha256}
            return json_response({"status": "ready", "model": model})
        body: dict[str, Any] = {"status": state.status.value, "model": self.settings.model_label}
        if state.status is Status.LOADING and state.loading_detail:
            body["detail"] = state.loading_detail
        if state.failure is not None:
            body.update(reason=state.failure.reason.value, message=str(state.failure))
        return json_response(body, status=503)

    async def metrics(self) -> Response:
        return Response(self.metrics_.exposition(), media_type=CONTENT_TYPE)

    def _serving(self) -> Serving:
        serving = self.state.serving
        if serving is None:
            failure = self.state.failure
            detail = (
                f"model not loaded ({failure.reason.value}): {failure}"
                if failure
                else "model is still loading"
            )
            raise HttpProblemError(503, f"not ready: {detail}")
        return serving

    def _batch(self, serving: Serving, body: bytes, location: str) -> ValidatedBatch:
        """The body's properties as validated columns: by the model's compiled schema when the body fits
        it, else by parsing it generically and checking every field, so that each problem is named."""
        try:
            batch = serving.decoders[location].batch(body)
        except TooManyItemsError as over:
            limit = f"{over.count} items, over the limit of {self.settings.max_batch_size} per request"
            raise HttpProblemError(413, f"{location}: {limit}", [Problem(location, limit)]) from None
        except InvalidInputError as invalid:
            count = len(invalid.problems) + invalid.omitted
            raise HttpProblemError(
                422, f"{count} invalid field(s)", invalid.problems, invalid.omitted
            ) from None
        for feature, count in batch.unknown_categories.items():
            self.metrics_.unknown_categories.labels(feature).inc(count)
        for feature, rows in batch.out_of_range.items():
            self.metrics_.out_of_range_values.labels(feature).inc(len(rows))
        self.metrics_.batch_size.observe(batch.size)
        return batch

    async def _run(self, serving: Serving, batch: ValidatedBatch, location: str) -> Estimates:
        estimates = await serving.scorer.estimate(batch)
        refused = serving.validator.unestimable_rows(estimates)
        if refused:
            problems = serving.validator.unestimable(batch, estimates, refused, location)
            raise HttpProblemError(422, f"{len(refused)} properties could not be estimated", problems)
        served = serving.served
        self.metrics_.predictions.labels(served.name, str(served.version or "")).inc(batch.size)
        return estimates


def describe(serving: Serving) -> dict[str, Any]:
    """The body of GET /v1/model."""
    served, card = serving.served, serving.served.model.card
    ranges = card.training_ranges()
    return {
        "name": served.name,
        "version": served.version,
        "sha256": served.sha256,
        "origin": served.origin,
        "loaded_from_cache": served.from_cache,
        "evaluation": "fast-path" if serving.scorer.compiled is not None else "pipeline",
        "estimator": card.estimator,
        "target": card.target,
        "nominal_coverage": card.nominal_coverage,
        "metrics": dict(card.metrics),
        "training_run": {
            "run_id": served.run_id or card.training_run_id,
            "git_commit": served.tags.get(TAG_GIT_COMMIT),
            "data_fingerprint": card.data_fingerprint,
            "lineage_key": card.lineage_key,
        },
        "signature": {
            "features": [
                {
                    "name": feature.name,
                    "type": feature.kind,
                    "required": feature.required,
                    **({"categories": list(feature.categories)} if feature.kind == "categorical" else {}),
                    **({"training_range": asdict(ranges[feature.name])} if feature.name in ranges else {}),
                }
                for feature in card.features
            ]
        },
    }


def _model_headers(serving: Serving) -> dict[str, str]:
    served = serving.served
    return {"x-model-name": served.name, "x-model-version": str(served.version or "")}


async def _http_exception(_: Request, error: Exception) -> Response:
    """Routing's own errors (404, 405) in the engine's error shape, keeping their headers: a 405 must
    carry ``Allow`` with the route's methods (RFC 9110 section 15.5.6), which Starlette puts there."""
    assert isinstance(error, StarletteHTTPException)
    response = problem_response(HttpProblemError(error.status_code, str(error.detail)))
    headers = dict(error.headers or {})
    if "Allow" in headers:  # Starlette joins a set: one order for every answer
        headers["Allow"] = ", ".join(sorted(method.strip() for method in headers["Allow"].split(",")))
    response.headers.update(headers)
    return response


def _documented(route: BaseRoute) -> BaseRoute:
    """The route as the OpenAPI document shows it: HEAD, implied by GET, is not listed as an operation
    of its own (it would repeat the GET operation's id), and the operation id is the GET one."""
    if not isinstance(route, APIRoute) or "HEAD" not in route.methods:
        return route
    shown = copy.copy(route)
    shown.methods = route.methods - {"HEAD"}
    shown.unique_id = generate_unique_id(shown)
    return shown


def _openapi(app: FastAPI, settings: EngineSettings, state: EngineState) -> dict[str, Any]:
    """The OpenAPI document, with the request schema of the model being served (rebuilt once it loads)."""
    serving = state.serving
    key = id(serving)
    cached = getattr(app.state, "openapi_cache", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    routes = [_documented(route) for route in app.routes]
    document = get_openapi(title=app.title, version=app.version, description=app.description, routes=routes)
    card = serving.served.model.card if serving is not None else None
    document.setdefault("components", {}).setdefault("schemas", {}).update(
        component_schemas(card, settings.max_batch_size, settings.unknown_categories)
    )
    app.state.openapi_cache = (key, document)
    return document
