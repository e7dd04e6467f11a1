"""Checking a batch of properties against the model's signature and turning it into typed columns.

The checks run column by column over the whole batch (one type census per feature, one numpy conversion)
rather than value by value, so that validating a 1,000-property batch costs a few milliseconds; only a
column that fails the fast check is walked again, to name each offending value. Every problem is reported
with its location (``properties[3].Lot_Area``), one message per offending field, capped so a hostile
request cannot make the error response itself huge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from estimation_engine.settings import UnknownCategoryPolicy
from model_contract.artifact import Feature, ModelCard

MAX_REPORTED_PROBLEMS = 50
_NONE = type(None)
_NUMERIC_TYPES = frozenset({int, float, _NONE})
_CATEGORICAL_TYPES = frozenset({str, _NONE})


class NonFiniteLiteral(str):
    """What the JSON parser returns for ``NaN``/``Infinity`` literals, so validation can name the field."""

    __slots__ = ()


@dataclass(frozen=True)
class Problem:
    """One offending field (or the whole body when ``field`` is the top-level key)."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class InvalidInputError(ValueError):
    """The batch does not fit the model's signature; ``problems`` names every offending field."""

    def __init__(self, problems: Sequence[Problem], omitted: int = 0) -> None:
        self.problems = list(problems)
        self.omitted = omitted
        summary = "; ".join(f"{p.field}: {p.message}" for p in self.problems[:3])
        more = len(self.problems) + omitted - 3
        super().__init__(summary + (f" (and {more} more)" if more > 0 else ""))


@dataclass
class ValidatedBatch:
    """The batch as the model's typed columns, in signature order, plus per-property warnings."""

    size: int
    columns: dict[str, np.ndarray]
    warnings: list[list[str]] = field(default_factory=list)
    unknown_categories: dict[str, int] = field(default_factory=dict)


