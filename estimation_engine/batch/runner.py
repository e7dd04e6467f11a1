"""A batch from start to end: open the input, estimate it chunk by chunk, write both files, summarise.

Memory is bounded by the chunk size (rows_per_chunk rows in flight, plus the Parquet writers' current row
group), not by the file. The cores are used by pyarrow's reader threads (CSV parsing and decompression)
and by the compiled model's tree threads (``ENGINE_BATCH_THREADS``, or ``--threads``), while the
validation and encoding run on the calling thread; benchmarks/batch/run.py measured this against one
process per core (see benchmarks/README.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pyarrow as pa
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

from estimation_engine.api.validation import BatchValidator
from estimation_engine.batch.batch_model import BatchModel
from estimation_engine.batch.chunk_estimates import ChunkEstimator
from estimation_engine.batch.input_table import ByteProgress, InputTable, open_input, read_chunks
from estimation_engine.batch.output_files import (
    RESULT_COLUMNS,
    PendingParquet,
    estimates_schema,
    refused_path,
    refused_schema,
)
from estimation_engine.batch.progress import BatchSummary, ProgressLine
from estimation_engine.model.scoring import Scorer
from estimation_engine.settings import EngineSettings
from model_contract.config_error import ConfigError

DEFAULT_ROWS_PER_CHUNK = 50_000


@dataclass(frozen=True)
class BatchRequest:
    input: Path
    output: Path
    refused: Path | None = None  # default: <output stem>.refused.parquet beside the output
    id_column: str | None = "id"
    id_required: bool = False  # --id-column was given: the file must have it
    rows_per_chunk: int = DEFAULT_ROWS_PER_CHUNK

    @property
    def refused_output(self) -> Path:
        return self.refused or refused_path(self.output)


def run_batch(
    request: BatchRequest, model: BatchModel, settings: EngineSettings, stderr: TextIO
) -> BatchSummary:
    """Estimate every row of the input; ConfigError (nothing written) when the input is unusable."""
    started = time.monotonic()
    card = model.served.model.card
    _check_destinations(request)
    table = open_input(request.input, card, request.id_column, request.id_required)
    served = model.served
    summary = BatchSummary(
        model=f"{served.name} v{served.version}" if served.version else f"{served.name} ({served.origin})",
        evaluation=model.evaluation,
        input=str(request.input),
        output=str(request.output),
        refused_output=str(request.refused_output),
        ignored_columns=list(table.ignored),
    )
    metadata = {
        "model_name": served.name,
        "model_version": str(served.version or ""),
        "model_sha256": served.sha256,
        "interval_coverage": str(card.nominal_coverage),
        "input": str(request.input),
    }
    id_type = _id_type(table)
    scorer = Scorer(served.model, max_rows_per_call=request.rows_per_chunk, compiled=model.compiled)
    estimator = ChunkEstimator(BatchValidator(card, settings.unknown_categories), scorer, table.path, table.id_column)  # fmt: skip
    progress = ProgressLine(stderr, table.total_rows or table.size_bytes, table.total_rows is not None)
    position = ByteProgress()
    try:
        with (
            PendingParquet(request.output, estimates_schema(id_type, table.id_column, metadata)) as estimates,
            PendingParquet(
                request.refused_output, refused_schema(id_type, table.id_column, metadata)
            ) as refused,
            threadpool_limits(limits=settings.model_threads),  # as the engine's scorer thread
        ):
            for batch in read_chunks(table, request.rows_per_chunk, position):
                outcome = estimator.estimate(batch, summary.rows_read)
                estimates.write(outcome.estimated)
                refused.write(outcome.refused)
                summary.rows_read += batch.num_rows
                summary.with_warnings += outcome.warned
                progress.update(summary.rows_read, position.position())
            summary.estimated, summary.refused = estimates.rows, refused.rows
            refused.commit()
            estimates.commit()
    finally:
        progress.close()
        scorer.close()
    summary.seconds = time.monotonic() - started
    return summary


def _check_destinations(request: BatchRequest) -> None:
    for option, path in (("--output", request.output), ("--refused", request.refused_output)):
        if path.resolve() == request.input.resolve():
            raise ConfigError.of(option, f"{path} is the input file", "a file other than --input")
        if path.is_dir():
            raise ConfigError.of(option, f"{path} is a folder", "a file name (Parquet)")
        if not path.parent.is_dir():
            raise ConfigError.of(
                option, f"folder {path.parent} does not exist", "a file in an existing folder"
            )
    if request.output.resolve() == request.refused_output.resolve():
        raise ConfigError.of("--refused", f"{request.output} is also --output", "another file")
    if request.id_column in RESULT_COLUMNS:
        raise ConfigError.of(
            "--id-column",
            f"{request.id_column!r} is a column of the output",
            f"any name but {', '.join(RESULT_COLUMNS)}",
        )


def _id_type(table: InputTable) -> pa.DataType | None:
    if table.id_column is None:
        return None
    if table.format == "csv":
        return pa.string()  # CSV cells are read as text: an id keeps its leading zeros
    return pq.read_schema(table.path).field(table.id_column).type
