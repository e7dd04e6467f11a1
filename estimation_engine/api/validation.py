"""Checking a batch of properties against the model's signature and turning it into typed columns.

The checks run column by column over the whole batch (one type census per feature, one numpy conversion)
rather than value by value, so that validating a 1,000-property batch costs a few milliseconds; only a
column that fails the fast check is walked again, to name each offending value. Every problem is reported
with its location (``properties[3].Lot_Area``), one message per offending field, capped so a hostile
request cannot make the error response itself huge.

Numbers are also held against the range each feature had in the training rows (recorded in the model
card): a value outside it is estimated with a warning naming the field, the value and the range, since a
tree answers as at the nearest extreme and a linear member extrapolates; a value more than
``FAR_OUTSIDE_FACTOR`` (range_limits.py) times the feature's scale beyond it is refused, as nothing the
model learned says anything about it (a typo, or a value in the wrong unit). Models trained before ranges
were recorded are served without either check.

What the model answers is checked too (``unestimable_rows``), since the linear member can overflow well
inside those bounds: an answer that is not a finite positive price, or is more than
``PLAUSIBLE_PRICE_FACTOR`` times beyond the prices seen in training, is refused, naming the fields outside
the training range that explain it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from estimation_engine.api.range_limits import RangeLimits, plain_number
from estimation_engine.settings import UnknownCategoryPolicy
from model_contract.artifact import Estimates, Feature, ModelCard

MAX_REPORTED_PROBLEMS = 50
# An answer more than this factor below the cheapest or above the dearest training price is no estimate
# (Ames: under $1,279 or over $7.55 million); only a value outside the training range produces one.
PLAUSIBLE_PRICE_FACTOR = 10.0
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


@dataclass(frozen=True)
class BatchSource:
    """The request body a batch was validated from, and its top-level key ("properties", "data")."""

    key: str
    body: bytes


@dataclass
class ValidatedBatch:
    """The batch as the model's typed columns, in signature order, plus per-property warnings."""

    size: int
    columns: dict[str, np.ndarray]
    warnings: list[list[str]] = field(default_factory=list)
    unknown_categories: dict[str, int] = field(default_factory=dict)
    out_of_range: dict[str, list[int]] = field(default_factory=dict)  # feature -> rows warned about
    source: BatchSource | None = None  # set by SchemaDecoder.batch: what to validate again to get this batch


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
        self._limits = {name: RangeLimits.of(name, seen) for name, seen in card.training_ranges().items()}
        numeric = [f for f in card.features if f.kind == "numeric"]
        self._numeric_positions = [i for i, f in enumerate(card.features) if f.kind == "numeric"]
        self._categorical_positions = [i for i, f in enumerate(card.features) if f.kind != "numeric"]
        self._known_or_none = [
            self._categories[f.name] | {None} for f in card.features if f.kind != "numeric"
        ]
        ranges = [self._limits.get(f.name) for f in numeric]
        self._lowest_seen = np.array([[r.seen.minimum if r else -np.inf] for r in ranges]).reshape(-1, 1)
        self._highest_seen = np.array([[r.seen.maximum if r else np.inf] for r in ranges]).reshape(-1, 1)
        self._prices = card.target_range()

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

        All numbers go to numpy in one conversion and are held against every range at once: one property
        costs tens of microseconds, not one numpy call per feature (measured in benchmarks/README.md).
        Only a batch with something to say (a value outside a range, an unknown category) is walked
        feature by feature, so that its warnings and problems come in signature order.
        """
        numbers = np.array([columns[p] for p in self._numeric_positions], dtype=np.float64)  # None -> NaN
        numbers = numbers.reshape(len(self._numeric_positions), size)
        if np.isinf(numbers).any():
            return None
        texts = [columns[p] for p in self._categorical_positions]
        distinct = [set(values) for values in texts]
        if self._inside_ranges(numbers) and all(map(frozenset.issuperset, self._known_or_none, distinct)):
            return self._quiet_batch(numbers, texts, distinct, size)
        problems = _Problems()
        batch = ValidatedBatch(size=size, columns={}, warnings=[[] for _ in range(size)])
        numeric, seen = iter(numbers), iter(distinct)
        for feature, values in zip(self.features, columns, strict=True):
            if feature.kind == "numeric":
                column = next(numeric)
                self._check_range(feature.name, column, location, problems, batch)
            else:
                column = self._category_column(feature.name, values, location, problems, batch, next(seen))
            batch.columns[feature.name] = column
        problems.raise_if_any()
        return batch

    def _inside_ranges(self, numbers: np.ndarray) -> bool:
        """Every value within its feature's training range, or missing (NaN compares false)."""
        return not ((numbers < self._lowest_seen) | (numbers > self._highest_seen)).any()

    def _quiet_batch(
        self, numbers: np.ndarray, texts: list[Sequence[Any]], distinct: list[set], size: int
    ) -> ValidatedBatch:
        """A batch with nothing to warn about: its columns, missing categories made NaN."""
        batch = ValidatedBatch(size=size, columns={}, warnings=[[] for _ in range(size)])
        categories = np.empty((len(texts), size), dtype=object)
        if texts:  # (an empty list would not broadcast into a 0-row array)
            categories[...] = texts
        for row, seen in zip(categories, distinct, strict=True):
            if None in seen:
                row[row == None] = np.nan  # noqa: E711 - elementwise comparison on an object array
        numeric = iter(numbers)
        categorical = iter(categories)
        for feature in self.features:
            batch.columns[feature.name] = next(numeric if feature.kind == "numeric" else categorical)
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
            column = self._numeric(name, values, census, location, problems)
            if len(column) == len(values):  # converted: every value a finite number or missing
                self._check_range(name, column, location, problems, batch)
            return column
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

    def _check_range(
        self, name: str, column: np.ndarray, location: str, problems: _Problems, batch: ValidatedBatch
    ) -> None:
        """Warn about values outside the training range, refuse those far outside (see module doc)."""
        limits = self._limits.get(name)
        if limits is None:
            return
        for index in limits.outside(column).tolist():
            value = float(column[index])
            if limits.refused(value):
                problems.add(f"{location}[{index}].{name}", limits.refusal(value))
            else:
                batch.warnings[index].append(limits.warning(value))
                batch.out_of_range.setdefault(name, []).append(index)

    def unestimable_rows(self, estimates: Estimates) -> list[int]:
        """Rows whose answer is no estimate: not a finite positive price and interval (a log-price model
        overflowing either way), or beyond ``PLAUSIBLE_PRICE_FACTOR`` times the training prices."""
        price = estimates.price
        good = np.isfinite(price) & np.isfinite(estimates.low) & np.isfinite(estimates.high) & (price > 0)
        if self._prices is not None:
            low, high = (
                self._prices.minimum / PLAUSIBLE_PRICE_FACTOR,
                self._prices.maximum * PLAUSIBLE_PRICE_FACTOR,
            )
            good &= (price >= low) & (price <= high)
        return np.flatnonzero(~good).tolist()

    def _implausible(self, price: float) -> str:
        if not (math.isfinite(price) and price > 0) or self._prices is None:
            return f"its answer ({price:.4g}) is not a finite positive price"
        seen = f"{plain_number(self._prices.minimum)} to {plain_number(self._prices.maximum)}"
        return f"its answer ({price:.4g}) is over {PLAUSIBLE_PRICE_FACTOR:g} times beyond the training prices ({seen})"

    def unestimable(
        self, batch: ValidatedBatch, estimates: Estimates, rows: Sequence[int], location: str
    ) -> list[Problem]:
        """Why these rows got no estimate: each of their fields outside the training range (the cause,
        as the model answers within the training prices for values inside), else the row itself."""
        outside: dict[int, list[str]] = {}
        for name, indices in batch.out_of_range.items():
            for index in indices:
                outside.setdefault(index, []).append(name)
        problems = _Problems()
        for row in rows:
            answer = (
                f"the model cannot estimate this property: {self._implausible(float(estimates.price[row]))}"
            )
            names = outside.get(row)
            if not names:
                problems.add(f"{location}[{row}]", answer)
            for name in names or ():
                value = plain_number(float(batch.columns[name][row]))
                problems.add(
                    f"{location}[{row}].{name}",
                    f"{answer}: {value} is outside {self._limits[name].seen_text()}",
                )
        return problems.items

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
        self,
        name: str,
        values: Sequence,
        location: str,
        problems: _Problems,
        batch: ValidatedBatch,
        distinct: set | None = None,
    ) -> np.ndarray:
        """Values known to be strings, None or NaN: unknown levels reported, None made NaN (missing).
        ``distinct``: the set of the values, when the caller has it already."""
        distinct = set(values) if distinct is None else distinct
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
