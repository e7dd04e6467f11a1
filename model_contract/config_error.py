"""The one error every package raises for bad configuration, and the one shape of its message.

Every refusal names what the user edits, says what was wrong and what is allowed, one line per problem::

    <key>: <what was wrong>; allowed: <what is allowed>

The key is what the user changes: an environment variable (``GITOPS_PROVIDER``), a stack setting
(``property-price-platform:aksTier``), a file or a key in it (``training/config.yaml:gate.metric``), a
derived resource name, or a command-line option (``--config``). Every problem found in one pass is
reported together, so a bad configuration takes one round trip to fix instead of one per key.

Settings are pydantic models validated at the edge; ``validation_problems`` turns pydantic's errors into
these lines, and a validator that pydantic cannot express raises ``refused(wrong, allowed)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

REFUSED = "refused"


@dataclass(frozen=True)
class Problem:
    """One refused value: which key, what was wrong with it, and what would be accepted."""

    key: str
    wrong: str
    allowed: str

    def __str__(self) -> str:
        return f"{self.key}: {self.wrong}; allowed: {self.allowed}"


class ConfigError(ValueError):
    """The configuration (settings, a file, a command line) is refused; one line per problem."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))

    @classmethod
    def of(cls, key: str, wrong: str, allowed: str) -> ConfigError:
        return cls([Problem(key, wrong, allowed)])


def refused(wrong: str, allowed: str | None = None) -> PydanticCustomError:
    """pydantic's own error for a value a validator refuses: ``wrong`` says why, ``allowed`` (when it
    depends on the failure) overrides what the setting's description says is accepted."""
    context = {"wrong": wrong} if allowed is None else {"wrong": wrong, "allowed": allowed}
    return PydanticCustomError(REFUSED, "{wrong}", context)


def validation_problems(
    error: ValidationError, model: type[BaseModel], key: Callable[[tuple[Any, ...]], str] | None = None
) -> Iterator[Problem]:
    """pydantic's errors about ``model`` as problem lines: ``key`` names what the user edits from an
    error's location (by default the field's alias, then the dotted path into it); what is allowed comes
    from the refusal itself, else the field's description, else the constraint pydantic checked."""
    for item in error.errors():
        if _shortened_by_failed_items(item):
            continue
        context = item.get("ctx") or {}
        cause = context.get("error")
        if isinstance(cause, ConfigError):  # a rule across keys, already in shape
            yield from cause.problems
            continue
        location = tuple(item["loc"])
        name = (key or dotted)(location)
        yield Problem(name, _wrong(item), context.get("allowed") or _allowed(item, model, location))


def _shortened_by_failed_items(item: Any) -> bool:
    """pydantic drops a sequence's invalid items, then reports the sequence as too short: the items'
    own errors already say what is wrong, so that second line would only mislead."""
    value, context = item.get("input"), item.get("ctx") or {}
    return item["type"] == "too_short" and hasattr(value, "__len__") and len(value) >= context["min_length"]


def dotted(location: tuple[Any, ...]) -> str:
    """A location as a dotted key: ``('gate', 'metric')`` -> ``gate.metric``."""
    return ".".join(str(part) for part in location if not str(part).startswith(("function-", "tuple[")))


def _wrong(item: Any) -> str:
    value, context, kind = item.get("input"), item.get("ctx") or {}, item["type"]
    if kind == "missing":
        return "not set"
    if kind == REFUSED:
        return context["wrong"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "value_error":
        return str(context.get("error") or item["msg"].removeprefix("Value error, "))
    if isinstance(value, str) and not value.strip():
        return "empty"
    if kind in _BOUNDS:
        return f"{value!r} is {_BOUNDS[kind][0]} {context[_BOUNDS[kind][1]]}"
    if kind == "too_short":
        return f"{context['actual_length']} items"
    if kind in ("literal_error", "enum"):
        return f"{value!r} is not one of the choices"
    if kind == "string_pattern_mismatch":
        return f"{value!r} does not match {context['pattern']}"
    return f"{value!r} is not {_expected(item['msg'])}"


def _allowed(item: Any, model: type[BaseModel], location: tuple[Any, ...]) -> str:
    context, kind = item.get("ctx") or {}, item["type"]
    field = next(
        (f for name, f in model.model_fields.items() if location and location[0] in (name, f.alias)), None
    )
    if field is not None and field.description and len(location) == 1:
        return field.description
    if kind in ("literal_error", "enum"):
        return f"one of {context['expected']}"
    if kind in _BOUNDS:
        return f"{_BOUNDS[kind][2]} {context[_BOUNDS[kind][1]]}"
    if kind == "extra_forbidden":
        return "only the keys this file documents"
    if kind == "string_pattern_mismatch":
        return f"a value matching {context['pattern']}"
    if kind == "missing":
        return "a value (see the key's documentation)"
    if kind == "too_short":
        return f"at least {context['min_length']} items"
    if kind == "value_error":
        return "a value that satisfies this rule"
    return _expected(item["msg"])


def _expected(message: str) -> str:
    """What pydantic says the input should be: "Input should be a valid integer" -> "a valid integer"."""
    return message.removeprefix("Input should be ").split(", unable")[0]


# pydantic's bound errors: how the value compares, which context key holds the bound, what is allowed.
_BOUNDS = {
    "greater_than_equal": ("below", "ge", "at least"),
    "greater_than": ("not above", "gt", "more than"),
    "less_than_equal": ("above", "le", "at most"),
    "less_than": ("not below", "lt", "less than"),
}
