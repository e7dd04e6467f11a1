"""Estimating one chunk of a portfolio: the HTTP path's validation and model, row by row refusals.

The rows go through ``BatchValidator.typed`` and ``Scorer.estimate_now``, the very calls behind
``POST /v1/estimate``, so a property gets the same estimate, interval and warnings from either. Where the
API refuses a whole request, a batch refuses only the offending rows: each one with the messages the
validator's exhaustive path gives for it (as the API would name its fields), and a row whose answer is
no estimate (not a finite positive price, or far beyond the training prices) with the validator's
``unestimable`` messages, the 422 the API gives for it. Warnings are taken from the validated batch whatever
check produced them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from estimation_engine.api.validation import BatchValidator, InvalidInputError, ValidatedBatch
from estimation_engine.batch.chunk_columns import ChunkColumns, chunk_columns
from estimation_engine.model.scoring import Scorer
from estimation_engine.settings import UnknownCategoryPolicy
from model_contract.artifact import Estimates

# Rows per model call: a full HTTP request's worth (ENGINE_MAX_BATCH_SIZE's default). The compiled model's
# working set for this many rows stays in the CPU caches; for a whole 50,000-row chunk it does not, and
# the same rows take 2.5 times as long (measured, benchmarks/README.md "Batch estimates").
MODEL_CALL_ROWS = 1000
_LOCATION = "row"


@dataclass
class ChunkOutcome:
    """The estimated rows and the refused rows of one chunk, as Arrow batches of the output schemas."""

    estimated: pa.RecordBatch
    refused: pa.RecordBatch
    warned: int  # estimated rows with at least one warning


class ChunkEstimator:
    def __init__(
        self, validator: BatchValidator, scorer: Scorer, source: Path, id_column: str | None
    ) -> None:
        self.validator = validator
        self.scorer = scorer
        self.source = source
        self.id_column = id_column
        self.features = validator.features
        self._levels = {f.name: frozenset(f.categories) for f in self.features if f.kind == "categorical"}

    def estimate(self, batch: pa.RecordBatch, first_row: int) -> ChunkOutcome:
        """``first_row``: how many rows of the file came before this chunk."""
        columns = chunk_columns(batch, self.features, self.source)
        suspect = columns.suspect | self._refused_categories(columns)
        reasons: dict[int, list[str]] = {}
        for row in np.flatnonzero(suspect).tolist():
            problems = self._problems(columns, row)
            if problems:
                reasons[row] = problems
        accepted = np.array([row for row in range(columns.size) if row not in reasons], dtype=np.intp)
        validated, accepted = self._validated(columns, accepted, reasons)
        prices, lows, highs = self._estimates(validated, accepted, reasons)
        keep = np.array([row not in reasons for row in accepted.tolist()], dtype=bool)
        warnings = [w for w, kept in zip(validated.warnings, keep.tolist(), strict=True) if kept]
        accepted = accepted[keep]
        estimated = self._with_ids(batch, accepted, first_row, {
            "price": pa.array(prices[keep], pa.float64()),
            "low": pa.array(lows[keep], pa.float64()),
            "high": pa.array(highs[keep], pa.float64()),
            "warnings": pa.array(warnings, pa.list_(pa.string())),
        })  # fmt: skip
        refused_rows = np.array(sorted(reasons), dtype=np.intp)
        refused = self._with_ids(batch, refused_rows, first_row, {
            "reasons": pa.array([reasons[row] for row in refused_rows.tolist()], pa.list_(pa.string())),
        })  # fmt: skip
        return ChunkOutcome(estimated, refused, sum(1 for w in warnings if w))

    def _refused_categories(self, columns: ChunkColumns) -> np.ndarray:
        """Rows with a level not seen in training, when the engine is configured to refuse those."""
        rows = np.zeros(columns.size, dtype=bool)
        if self.validator.unknown_categories is not UnknownCategoryPolicy.REJECT:
            return rows
        for feature, column in zip(self.features, columns.columns, strict=True):
            if feature.kind == "categorical":
                known = self._levels[feature.name]
                unknown = {v for v in set(column.tolist()) if v is not None and v not in known}
                if unknown:
                    rows |= np.fromiter((v in unknown for v in column.tolist()), bool, columns.size)
        return rows

    def _problems(self, columns: ChunkColumns, row: int) -> list[str]:
        """What the validator's exhaustive path says about this row (nothing: the row is fine)."""
        try:
            self.validator.validate([columns.item(self.features, row)], _LOCATION)
        except InvalidInputError as invalid:
            prefix = f"{_LOCATION}[0]."
            return [
                f"{problem.field.removeprefix(prefix)}: {problem.message}"
                if problem.field.startswith(prefix)
                else problem.message
                for problem in invalid.problems
            ]
        return []

    def _validated(
        self, columns: ChunkColumns, accepted: np.ndarray, reasons: dict[int, list[str]]
    ) -> tuple[ValidatedBatch, np.ndarray]:
        """``typed`` on the accepted rows. Should it refuse some (a check this module does not foresee),
        the exhaustive path finds which, they are refused, and the others are validated again."""
        for attempt in range(2):
            whole = len(accepted) == columns.size
            values = columns.columns if whole else [column[accepted] for column in columns.columns]
            try:
                validated = self.validator.typed(values, len(accepted), _LOCATION)
            except InvalidInputError:
                validated = None
            if validated is not None:
                return validated, accepted
            if attempt == 0:
                for row in accepted.tolist():
                    problems = self._problems(columns, row)
                    if problems:
                        reasons[row] = problems
                accepted = np.array([row for row in accepted.tolist() if row not in reasons], dtype=np.intp)
        raise RuntimeError(f"{self.source}: the validator refuses rows it finds nothing wrong with")

    def _estimates(
        self, validated: ValidatedBatch, accepted: np.ndarray, reasons: dict[int, list[str]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if validated.size == 0:
            empty = np.empty(0)
            return empty, empty, empty
        parts = [self.scorer.estimate_now([block]) for block in _blocks(validated, MODEL_CALL_ROWS)]
        price, low, high = (np.concatenate([getattr(part, name) for part in parts]) for name in ("price", "low", "high"))  # fmt: skip
        estimates = Estimates(price, low, high)
        unestimable = self.validator.unestimable_rows(estimates)
        if unestimable:
            for problem in self.validator.unestimable(validated, estimates, unestimable, _LOCATION):
                index, _, field = problem.field.removeprefix(f"{_LOCATION}[").partition("]")
                field = field.removeprefix(".")
                reasons.setdefault(int(accepted[int(index)]), []).append(
                    f"{field}: {problem.message}" if field else problem.message
                )
        return price, low, high

    def _with_ids(
        self, batch: pa.RecordBatch, rows: np.ndarray, first_row: int, values: dict[str, pa.Array]
    ) -> pa.RecordBatch:
        """The output columns, after the id column (if the file has one) and the row number (from 1)."""
        arrays: dict[str, pa.Array] = {}
        if self.id_column is not None:
            arrays[self.id_column] = batch.column(self.id_column).take(pa.array(rows, pa.int64()))
        arrays["row"] = pa.array(rows.astype(np.int64) + first_row + 1, pa.int64())
        arrays.update(values)
        return pa.RecordBatch.from_pydict(arrays)


def _blocks(batch: ValidatedBatch, rows: int) -> list[ValidatedBatch]:
    """The batch as consecutive batches of at most ``rows`` rows (views of its columns, not copies)."""
    if batch.size <= rows:
        return [batch]
    return [
        ValidatedBatch(
            size=min(rows, batch.size - start),
            columns={name: column[start : start + rows] for name, column in batch.columns.items()},
            warnings=batch.warnings[start : start + rows],
        )
        for start in range(0, batch.size, rows)
    ]
