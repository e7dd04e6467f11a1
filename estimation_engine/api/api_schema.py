"""The OpenAPI schemas of the request and response bodies, built from the served model's signature.

The docs page (``/docs``) then shows the real feature names, their types, which are required and the
categories seen in training: the property schema is generated from the msgspec struct that decodes the
requests (schema_decoding.property_struct), so the documented contract is the decoded one. Until a model is
loaded the property schema is a generic object.
"""

from __future__ import annotations

from typing import Any

import msgspec

from estimation_engine.api.schema_decoding import property_struct
from estimation_engine.settings import UnknownCategoryPolicy
from model_contract.artifact import ModelCard

ESTIMATE_REQUEST = "EstimateRequest"
ESTIMATE_RESPONSE = "EstimateResponse"
SCORE_REQUEST = "ScoreRequest"
SCORE_RESPONSE = "ScoreResponse"
MODEL_DESCRIPTION = "ModelDescription"
PROPERTY = "Property"
ERROR = "Error"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(name: str, description: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"content": {"application/json": {"schema": ref(name)}}}
    if description:
        body["description"] = description
    return body


def property_schema(card: ModelCard | None, unknown_categories: UnknownCategoryPolicy) -> dict[str, Any]:
    """The schema of one property: msgspec's JSON Schema of the very struct that decodes requests."""
    if card is None:
        return {
            "type": "object",
            "description": "Feature values by name (the schema shows the model's features once it is loaded).",
            "additionalProperties": True,
        }
    struct = property_struct(card, unknown_categories)
    _, components = msgspec.json.schema_components([struct], ref_template="#/components/schemas/{name}")
    schema = components[struct.__name__]
    schema["description"] = (
        f"One property, by feature name ({card.model_name}). Optional features may be missing or null."
    )
    for name, seen in card.training_ranges().items():
        schema["properties"][name]["description"] = (
            f"Seen in training: {seen.minimum:.10g} to {seen.maximum:.10g}. A value outside is estimated "
            "with a warning; one far outside, or one the model has no sensible price for, is refused (422)."
        )
    return schema


def component_schemas(
    card: ModelCard | None, max_batch_size: int, unknown_categories: UnknownCategoryPolicy
) -> dict[str, Any]:
    batch = {"type": "array", "items": ref(PROPERTY), "minItems": 1, "maxItems": max_batch_size}
    interval = {
        "type": "object",
        "properties": {
            "low": {"type": "number"},
            "high": {"type": "number"},
            "coverage": {"type": "number", "description": "Nominal coverage of the interval, e.g. 0.9."},
        },
        "required": ["low", "high", "coverage"],
    }
    estimate = {
        "type": "object",
        "properties": {
            "price": {"type": "number"},
            "interval": interval,
            "warnings": {
                "type": "array",
                "items": {"type": "string"},
                "description": "One per field the model has not seen the like of: a category not seen in "
                "training, or a number outside the range of the training rows (the estimate extrapolates).",
            },
        },
        "required": ["price", "interval", "warnings"],
    }
    model_ref = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "version": {"type": ["integer", "null"]}},
        "required": ["name", "version"],
    }
    return {
        PROPERTY: property_schema(card, unknown_categories),
        ESTIMATE_REQUEST: {
            "type": "object",
            "properties": {"properties": batch},
            "required": ["properties"],
            "additionalProperties": False,
        },
        ESTIMATE_RESPONSE: {
            "type": "object",
            "properties": {"model": model_ref, "estimates": {"type": "array", "items": estimate}},
            "required": ["model", "estimates"],
        },
        SCORE_REQUEST: {
            "type": "object",
            "description": "The Azure ML scoring payload: a list of records.",
            "properties": {"data": batch},
            "required": ["data"],
            "additionalProperties": False,
        },
        SCORE_RESPONSE: {
            "type": "object",
            "properties": {"result": {"type": "array", "items": {"type": "number"}}},
            "required": ["result"],
        },
        MODEL_DESCRIPTION: {"type": "object", "additionalProperties": True},
        ERROR: {
            "type": "object",
            "properties": {
                "status": {"type": "integer"},
                "message": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
                "request_id": {"type": "string"},
            },
            "required": ["status", "message"],
        },
    }
