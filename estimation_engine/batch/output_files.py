"""The estimates file and the refused-rows file: written beside their destination, moved into place at the end.

Both are Parquet, written chunk by chunk (one row group per chunk) into a temporary file in the destination
folder and renamed over the destination only when the whole input was read: a batch that stops half-way
(bad input, an interrupted run) leaves no partial file and an earlier result untouched. The refused file
is always written, empty when no row was refused, so it never holds the refusals of an earlier run.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.parquet as pq

from model_contract.config_error import ConfigError

RESULT_COLUMNS = ("row", "price", "low", "high", "warnings", "reasons")


def refused_path(output: Path) -> Path:
    """``estimates.parquet`` -> ``estimates.refused.parquet``, in the same folder."""
    return output.with_name(f"{output.stem}.refused{output.suffix or '.parquet'}")


def estimates_schema(
    id_type: pa.DataType | None, id_column: str | None, metadata: dict[str, str]
) -> pa.Schema:
    fields = [
        pa.field("row", pa.int64()),
        pa.field("price", pa.float64()),
        pa.field("low", pa.float64()),
        pa.field("high", pa.float64()),
        pa.field("warnings", pa.list_(pa.string())),
    ]
    return _with_id(fields, id_type, id_column, metadata)


def refused_schema(id_type: pa.DataType | None, id_column: str | None, metadata: dict[str, str]) -> pa.Schema:
    fields = [pa.field("row", pa.int64()), pa.field("reasons", pa.list_(pa.string()))]
    return _with_id(fields, id_type, id_column, metadata)


def _with_id(
    fields: list[pa.Field], id_type: pa.DataType | None, id_column: str | None, metadata: dict[str, str]
) -> pa.Schema:
    if id_column is not None and id_type is not None:
        fields.insert(0, pa.field(id_column, id_type))
    return pa.schema(fields, metadata=metadata)


class PendingParquet:
    """A Parquet file written to ``<destination>.<pid>.tmp`` and renamed to ``destination`` on commit."""

    def __init__(self, destination: Path, schema: pa.Schema) -> None:
        self.destination = Path(destination)
        self.temporary = self.destination.with_name(f".{self.destination.name}.{os.getpid()}.tmp")
        self.schema = schema
        self.rows = 0
        try:
            self._writer = pq.ParquetWriter(self.temporary, schema, compression="zstd")
        except (OSError, pa.ArrowException) as error:
            raise ConfigError.of(
                "--output", f"cannot write {self.destination} ({error})", "a file in a writable folder"
            ) from error

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self._writer.write_table(pa.Table.from_batches([batch]).cast(self.schema))
            self.rows += batch.num_rows

    def commit(self) -> Path:
        self._writer.close()
        self.temporary.replace(self.destination)
        return self.destination

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()
        self.temporary.unlink(missing_ok=True)

    def __enter__(self) -> PendingParquet:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is not None:
            self.discard()
