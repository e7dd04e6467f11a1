"""Per-request context as plain ASGI middleware: request id, access log, metrics.

Plain ASGI (not Starlette's BaseHTTPMiddleware) because it adds microseconds, not a task per request.
The request id comes from ``x-request-id`` when the caller sent a sane one, else from the W3C
``traceparent`` trace id, else it is generated; it is echoed on the response and stamped on every log line
written while the request is served.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from estimation_engine.api.logs import request_id
from estimation_engine.api.metrics import EngineMetrics

access_log = logging.getLogger("estimation_engine.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
UNMATCHED_ROUTE = "unmatched"


def choose_request_id(headers: dict[bytes, bytes]) -> str:
    given = headers.get(b"x-request-id", b"").decode("latin-1").strip()
    if _REQUEST_ID.match(given):
        return given
    match = _TRACEPARENT.match(headers.get(b"traceparent", b"").decode("latin-1").strip().lower())
    if match and match.group(1) != "0" * 32:
        return match.group(1)
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: EngineMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        current = choose_request_id(headers)
        token = request_id.set(current)
        traceparent = headers.get(b"traceparent")
        status = 500

        async def send_with_context(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [(b"x-request-id", current.encode("latin-1"))]
                if traceparent is not None:
                    extra.append((b"traceparent", traceparent))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_context)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            route_label = getattr(route, "path", None) or UNMATCHED_ROUTE
            labels = (route_label, scope["method"], str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(elapsed)
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "event": "request",
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route_label,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )
            request_id.reset(token)