class _Problems:
    """Collects problems up to a cap and counts the rest."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.omitted = 0

    def add(self, location: str, message: str) -> None:
        if len(self.items) < MAX_REPORTED_PROBLEMS:
            self.items.append(Problem(location, message))
        else:
            self.omitted += 1

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidInputError(self.items, self.omitted)


class BatchValidator:
    """Validates batches against one model card (built once per loaded model)."""

    def __init__(self, card: ModelCard, unknown_categories: UnknownCategoryPolicy) -> None:
        self.features: tuple[Feature, ...] = card.features
        self.names = frozenset(card.feature_names)
        self.unknown_categories = unknown_categories
        self._categories = {f.name: frozenset(f.categories) for f in card.features if f.kind == "categorical"}

    def validate(self, items: Any, location: str) -> ValidatedBatch:
        """``items`` is the decoded JSON list; ``location`` the key it came from (for messages)."""
        problems = _Problems()
        if not isinstance(items, list):
            problems.add(location, "expected a list of properties (objects mapping feature names to values)")
            problems.raise_if_any()
        if not items:
            problems.add(location, "empty batch: send at least one property")
            problems.raise_if_any()
        not_objects = self._check_shapes(items, location, problems)
        if not_objects:  # still check the other items' fields, but report nothing more about these
            items = [item if type(item) is dict else {} for item in items]
        batch = ValidatedBatch(size=len(items), columns={}, warnings=[[] for _ in items])
        for feature in self.features:
            batch.columns[feature.name] = self._column(feature, items, location, problems, batch, not_objects)
        problems.raise_if_any()
        return batch

    def typed(self, columns: Sequence[Sequence[Any]], size: int, location: str) -> ValidatedBatch | None:
        """The batch from columns whose types a schema decoder already enforced (schema_decoding.py):
        numbers are floats, categories strings, None only where a feature is optional, no unknown key.

        Only what that schema cannot say is checked here: known categories, and (defensively: msgspec
        refuses out-of-range numbers itself) finite numbers. The result is what ``validate`` returns for
        the same body; None when a number is not finite, so the caller runs ``validate`` to name the field.
        """
        problems = _Problems()
        batch = ValidatedBatch(size=size, columns={}, warnings=[[] for _ in range(size)])
        for feature, values in zip(self.features, columns, strict=True):
            if feature.kind == "numeric":
                column = np.array(values, dtype=np.float64)  # None -> NaN: a missing value
                if np.isinf(column).any():
                    return None
            else:
                column = self._category_column(feature.name, values, location, problems, batch)
            batch.columns[feature.name] = column
        problems.raise_if_any()
        return batch

    def _check_shapes(self, items: list, location: str, problems: _Problems) -> frozenset[int]:
        """Report items that are not objects and keys that are not features; returns the non-objects."""
        names = self.names
        not_objects = set()
        for index, item in enumerate(items):
            if type(item) is not dict:
                not_objects.add(index)
                problems.add(
                    f"{location}[{index}]",
                    f"expected an object mapping feature names to values, got {_json_type(item)}",
                )
            elif not names.issuperset(item):
                for key in sorted(set(item) - names):
                    problems.add(f"{location}[{index}].{key}", "unknown feature: this model does not take it")
        return frozenset(not_objects)

    def _column(
        self,
        feature: Feature,
        items: list,
        location: str,
        problems: _Problems,
        batch: ValidatedBatch,
        not_objects: frozenset[int],
    ) -> np.ndarray:
        name = feature.name
        values = [item.get(name) for item in items]
        census = set(map(type, values))
        if feature.required and _NONE in census:
            for index, value in enumerate(values):
                if value is None and index not in not_objects:
                    problems.add(f"{location}[{index}].{name}", "required feature is missing")
        if feature.kind == "numeric":
            return self._numeric(name, values, census, location, problems)
        return self._categorical(name, values, census, location, problems, batch)

    @staticmethod
    def _numeric(name: str, values: list, census: set, location: str, problems: _Problems) -> np.ndarray:
        if census <= _NUMERIC_TYPES:
            try:
                column = np.array(values, dtype=np.float64)  # None -> NaN: a missing value
            except OverflowError:
                column = None
            if column is not None and not np.isinf(column).any():
                return column
        for index, value in enumerate(values):
            message = _numeric_problem(value)
            if message:
                problems.add(f"{location}[{index}].{name}", message)
        return np.empty(0)

    def _categorical(
        self,
        name: str,
        values: Sequence,
        census: set,
        location: str,
        problems: _Problems,
        batch: ValidatedBatch,
    ) -> np.ndarray:
        if not census <= _CATEGORICAL_TYPES:
            for index, value in enumerate(values):
                if value is not None and (type(value) is not str):
                    problems.add(
                        f"{location}[{index}].{name}",
                        f"expected a string (one of the model's categories), got {_json_type(value)}",
                    )
            return np.empty(0)
        return self._category_column(name, values, location, problems, batch)

    def _category_column(
        self, name: str, values: Sequence, location: str, problems: _Problems, batch: ValidatedBatch
    ) -> np.ndarray:
        """Values known to be strings, None or NaN: unknown levels reported, None made NaN (missing)."""
        distinct = set(values)
        unknown = {value for value in distinct - self._categories[name] if value.__class__ is str}
        for index, value in enumerate(values) if unknown else ():
            if value in unknown:
                self._unknown_category(
                    name, value, f"{location}[{index}].{name}", problems, batch.warnings[index]
                )
                batch.unknown_categories[name] = batch.unknown_categories.get(name, 0) + 1
        column = np.array(values, dtype=object)
        if None in distinct:
            column[column == None] = np.nan  # noqa: E711 - elementwise comparison on an object array
        return column

    def _unknown_category(
        self, name: str, value: str, where: str, problems: _Problems, item_warnings: list[str]
    ) -> None:
        shown = value if len(value) <= 80 else value[:77] + "..."
        if self.unknown_categories is UnknownCategoryPolicy.REJECT:
            problems.add(where, f"unknown category {shown!r}: not one of the levels seen in training")
        else:
            item_warnings.append(
                f"{name}: category {shown!r} was not seen in training; the model treats it as an unknown level"
            )


def _numeric_problem(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, NonFiniteLiteral):
        return f"non-finite number ({value}) is not allowed"
    if type(value) is bool or not isinstance(value, int | float):
        return f"expected a number, got {_json_type(value)}"
    try:
        number = float(value)
    except OverflowError:
        return "number is out of range"
    return None if math.isfinite(number) else "number is out of range (not finite)"


def _json_type(value: Any) -> str:
    if isinstance(value, NonFiniteLiteral):
        return f"non-finite number ({value})"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
