"""The OpenAPI schemas of the request and response bodies, built from the served model's signature.

The docs page (``/docs``) then shows the real feature names, their types, which are required and the
categories seen in training. Until a model is loaded the property schema is a generic object.
"""

from __future__ import annotations

from typing import Any

from estimation_engine.settings import UnknownCategoryPolicy
from model_contract.artifact import Feature, ModelCard

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
    if card is None:
        return {
            "type": "object",
            "description": "Feature values by name (the schema shows the model's features once it is loaded).",
            "additionalProperties": True,
        }
    return {
        "type": "object",
        "description": f"One property, by feature name ({card.model_name}). Optional features may be missing or null.",
        "properties": {f.name: _feature_schema(f, unknown_categories) for f in card.features},
        "required": [f.name for f in card.features if f.required],
        "additionalProperties": False,
    }


def _feature_schema(feature: Feature, unknown_categories: UnknownCategoryPolicy) -> dict[str, Any]:
    if feature.kind == "numeric":
        return {"type": "number" if feature.required else ["number", "null"]}
    schema: dict[str, Any] = {"type": "string" if feature.required else ["string", "null"]}
    if unknown_categories is UnknownCategoryPolicy.REJECT:
        schema["enum"] = [*feature.categories, *([] if feature.required else [None])]
    else:
        schema["examples"] = list(feature.categories[:5])
        schema["description"] = (
            "Levels seen in training: "
            + ", ".join(feature.categories)
            + ". Other levels are accepted with a warning."
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
            "warnings": {"type": "array", "items": {"type": "string"}},
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
