"""``python -m training init``: a starting training config for a team's own data, written for review.

It reads the data the way training does (training/dataset.py), so the feature types it writes are the ones
training would infer, and every value it writes is one a person should check: each column's type with
what the data shows (range or number of levels, missing values), the columns it left out and why, and the
required features with the rule that picked them. Everything else (model, split, intervals, gate) is left
to the shipped defaults, which ``training/config.yaml`` spells out.

Required features are the ones an estimate request must always carry. The rule: among the features never
missing in the data, the ``--required`` (default 4) that on their own explain the most variance of the
log target: for a number, its squared rank correlation with the log target; for a category, the share of
the log target's variance its level means explain, adjusted for its number of levels (epsilon squared).
A feature a model leans on most and that every sale record has is one a caller can be asked to send.
"""

from __future__ import annotations

import argparse
import difflib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from model_contract.config_error import ConfigError
from training.config import TrainingConfig, parse_config
from training.dataset import DataError, read_table, validate

REQUIRED_COUNT = 4
_NAME_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
# Whole-number columns with at most this many distinct values are flagged: they are often codes.
_FEW_VALUES = 15


@dataclass(frozen=True)
class Column:
    """What the data shows about one feature column, for the comment beside its type."""

    name: str
    kind: str
    missing: int
    detail: str
    association: float | None  # None: the column has missing values, so it cannot be required


