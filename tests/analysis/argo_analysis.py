"""What Argo Rollouts v1.9 does with an AnalysisTemplate's metric before and after it queries Prometheus.

A faithful, small re-reading of the controller's code, so that the tests run the templates exactly as the
cluster will:

* ``merge_args``: the Rollout step's args override the template's by name (utils/analysis/helpers.go
  MergeArgs); an arg with neither value nor valueFrom is an error ("args.<name> was not resolved"). An arg
  the template does not declare is *silently ignored* by the controller: ``undeclared_args`` finds those,
  because a misspelled threshold override would otherwise leave the default in force unnoticed.
* ``resolve_metric``: every ``{{args.<name>}}`` in the metric's JSON is replaced, values JSON-escaped, and a
  tag that names no arg is an error (utils/analysis/factory.go ResolveMetricArgs, utils/template
  ResolveQuotedArgs with fasttemplate).
* ``evaluate``: a Prometheus vector becomes ``result`` (a list of floats; metricproviders/prometheus
  processResponse) and the success/failure conditions decide Successful, Failed or Inconclusive
  (utils/evaluate EvaluateResult). The conditions are expr-lang; ``condition`` evaluates the subset the
  templates use (``len``, ``isNaN``, ``result[i]``, numbers, comparisons, ``&&``, ``||``, parentheses,
  ``true``/``false``) and refuses anything else, so a template using more fails its tests loudly.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

SUCCESSFUL, FAILED, INCONCLUSIVE = "Successful", "Failed", "Inconclusive"
_TAG = re.compile(r"\{\{(.*?)\}\}")
_CONDITION_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<name>len|isNaN|result|true|false)"
    r"|(?P<op>&&|\|\||<=|>=|==|!=|<|>|\(|\)|\[|\]))"
)
_PYTHON_OPS = {"&&": " and ", "||": " or ", "true": " True ", "false": " False ", "isNaN": " isnan "}


class AnalysisError(ValueError):
    """What the controller would refuse: an unresolved arg or tag, or a condition it cannot evaluate."""


def merge_args(template_args: Sequence[Mapping[str, Any]], incoming: Sequence[Mapping[str, Any]]) -> dict:
    """The template's args with the step's values in place, by name (only values, not valueFrom, here:
    a valueFrom arg must be given a value by the caller, as the controller does from the cluster)."""
    merged = {arg["name"]: arg.get("value") for arg in template_args}
    for arg in incoming:
        if arg["name"] in merged and "value" in arg:
            merged[arg["name"]] = arg["value"]
    missing = [name for name, value in merged.items() if value is None]
    if missing:
        raise AnalysisError(", ".join(f"args.{name} was not resolved" for name in missing))
    return merged


def undeclared_args(
    template_args: Sequence[Mapping[str, Any]], incoming: Sequence[Mapping[str, Any]]
) -> list:
    declared = {arg["name"] for arg in template_args}
    return [arg["name"] for arg in incoming if arg["name"] not in declared]


def resolve_metric(metric: Mapping[str, Any], args: Mapping[str, str]) -> dict:
    """The metric with every ``{{args.x}}`` substituted in its JSON, as ResolveQuotedArgs does."""
    values = {f"args.{name}": json.dumps(str(value))[1:-1] for name, value in args.items()}
    unresolved = []

    def substitute(match: re.Match[str]) -> str:
        tag = match.group(1).strip()
        if tag not in values:
            unresolved.append(tag)
            return ""
        return values[tag]

    resolved = _TAG.sub(substitute, json.dumps(metric))
    if unresolved:
        raise AnalysisError(f"failed to resolve {{{{{unresolved[0]}}}}}")
    return json.loads(resolved)


def condition(expression: str, result: list[float]) -> bool:
    """Evaluate an expr-lang condition of the supported subset with ``result`` bound."""
    position, parts = 0, []
    while position < len(expression.rstrip()):
        match = _CONDITION_TOKEN.match(expression, position)
        if match is None:
            raise AnalysisError(f"unsupported condition syntax at {expression[position:]!r}")
        token = match.group(match.lastgroup)
        parts.append(_PYTHON_OPS.get(token, token))
        position = match.end()
    try:
        # Only whitelisted tokens reach eval: names, numbers and operators of the subset above.
        names = {"len": len, "isnan": math.isnan, "result": result}
        value = eval("".join(parts), {"__builtins__": {}}, names)
    except IndexError as error:  # expr: "index out of range" is an evaluation error
        raise AnalysisError(f"{expression}: {error}") from error
    if not isinstance(value, bool):
        raise AnalysisError(f"{expression}: expected bool, but got {type(value).__name__}")
    return value


def evaluate(metric: Mapping[str, Any], result: list[float]) -> str:
    """The measurement's phase from its conditions (utils/evaluate EvaluateResult)."""
    success_text, failure_text = metric.get("successCondition", ""), metric.get("failureCondition", "")
    success = condition(success_text, result) if success_text else False
    failure = condition(failure_text, result) if failure_text else False
    if not success_text and not failure_text:
        return SUCCESSFUL
    if success_text and not failure_text:
        failure = not success
    elif failure_text and not success_text:
        success = not failure
    if failure:
        return FAILED
    return SUCCESSFUL if success else INCONCLUSIVE
