"""Azure Pipelines expressions, as the service evaluates them: conditions, ``$[ ]`` and ``${{ }}``.

Reference: https://learn.microsoft.com/azure/devops/pipelines/process/expressions — literals, property
dereference (``variables['X']``, ``dependencies.A.outputs['step.var']``), the functions below, and their
conversions: ``eq``/``ne`` compare strings ordinally ignoring case after converting the right operand to the
left one's type; an empty string is false, any other string true. Only what the rehearsal needs is
implemented, and anything else raises ExpressionError instead of evaluating to something plausible.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<punct>[()\[\],.]))"
)


class ExpressionError(ValueError):
    """An expression the rehearsal cannot evaluate the way Azure Pipelines would."""


@dataclass(frozen=True)
class Context:
    """What an expression can see where it is evaluated.

    ``status`` answers the status functions (succeeded(), failed(), ...) for the scope: the previous steps
    of a job, or the dependencies of a job or stage. ``values`` holds the named contexts: ``variables``,
    ``dependencies``, ``stageDependencies``, ``parameters``.
    """

    values: Mapping[str, Any]
    status: Callable[[str, tuple[str, ...]], bool] | None = None


def evaluate(text: str, context: Context) -> Any:
    parser = _Parser(text)
    value = parser.expression(context)
    parser.expect_end()
    return value


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value != ""
    if value is None:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, Mapping | list):
        return True
    return bool(value)


def to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _convert_like(value: Any, like: Any) -> Any:
    """The right operand converted to the left one's type (None when it cannot be)."""
    if isinstance(like, bool):
        if isinstance(value, str):
            return {"true": True, "false": False}.get(value.strip().lower(), truthy(value))
        return truthy(value)
    if isinstance(like, int | float):
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    return to_string(value)


def _equal(left: Any, right: Any) -> bool:
    right = _convert_like(right, left)
    if isinstance(left, str):
        return isinstance(right, str) and left.lower() == right.lower()
    if isinstance(left, int | float) and not isinstance(left, bool):
        return right is not None and float(left) == right
    return left == right


def _contains(haystack: Any, needle: Any) -> bool:
    return to_string(needle).lower() in to_string(haystack).lower()


STATUS_FUNCTIONS = ("succeeded", "failed", "succeededorfailed", "always", "canceled")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            match = TOKEN.match(text, position)
            if match is None:
                raise ExpressionError(f"cannot read {text[position:]!r} in expression {text!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ExpressionError(f"expected {value or 'more'} in expression {self.text!r}")
        self.index += 1
        return token

    def expect_end(self) -> None:
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()[1]!r} in expression {self.text!r}")

    def expression(self, context: Context) -> Any:
        kind, value = self.take()
        if kind == "string":
            return value[1:-1].replace("''", "'")
        if kind == "number":
            return float(value) if "." in value else int(value)
        if kind != "name":
            raise ExpressionError(f"unexpected {value!r} in expression {self.text!r}")
        lowered = value.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered == "null":
            return None
        if self.peek() == ("punct", "("):
            return self.call(lowered, context)
        return self.reference(value, context)

    def arguments(self, context: Context) -> list[Any]:
        self.take("(")
        arguments: list[Any] = []
        if self.peek() == ("punct", ")"):
            self.take(")")
            return arguments
        while True:
            arguments.append(self.expression(context))
            if self.take()[1] == ")":
                return arguments

    def call(self, name: str, context: Context) -> Any:
        arguments = self.arguments(context)
        if name in STATUS_FUNCTIONS:
            if context.status is None:
                raise ExpressionError(f"{name}() is not available here ({self.text!r})")
            return context.status(name, tuple(to_string(a) for a in arguments))
        functions: dict[str, Callable[..., Any]] = {
            "and": lambda *a: all(truthy(x) for x in a),
            "or": lambda *a: any(truthy(x) for x in a),
            "not": lambda a: not truthy(a),
            "eq": _equal,
            "ne": lambda a, b: not _equal(a, b),
            "contains": _contains,
            "startswith": lambda a, b: to_string(a).lower().startswith(to_string(b).lower()),
            "endswith": lambda a, b: to_string(a).lower().endswith(to_string(b).lower()),
            "in": lambda a, *b: any(_equal(a, x) for x in b),
            "notin": lambda a, *b: not any(_equal(a, x) for x in b),
            "coalesce": lambda *a: next((x for x in a if to_string(x) != ""), ""),
            "lower": lambda a: to_string(a).lower(),
            "upper": lambda a: to_string(a).upper(),
        }
        if name not in functions:
            raise ExpressionError(f"the rehearsal does not implement {name}() ({self.text!r})")
        return functions[name](*arguments)

    def reference(self, name: str, context: Context) -> Any:
        if name not in context.values:
            raise ExpressionError(f"unknown context {name!r} in expression {self.text!r}")
        value: Any = context.values[name]
        while self.peek() in (("punct", "."), ("punct", "[")):
            if self.take()[1] == ".":
                key = self.take()[1]
            else:
                key = to_string(self.expression(context))
                self.take("]")
            value = _index(value, key)
        return value


def _index(value: Any, key: str) -> Any:
    """Property access: case-insensitive on mappings; a missing property is null, as in the service."""
    if isinstance(value, Mapping):
        if key in value:
            return value[key]
        for candidate, item in value.items():
            if candidate.lower() == key.lower():
                return item
    return None
