"""Reading a portfolio file as a stream of Arrow record batches, a bounded number of rows at a time.

CSV (plain or gzip) and Parquet are read by pyarrow's streaming readers, never whole: memory is bounded by
the chunk size, not the file. Only the model's feature columns and the id column are parsed; other columns
(addresses, past sale prices) are skipped by the reader itself. A CSV file is read with every column as
text and the same missing-value markers as ``pandas.read_csv`` (what training read its data with), so a
cell the training data would have seen as missing is missing here too; numbers are parsed afterwards, per
cell, so that one bad cell refuses one row instead of the file (chunk_columns.py).

Whatever makes the file unusable as a whole (it does not exist, it is neither CSV nor Parquet, a required
feature's column is absent, a line is malformed) is a ConfigError naming the file and the column or line.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from model_contract.artifact import ModelCard
from model_contract.config_error import ConfigError

INPUT_FORMATS = "a CSV file (plain or gzip, with a header line) or a Parquet file"
# pandas.read_csv's default missing-value markers (pandas/_libs/parsers.pyx, STR_NA_VALUES): training
# read its CSV data with them, so the same cells are missing in a batch.
PANDAS_MISSING_MARKERS = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip
_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"
# Bytes of CSV text per record batch: about 40,000 Ames rows, a few tens of MB once decoded.
CSV_BLOCK_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class InputTable:
    """An opened portfolio file: which of the model's features it has, its id column, its size."""

    path: Path
    format: str  # "csv" or "parquet"
    features: tuple[str, ...]  # the model's features present in the file, in signature order
    id_column: str | None
    ignored: tuple[str, ...]  # columns that are neither a feature nor the id
    total_rows: int | None  # known up front for Parquet
    size_bytes: int


def open_input(path: Path, card: ModelCard, id_column: str | None, id_required: bool = False) -> InputTable:
    """Check the file against the model's signature before anything is estimated or written."""
    path = Path(path)
    if not path.is_file():
        wrong = "is a folder" if path.is_dir() else "does not exist"
        raise ConfigError.of("--input", f"{path} {wrong}", INPUT_FORMATS)
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic == _PARQUET_MAGIC:
        kind, columns, total = "parquet", *_parquet_header(path)
    else:
        kind, columns, total = "csv", _csv_header(path, magic), None
    _check_columns(path, columns, card, id_column, id_required)
    names = set(columns)
    return InputTable(
        path=path,
        format=kind,
        features=tuple(name for name in card.feature_names if name in names),
        id_column=id_column if id_column in names else None,
        ignored=tuple(c for c in columns if c not in set(card.feature_names) and c != id_column),
        total_rows=total,
        size_bytes=path.stat().st_size,
    )


def read_chunks(table: InputTable, rows_per_chunk: int, progress: ByteProgress | None = None) -> Iterator[pa.RecordBatch]:  # fmt: skip
    """The file's rows in order, as record batches of at most ``rows_per_chunk`` rows (CSV batches
    follow the reader's blocks and may be smaller)."""
    wanted = [*table.features, *([table.id_column] if table.id_column else [])]
    if table.format == "parquet":
        yield from _parquet_chunks(table, wanted, rows_per_chunk)
    else:
        yield from _csv_chunks(table, wanted, progress)


class ByteProgress:
    """How far the CSV reader is into the file, in bytes of the file itself (compressed or not)."""

    def __init__(self) -> None:
        self.handle: BinaryIO | None = None

    def position(self) -> int:
        return self.handle.tell() if self.handle is not None and not self.handle.closed else 0


def _parquet_header(path: Path) -> tuple[list[str], int]:
    try:
        metadata = pq.ParquetFile(path).metadata
    except (pa.ArrowException, OSError) as error:
        raise ConfigError.of(
            "--input", f"{path} is not a readable Parquet file ({error})", INPUT_FORMATS
        ) from error
    return list(metadata.schema.to_arrow_schema().names), metadata.num_rows


def _csv_header(path: Path, magic: bytes) -> list[str]:
    try:
        with _open_text(path, magic) as text:
            header = next(csv.reader(text), None)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as error:
        raise ConfigError.of(
            "--input", f"{path} is not a readable CSV file ({error})", INPUT_FORMATS
        ) from error
    if not header or not any(name.strip() for name in header):
        raise ConfigError.of("--input", f"{path} is empty or has no header line", INPUT_FORMATS)
    return header


def _open_text(path: Path, magic: bytes) -> io.TextIOBase:
    if magic[:2] == _GZIP_MAGIC:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _check_columns(
    path: Path, columns: list[str], card: ModelCard, id_column: str | None, id_required: bool
) -> None:
    names = set(columns)
    missing = [f.name for f in card.features if f.required and f.name not in names]
    if missing:
        raise ConfigError.of(
            "--input",
            f"{path} has no column {', '.join(repr(name) for name in missing)} "
            f"(required feature{'s' if len(missing) > 1 else ''} of {card.model_name})",
            f"a column per required feature: {', '.join(f.name for f in card.features if f.required)}",
        )
    if id_required and id_column not in names:
        raise ConfigError.of(
            "--id-column", f"{path} has no column {id_column!r}", "one of the file's columns"
        )


def _parquet_chunks(table: InputTable, wanted: list[str], rows: int) -> Iterator[pa.RecordBatch]:
    try:
        parquet = pq.ParquetFile(table.path)
        yield from parquet.iter_batches(batch_size=rows, columns=wanted)
    except (pa.ArrowException, OSError) as error:
        raise ConfigError.of(
            "--input", f"{table.path}: unreadable Parquet data ({error})", INPUT_FORMATS
        ) from error


def _csv_chunks(table: InputTable, wanted: list[str], progress: ByteProgress | None) -> Iterator[pa.RecordBatch]:  # fmt: skip
    options = pa_csv.ConvertOptions(
        column_types={name: pa.string() for name in wanted},
        include_columns=wanted,
        null_values=list(PANDAS_MISSING_MARKERS),
        strings_can_be_null=True,
    )
    with table.path.open("rb") as raw:
        if progress is not None:
            progress.handle = raw
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        source = pa.PythonFile(raw, mode="r")
        if compressed:
            source = pa.CompressedInputStream(source, "gzip")
        try:
            reader = pa_csv.open_csv(
                source, read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES), convert_options=options
            )
            yield from reader
        except (pa.ArrowException, OSError, UnicodeDecodeError) as error:
            raise ConfigError.of(
                "--input", f"{table.path}: not readable as CSV ({error})", INPUT_FORMATS
            ) from error
