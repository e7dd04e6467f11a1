"""Replay recorded HTTP exchanges: each request must match the next recorded one, in order."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import httpx

RECORDINGS = Path(__file__).resolve().parents[2] / "data" / "pull_requests"


def recording(name: str) -> dict:
    return json.loads((RECORDINGS / f"{name}.json").read_text())


@dataclass
class Exchange:
    method: str
    path: str
    status: int
    response: dict | list | str | None = None
    query: dict | None = None
    body: dict | None = None
    headers: dict = field(default_factory=dict)


class Replay(httpx.MockTransport):
    """A transport that checks every request against the script and answers the recorded response."""

    def __init__(self, *exchanges: Exchange) -> None:
        self.script = list(exchanges)
        self.requests: list[httpx.Request] = []
        super().__init__(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        assert self.script, f"unexpected request {request.method} {request.url}"
        expected = self.script.pop(0)
        self.requests.append(request)
        assert (request.method, request.url.path) == (expected.method, expected.path)
        if expected.query is not None:
            assert dict(request.url.params) == {k: str(v) for k, v in expected.query.items()}
        if expected.body is not None:
            assert json.loads(request.content) == expected.body
        if isinstance(expected.response, str):
            return httpx.Response(expected.status, text=expected.response, headers=expected.headers)
        return httpx.Response(expected.status, json=expected.response, headers=expected.headers)

    @property
    def done(self) -> bool:
        return not self.script


def error_exchange(recorded: dict, status: str, method: str, path: str) -> Exchange:
    error = recorded["errors"][status]
    code = int(status.split("-")[0])
    return Exchange(method, path, code, error.get("json", error.get("text")), headers=error["headers"])
