"""The evaluation gate: does the challenger beat the champion pinned in the target environment?

A tie or a loss is an outcome, not an error: deterministic retraining on unchanged data ties, and that
must end quietly (MLOpsPython cancelled such runs and failed pipelines every day).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from training.config import GateConfig

Outcome = Literal["first-model", "improved", "no-improvement", "forced"]


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    metric: str
    challenger: float
    champion: float | None
    champion_version: int | None
    reason: str

    @property
    def register(self) -> bool:
        return self.outcome != "no-improvement"

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
