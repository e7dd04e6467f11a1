"""``python -m estimation_engine batch``: estimate a portfolio file with the engine's model and checks.

Exit status: 0 when every row was read (refused rows are in the refused file, not a failure of the
batch), 2 for bad input or settings (nothing written), 1 when the model cannot be loaded.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any


def add_parser(commands: Any) -> None:
    """The ``batch`` subcommand on ``python -m estimation_engine``'s subparsers."""
    batch = commands.add_parser(
        "batch",
        help="estimate every property of a CSV or Parquet file into a Parquet file",
        description=__doc__,
    )
    model = batch.add_mutually_exclusive_group(required=True)
    model.add_argument("--model-version", type=int, help="version of MODEL_NAME (or --model-name) to use")
    model.add_argument("--env", help="use the version this environment's gitops overlay pins (dev, qa, prod)")
    model.add_argument(
        "--model-path", type=Path, help="a model artifact folder instead of a registry version"
    )
    batch.add_argument("--model-name", help="registered model name (default MODEL_NAME)")
    batch.add_argument(
        "--checkout",
        type=Path,
        help="with --env: the repository checkout holding gitops/ (default: this one)",
    )
    batch.add_argument("--input", type=Path, required=True, help="CSV (plain or gzip) or Parquet file")
    batch.add_argument("--output", type=Path, required=True, help="Parquet file of estimates")
    batch.add_argument(
        "--refused", type=Path, help="Parquet file of refused rows (default <output stem>.refused.parquet)"
    )
    batch.add_argument(
        "--id-column", help="input column carried into both files (default: a column named 'id', if any)"
    )
    batch.add_argument("--threads", type=int, help="tree threads (default ENGINE_BATCH_THREADS)")
    batch.add_argument("--rows-per-chunk", type=int, default=50_000, help="rows in memory at once (default 50000)")  # fmt: skip
    batch.add_argument("--summary-json", type=Path, help="also write the summary as JSON to this file")
    batch.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from estimation_engine.batch.batch_model import ModelChoice, batch_settings, load_batch_model
    from estimation_engine.batch.runner import BatchRequest, run_batch
    from estimation_engine.model.model_loading import ModelLoadError
    from model_contract.config_error import ConfigError

    signal.signal(signal.SIGTERM, _terminated)  # as Ctrl-C: the pending files are removed on the way out
    try:
        if args.threads is not None and not 1 <= args.threads <= 64:
            raise ConfigError.of("--threads", f"{args.threads}", "1 to 64")
        if args.rows_per_chunk < 1:
            raise ConfigError.of("--rows-per-chunk", f"{args.rows_per_chunk}", "a positive number of rows")
        choice = ModelChoice(args.model_version, args.env, args.model_path, args.model_name, args.checkout)
        settings = batch_settings(choice)
        request = BatchRequest(
            input=args.input,
            output=args.output,
            refused=args.refused,
            id_column=args.id_column or "id",
            id_required=args.id_column is not None,
            rows_per_chunk=args.rows_per_chunk,
        )
        _check_input_exists(request.input)
        model = load_batch_model(settings, args.threads or settings.batch_threads)
        summary = run_batch(request, model, settings, sys.stderr)
    except ConfigError as error:
        for problem in error.problems:
            print(f"estimation-engine batch: {problem}", file=sys.stderr)
        return 2
    except ModelLoadError as error:
        print(f"estimation-engine batch: model not loaded ({error.reason.value}): {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("estimation-engine batch: interrupted; nothing written", file=sys.stderr)
        return 130
    except _Terminated:
        print("estimation-engine batch: terminated; nothing written", file=sys.stderr)
        return 143
    for line in summary.lines():
        print(line)
    if args.summary_json is not None:
        summary.write_json(args.summary_json)
    return 0


class _Terminated(BaseException):
    """SIGTERM, raised where the batch stands so that its pending output files are discarded."""


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated


def _check_input_exists(path: Path) -> None:
    """Before the model is loaded (seconds): a mistyped file name is reported at once."""
    from model_contract.config_error import ConfigError

    if not path.is_file():
        raise ConfigError.of(
            "--input",
            f"{path} {'is a folder' if path.is_dir() else 'does not exist'}",
            "a CSV or Parquet file",
        )