@dataclass(frozen=True)
class StartingConfig:
    """The config written, with what it was made of (for the command's summary and the tests)."""

    path: Path
    config: TrainingConfig
    columns: tuple[Column, ...]
    left_out: dict[str, str]
    required: tuple[str, ...]


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``init`` to the ``python -m training`` subcommands."""
    init = commands.add_parser(
        "init", help="write a starting training config for your data (feature types, required features)"
    )
    init.add_argument(
        "--data", type=Path, required=True, help="training data: CSV (optionally .gz) or Parquet"
    )
    init.add_argument("--target", required=True, help="the column holding the price to estimate")
    init.add_argument(
        "--output", type=Path, default=Path("config.yaml"), help="where to write it (never overwritten)"
    )
    init.add_argument("--model-name", help="registry name of the model (default: from the data file's name)")
    init.add_argument(
        "--required", type=int, default=REQUIRED_COUNT, metavar="N",
        help=f"how many required features to propose (default {REQUIRED_COUNT})",
    )  # fmt: skip
    init.set_defaults(handler=_init)


def _init(args: argparse.Namespace) -> int:
    written = write_starting_config(args.data, args.target, args.output, args.model_name, args.required)
    kinds = [column.kind for column in written.columns]
    print(
        f"wrote {written.path}: {len(kinds)} features ({kinds.count('numeric')} numeric, "
        f"{kinds.count('categorical')} categorical), required: {', '.join(written.required) or 'none'}"
    )
    for name, reason in written.left_out.items():
        print(f"left out {name}: {reason}")
    print(f"review it, then train: python -m training run --config {written.path}")
    return 0


def write_starting_config(
    data: Path,
    target: str,
    output: Path,
    model_name: str | None = None,
    required_count: int = REQUIRED_COUNT,
) -> StartingConfig:
    """Read ``data``, infer what training would, and write the starting config to ``output``.

    Refuses (ConfigError) to overwrite anything at ``output``; DataError names the file and column when
    the data cannot be trained on.
    """
    if output.exists():
        raise ConfigError.of(
            "--output", f"{output} already exists", "a path where no file is (init never overwrites a config)"
        )
    if required_count < 0:
        raise ConfigError.of("--required", f"{required_count} is below 0", "an integer of at least 0")
    frame = _read(data)
    if target not in frame.columns:
        close = difflib.get_close_matches(target, [str(c) for c in frame.columns], n=1)
        hint = (
            f"did you mean {close[0]!r}?" if close else f"its columns: {', '.join(map(str, frame.columns))}"
        )
        raise DataError(f"{data}: no column {target!r} (--target); {hint}")
    left_out = _left_out(frame, target)
    features = [c for c in frame.columns if c != target and c not in left_out]
    name = model_name or _model_name(data)
    raw = {
        "model_name": name,
        "data": {
            "source": _relative(data, output),
            "target": target,
            "features": features if left_out else "all",
        },
    }
    config = parse_config(raw, source=f"--model-name {name!r}", base_dir=output.resolve().parent)
    dataset = validate(frame, config, str(data))
    columns = tuple(
        _describe(frame[f.name], f.kind, np.log(dataset.target.to_numpy())) for f in dataset.schema
    )
    required = _required(columns, required_count)
    text = render(config, columns, left_out, required, data, len(frame))
    written = parse_config(yaml.safe_load(text), source=str(output), base_dir=output.resolve().parent)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("x") as handle:  # "x": fails rather than overwrite a file that appeared meanwhile
        handle.write(text)
    return StartingConfig(output, written, columns, left_out, required)


def _read(data: Path) -> pd.DataFrame:
    try:
        raw = data.read_bytes()
    except FileNotFoundError as error:
        raise DataError(f"{data}: no such file (--data)") from error
    except IsADirectoryError as error:
        raise DataError(f"{data}: is a folder, expected a CSV or Parquet file (--data)") from error
    return read_table(str(data), raw)


def _left_out(frame: pd.DataFrame, target: str) -> dict[str, str]:
    """Columns a model cannot learn from: no values at all, or text that differs on every row (an id)."""
    reasons = {}
    for column in frame.columns:
        if column == target:
            continue
        values = frame[column].dropna()
        if values.empty:
            reasons[column] = "no values at all"
        elif not pd.api.types.is_numeric_dtype(values) and len(frame) > 1 and values.nunique() == len(frame):
            reasons[column] = "a different text on every row: an identifier, not a feature"
    return reasons


def _describe(values: pd.Series, kind: str, log_target: np.ndarray) -> Column:
    missing = int(values.isna().sum())
    if kind == "numeric":
        numbers = pd.to_numeric(values, errors="coerce")
        distinct = numbers.nunique()
        detail = f"{_number(numbers.min())} to {_number(numbers.max())}, {_missing(missing)}"
        if distinct <= _FEW_VALUES and bool((numbers.dropna() % 1 == 0).all()):
            detail += f"; {distinct} whole-number values: categorical if they are codes"
        score = _rank_r2(numbers.to_numpy(dtype=float), log_target) if missing == 0 else None
    else:
        levels = values.dropna().astype(str)
        detail = f"{levels.nunique()} levels, {_missing(missing)}"
        score = _epsilon_squared(levels.to_numpy(), log_target) if missing == 0 else None
    return Column(str(values.name), kind, missing, detail, score)


def _missing(count: int) -> str:
    return f"{count:,} missing" if count else "none missing"


def _rank_r2(values: np.ndarray, log_target: np.ndarray) -> float:
    """Squared Spearman correlation: how well the order of the values follows the order of the target."""
    ranks = pd.Series(values).rank().to_numpy()
    target_ranks = pd.Series(log_target).rank().to_numpy()
    if np.std(ranks) == 0:
        return 0.0
    return float(np.corrcoef(ranks, target_ranks)[0, 1] ** 2)


def _epsilon_squared(levels: np.ndarray, log_target: np.ndarray) -> float:
    """Share of the log target's variance explained by the level means, less what k levels explain by
    chance: (SS_between - (k - 1) MS_within) / SS_total."""
    frame = pd.DataFrame({"level": levels, "y": log_target})
    groups = frame.groupby("level")["y"].agg(["mean", "count"])
    total = float(np.sum((log_target - log_target.mean()) ** 2))
    between = float(np.sum(groups["count"] * (groups["mean"] - log_target.mean()) ** 2))
    k, n = len(groups), len(log_target)
    if total == 0 or k < 2 or n <= k:
        return 0.0
    within_mean_square = (total - between) / (n - k)
    return max(0.0, (between - (k - 1) * within_mean_square) / total)


def _required(columns: tuple[Column, ...], count: int) -> tuple[str, ...]:
    ranked = sorted((c for c in columns if c.association is not None), key=lambda c: -c.association)
    return tuple(column.name for column in ranked[:count])


def render(
    config: TrainingConfig,
    columns: tuple[Column, ...],
    left_out: dict[str, str],
    required: tuple[str, ...],
    data: Path,
    rows: int,
) -> str:
    """The config file's text: the values, and beside each what a reviewer needs to check it."""
    target = config.data.target
    width = max(len(_scalar(c.name)) for c in columns) + len(": categorical")
    lines = [
        f"# Starting training config written by `python -m training init` on {datetime.now(UTC):%Y-%m-%d}",
        f"# from {data} ({rows:,} rows).",
        "# Review every value marked REVIEW, then train with:",
        "#   python -m training run --config <this file>",
        "# Left out on purpose: derived_features, split, model, intervals and gate take the shipped defaults",
        "# (training/config.yaml shows them); add any of those sections here to change it.",
        "",
        f"model_name: {_scalar(config.model_name)}  # REVIEW: the registry name (letters, digits, . _ -)",
        "",
        "data:",
        f"  source: {_scalar(config.data.source)}  # a path relative to this file, or absolute",
        f"  target: {_scalar(target)}",
        "  # REVIEW: the columns a model learns from (`all`: every column but the target), and below the type",
        "  # training infers for each. A number that is really a code (zip code, class number) should be",
        "  # `categorical`.",
    ]
    if left_out:
        lines += ["  features:", *[f"    - {_scalar(column.name)}" for column in columns]]
        lines += [f"    # left out {_scalar(name)}: {reason}" for name, reason in left_out.items()]
    else:
        lines.append("  features: all")
    lines += ["  types:"]
    for column in columns:
        entry = f"{_scalar(column.name)}: {column.kind}"
        lines.append(f"    {entry.ljust(width)}  # {column.detail}")
    lines += [
        "  # REVIEW: the columns every estimate request must carry (the engine refuses a request without them);",
        f"  # all other features may be missing. Proposed: the {len(required)} features never missing in the data",
        f"  # that on their own explain most of the variance of log({target}) (numbers: squared rank",
        "  # correlation; categories: variance explained by their levels, adjusted for their number). Strongest:",
        f"  # {_strongest(columns)}",
        f"  required_features: [{', '.join(_scalar(name) for name in required)}]",
        "",
    ]
    return "\n".join(lines)


