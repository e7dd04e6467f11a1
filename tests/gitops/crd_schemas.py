"""Validation of custom resources against their CRD's schema, plus a strict check for unknown keys.

The CRD schemas leave additionalProperties unset almost everywhere, so a plain JSON-schema validation lets
a misspelled key through: ``selfHeel: true`` would validate, and the controller would silently ignore it.
The strict walk rejects any key the schema does not declare, wherever the schema does not explicitly allow
unknown fields. Used for Argo CD's objects (tests/data/schemas/argocd) and Argo Rollouts'
(tests/data/schemas/argo-rollouts).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "schemas"
CRD_FILES = {
    "Application": "argocd/application-crd.yaml",
    "ApplicationSet": "argocd/applicationset-crd.yaml",
    "AppProject": "argocd/appproject-crd.yaml",
    "Rollout": "argo-rollouts/rollout-crd.yaml",
    "AnalysisTemplate": "argo-rollouts/analysis-template-crd.yaml",
}


@cache
def crd_schema(kind: str) -> dict[str, Any]:
    # The ApplicationSet CRD is 1.4 MB of YAML: the C loader reads it in a fraction of the pure-Python time.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load((SCHEMAS / CRD_FILES[kind]).read_text(), Loader=loader)
    assert crd["spec"]["names"]["kind"] == kind
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


@cache
def object_meta_fields() -> frozenset[str]:
    """ObjectMeta's fields, from the Kubernetes schemas kubernetes-validate ships (the CRDs leave it opaque)."""
    folder = resources.files("kubernetes_validate") / "kubernetes-json-schema" / "v1.33.0-local-strict"
    definitions = json.loads((folder / "_definitions.json").read_text())["$defs"]
    return frozenset(definitions["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"])


def unknown_keys(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    """Paths of keys in ``value`` that ``schema`` does not declare and does not explicitly allow."""
    if isinstance(value, list):
        item_schema = schema.get("items", {})
        return [
            problem
            for i, item in enumerate(value)
            for problem in unknown_keys(item, item_schema, f"{path}[{i}]")
        ]
    if not isinstance(value, dict):
        return []
    declared = schema.get("properties")
    extra = schema.get("additionalProperties")
    open_ended = schema.get("x-kubernetes-preserve-unknown-fields") or extra is not None or declared is None
    problems = []
    for key, child in value.items():
        if declared and key in declared:
            problems += unknown_keys(child, declared[key], f"{path}.{key}")
        elif isinstance(extra, dict):
            problems += unknown_keys(child, extra, f"{path}.{key}")
        elif not open_ended:
            problems.append(f"{path}.{key}")
    return problems


def schema_problems(manifest: dict[str, Any]) -> list[str]:
    """Everything wrong with a custom resource: JSON-schema errors, then keys the schema does not know."""
    schema = crd_schema(manifest["kind"])
    validator = jsonschema.Draft7Validator(schema)
    problems = [
        f"{'.'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(manifest)
    ]
    problems += [f"metadata.{key}" for key in manifest["metadata"] if key not in object_meta_fields()]
    problems += unknown_keys(manifest, schema, "")
    return problems
