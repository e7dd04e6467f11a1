"""The post-deploy smoke test: is the deployed engine ready, serving the pinned version, sane, and strict?

Deploy pipelines run ``python -m estimation_engine smoke --url URL`` after a rollout; the expected model
comes from ``MODEL_NAME``/``MODEL_VERSION`` (the environment's model.env) unless given. Each check raises
SmokeTestError with the reason, so the pipeline log says what is wrong, not just that something is.
The example property is a real Ames sale; features the served model does not take are dropped from it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx

EXAMPLE_PROPERTY: dict[str, Any] = {
    "MS_SubClass": "One_Story_1946_and_Newer_All_Styles", "MS_Zoning": "Residential_Low_Density",
    "Lot_Frontage": 141, "Lot_Area": 31770, "Street": "Pave", "Alley": "No_Alley_Access",
    "Lot_Shape": "Slightly_Irregular", "Land_Contour": "Lvl", "Utilities": "AllPub", "Lot_Config": "Corner",
    "Land_Slope": "Gtl", "Neighborhood": "North_Ames", "Condition_1": "Norm", "Condition_2": "Norm",
    "Bldg_Type": "OneFam", "House_Style": "One_Story", "Overall_Cond": "Average", "Year_Built": 1960,
    "Year_Remod_Add": 1960, "Roof_Style": "Hip", "Roof_Matl": "CompShg", "Exterior_1st": "BrkFace",
    "Exterior_2nd": "Plywood", "Mas_Vnr_Type": "Stone", "Mas_Vnr_Area": 112, "Exter_Cond": "Typical",
    "Foundation": "CBlock", "Bsmt_Cond": "Good", "Bsmt_Exposure": "Gd", "BsmtFin_Type_1": "BLQ",
    "BsmtFin_SF_1": 2, "BsmtFin_Type_2": "Unf", "BsmtFin_SF_2": 0, "Bsmt_Unf_SF": 441, "Total_Bsmt_SF": 1080,
    "Heating": "GasA", "Heating_QC": "Fair", "Central_Air": "Y", "Electrical": "SBrkr", "First_Flr_SF": 1656,
    "Second_Flr_SF": 0, "Gr_Liv_Area": 1656, "Bsmt_Full_Bath": 1, "Bsmt_Half_Bath": 0, "Full_Bath": 1,
    "Half_Bath": 0, "Bedroom_AbvGr": 3, "Kitchen_AbvGr": 1, "TotRms_AbvGrd": 7, "Functional": "Typ",
    "Fireplaces": 2, "Garage_Type": "Attchd", "Garage_Finish": "Fin", "Garage_Cars": 2, "Garage_Area": 528,
    "Garage_Cond": "Typical", "Paved_Drive": "Partial_Pavement", "Wood_Deck_SF": 210, "Open_Porch_SF": 62,
    "Enclosed_Porch": 0, "Three_season_porch": 0, "Screen_Porch": 0, "Pool_Area": 0, "Pool_QC": "No_Pool",
    "Fence": "No_Fence", "Misc_Val": 0, "Mo_Sold": 5, "Year_Sold": 2010, "Sale_Type": "WD ",
    "Sale_Condition": "Normal", "Longitude": -93.619754, "Latitude": 42.054035,
}  # fmt: skip
_PROBE_FEATURE = "__smoke_test_not_a_feature__"


class SmokeTestError(RuntimeError):
    """A check failed; the message is the reason."""


def expected_from_env(name: str | None, version: int | None) -> tuple[str | None, int | None]:
    """The expected model: explicit arguments, else the MODEL_NAME/MODEL_VERSION of the environment."""
    if name is None:
        name = os.environ.get("MODEL_NAME") or None
    if version is None and os.environ.get("MODEL_VERSION", "").strip().isdigit():
        version = int(os.environ["MODEL_VERSION"])
    return name, version


def run_smoke(
    url: str,
    name: str | None,
    version: int | None,
    wait_seconds: float,
    price_range: tuple[float, float],
    transport: httpx.BaseTransport | None = None,
) -> Iterator[str]:
    """Run the checks in order, yielding a line per passed check.

    Whatever the engine (or a proxy in front of it) does, a dropped connection, a body that is not JSON,
    an answer of the wrong shape, ends as a SmokeTestError naming the request, never as a traceback.
    """
    with httpx.Client(base_url=url.rstrip("/"), timeout=10.0, transport=transport) as client:
        yield _wait_ready(client, wait_seconds)
        model = _get_json(client, "/v1/model")
        if name is not None and model.get("name") != name:
            raise SmokeTestError(f"serves model {model.get('name')!r}, expected {name!r}")
        if version is not None and model.get("version") != version:
            raise SmokeTestError(f"serves {model.get('name')} v{model.get('version')}, expected v{version}")
        yield f"serves {model.get('name')} v{model.get('version')} (sha256 {model.get('sha256')})"
        yield _check_estimate(client, model, price_range)
        yield _check_refusal(client)


def _wait_ready(client: httpx.Client, wait_seconds: float) -> str:
    deadline = time.monotonic() + wait_seconds
    last = "no answer"
    while True:
        try:
            answer = client.get("/health/ready")
            if answer.status_code == 200:
                return "ready"
            last = f"{answer.status_code} {answer.text[:300]}"
            body = answer.json() if answer.status_code == 503 else None
            if isinstance(body, dict) and body.get("status") == "failed":
                raise SmokeTestError(f"engine failed to load its model: {last}")
        except (httpx.HTTPError, ValueError) as error:
            last = f"{type(error).__name__}: {error}"
        if time.monotonic() >= deadline:
            raise SmokeTestError(f"not ready after {wait_seconds:.0f}s: {last}")
        time.sleep(1.0)


def _send(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        return client.request(method, path, **kwargs)
    except httpx.HTTPError as error:
        raise SmokeTestError(f"{method} {path} failed: {type(error).__name__}: {error}") from error


def _json_object(answer: httpx.Response, request: str) -> dict:
    try:
        body = answer.json()
    except ValueError:
        raise SmokeTestError(
            f"{request} answered {answer.status_code} with a body that is not JSON: {answer.text[:300]!r}"
        ) from None
    if not isinstance(body, dict):
        raise SmokeTestError(
            f"{request} answered {answer.status_code} with JSON that is not an object: {body!r:.300}"
        )
    return body


def _get_json(client: httpx.Client, path: str) -> dict:
    answer = _send(client, "GET", path)
    if answer.status_code != 200:
        raise SmokeTestError(f"GET {path} answered {answer.status_code}: {answer.text[:300]}")
    return _json_object(answer, f"GET {path}")


def _example_for(model: dict) -> dict[str, Any]:
    try:
        features = [
            (f["name"], bool(f.get("required"))) for f in model.get("signature", {}).get("features", [])
        ]
    except (AttributeError, KeyError, TypeError):
        raise SmokeTestError(
            f"GET /v1/model: signature.features is not a list of {{name, required}}: {model.get('signature')!r:.300}"
        ) from None
    taken = {feature for feature, _ in features}
    example = {key: value for key, value in EXAMPLE_PROPERTY.items() if key in taken}
    missing = [feature for feature, required in features if required and feature not in example]
    if missing:
        raise SmokeTestError(f"the model requires features the smoke example lacks: {', '.join(missing)}")
    return example


def _check_estimate(client: httpx.Client, model: dict, price_range: tuple[float, float]) -> str:
    answer = _send(client, "POST", "/v1/estimate", json={"properties": [_example_for(model)]})
    if answer.status_code != 200:
        raise SmokeTestError(f"POST /v1/estimate answered {answer.status_code}: {answer.text[:500]}")
    body = _json_object(answer, "POST /v1/estimate")
    served = body.get("model")
    if not isinstance(served, dict) or served.get("version") != model.get("version"):
        raise SmokeTestError(f"estimate came from {served!r:.300}, not the described model")
    try:
        estimate = body["estimates"][0]
        price, interval = estimate["price"], estimate["interval"]
        low, high, coverage = interval["low"], interval["high"], interval["coverage"]
    except (KeyError, IndexError, TypeError):
        raise SmokeTestError(
            f"POST /v1/estimate answered 200 without estimates[0] with price and interval "
            f"low/high/coverage: {answer.text[:500]}"
        ) from None
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in (price, low, high, coverage)):
        raise SmokeTestError(f"estimate has non-numeric or non-finite values: {estimate}")
    if not (low <= price <= high and 0 < coverage < 1):
        raise SmokeTestError(f"estimate is inconsistent (low <= price <= high, 0 < coverage < 1): {estimate}")
    lowest, highest = price_range
    if not lowest <= price <= highest:
        raise SmokeTestError(
            f"estimate {price:,.0f} is outside the sane range [{lowest:,.0f}, {highest:,.0f}]"
        )
    return f"estimate {price:,.0f} in [{low:,.0f}, {high:,.0f}] at {coverage:.0%} coverage"


def _check_refusal(client: httpx.Client) -> str:
    answer = _send(client, "POST", "/v1/estimate", json={"properties": [{_PROBE_FEATURE: 1}]})
    if answer.status_code != 422 or _PROBE_FEATURE not in answer.text:
        raise SmokeTestError(
            f"a request with an unknown feature was not refused with 422 naming it: "
            f"{answer.status_code} {answer.text[:300]}"
        )
    return "bad request refused with 422"