def _strongest(columns: tuple[Column, ...], shown: int = 6) -> str:
    ranked = sorted((c for c in columns if c.association is not None), key=lambda c: -c.association)
    return (
        ", ".join(f"{c.name} {c.association:.2f}" for c in ranked[:shown]) or "none (every feature has gaps)"
    )


def _scalar(value: str) -> str:
    """A string as a YAML scalar: bare when YAML reads it back as that string, quoted otherwise."""
    return yaml.safe_dump([value], default_flow_style=True, width=10_000).strip()[1:-1]


def _number(value: float) -> str:
    return "none" if pd.isna(value) else f"{value:.10g}"


def _model_name(data: Path) -> str:
    stem = data.name.split(".")[0]
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")[:50]
    name = f"{name}-price" if name else "price"
    if not _NAME_RULE.match(name):  # pragma: no cover - the substitutions above always satisfy it
        raise ConfigError.of(
            "--model-name",
            f"none given and {data.name!r} makes no model name",
            "a name passed with --model-name",
        )
    return name


def _relative(data: Path, output: Path) -> str:
    """The data's path as the config resolves it: relative to the config's folder when the data lies
    inside it (the two move together), else absolute."""
    data, folder = data.resolve(), output.resolve().parent
    return data.relative_to(folder).as_posix() if data.is_relative_to(folder) else str(data)
