"""The evaluation gate: does the challenger beat the champion pinned in the target environment?

A tie or a loss is an outcome, not an error: deterministic retraining on unchanged data ties, and that
must end quietly (MLOpsPython cancelled such runs and failed pipelines every day).

Only comparable models are compared. A champion of another model name, or one whose required features
the run's data lacks, would be scored on data it was never meant for (tried: a champion scored 0.534 RMSE
of log price on a second housing data set against its own 0.13, and the challenger was called
"improved"). Such a run stops with the reason ("not-comparable"), unless the user asks to switch the
environment to the new model (``--switch-model``: "switched", named in the pull request's title).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Literal

from model_contract.artifact import ModelCard
from model_contract.pins import ModelPin
from training.config import GateConfig

Outcome = Literal["first-model", "improved", "no-improvement", "forced", "not-comparable", "switched"]
SWITCH_FLAG = "--switch-model"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    metric: str
    challenger: float | None  # None when the run stopped before training (not comparable)
    champion: float | None
    champion_version: int | None
    reason: str

    @property
    def register(self) -> bool:
        return self.outcome not in ("no-improvement", "not-comparable")

    def as_dict(self) -> dict:
        return {**asdict(self), "register": self.register}


def decide(
    gate: GateConfig, challenger: dict[str, float], champion: dict[str, float] | None,
    champion_version: int | None, force: bool = False,
) -> Verdict:  # fmt: skip
    """Compare on the configured metric; register only on an improvement of at least the margin."""
    metric, ours = gate.metric, challenger[gate.metric]
    if champion is None:
        reason = f"no champion pinned yet: registering the first model ({metric} {ours:.4f})"
        return Verdict("first-model", metric, ours, None, None, reason)
    theirs = champion[metric]
    gain = (theirs - ours) if gate.direction == "minimize" else (ours - theirs)
    comparison = f"{metric} {ours:.4f} vs champion v{champion_version} {theirs:.4f}"
    if gain >= gate.min_improvement and gain > 0:
        return Verdict("improved", metric, ours, theirs, champion_version, f"improved: {comparison}")
    if force:
        reason = f"forced registration (--force) although not better: {comparison}"
        return Verdict("forced", metric, ours, theirs, champion_version, reason)
    needed = f"needs an improvement of at least {gate.min_improvement:g}"
    return Verdict(
        "no-improvement", metric, ours, theirs, champion_version, f"no improvement: {comparison} ({needed})"
    )


def incomparability(
    champion_pin: ModelPin, champion_card: ModelCard | None, model_name: str, columns: Collection[str]
) -> str | None:
    """Why the pinned champion cannot be scored on this run's data, or None when it can."""
    if champion_pin.version is None:
        return None
    if champion_pin.name != model_name:
        return (
            f"the environment pins {champion_pin.describe()} and this run trains {model_name!r}: "
            "models of different names are not compared"
        )
    missing = (
        [f.name for f in champion_card.features if f.required and f.name not in columns]
        if champion_card
        else []
    )
    if missing:
        return (
            f"the data lacks {', '.join(missing)}, which champion {champion_pin.describe()} requires: "
            "it cannot be scored on this data"
        )
    return None


def not_comparable(
    gate: GateConfig, reason: str, champion_version: int | None, env: str, model_name: str
) -> Verdict:
    """The stop: nothing trained, registered or bumped; the reason says how to switch on purpose."""
    hint = f"to make {env} serve {model_name!r} instead, run again with {SWITCH_FLAG}"
    return Verdict(
        "not-comparable", gate.metric, None, None, champion_version, f"not compared: {reason} ({hint})"
    )


def switched(gate: GateConfig, reason: str, challenger: dict[str, float], champion_pin: ModelPin) -> Verdict:
    """The deliberate switch to a model the champion cannot be compared with."""
    text = f"switching from {champion_pin.describe()} ({SWITCH_FLAG}; not compared: {reason})"
    return Verdict("switched", gate.metric, challenger[gate.metric], None, champion_pin.version, text)
