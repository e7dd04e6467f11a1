"""A numeric feature's training range and the wider bounds beyond which a value is refused
(validation.py says why: a value outside the range is estimated with a warning, one far outside is not)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model_contract.artifact import TrainingRange

# How far beyond the training range a number may lie, in units of the feature's scale (TrainingRange.scale:
# its span or largest magnitude), before it is refused rather than estimated: two orders of magnitude.
# Generous on purpose, since what the model answers is checked too: a living area of 500,000 sq ft against
# Ames' 407-5,642 is still estimated with a warning when the answer is a price; 1e16 is refused.
FAR_OUTSIDE_FACTOR = 100.0


@dataclass(frozen=True)
class RangeLimits:
    """A numeric feature's training range and the wider bounds beyond which a value is refused."""

    name: str
    seen: TrainingRange
    lowest: float
    highest: float

    @classmethod
    def of(cls, name: str, seen: TrainingRange) -> RangeLimits:
        # A feature always zero in training has no scale: its values are warned about, never refused.
        margin = FAR_OUTSIDE_FACTOR * seen.scale if seen.scale > 0 else math.inf
        return cls(name, seen, seen.minimum - margin, seen.maximum + margin)

    def outside(self, column: np.ndarray) -> np.ndarray:
        """Rows whose value lies outside the training range (missing values never do)."""
        return np.flatnonzero((column < self.seen.minimum) | (column > self.seen.maximum))

    def refused(self, value: float) -> bool:
        return value < self.lowest or value > self.highest

    def seen_text(self) -> str:
        return f"the range seen in training ({plain_number(self.seen.minimum)} to {plain_number(self.seen.maximum)})"

    def warning(self, value: float) -> str:
        return f"{self.name}: {plain_number(value)} is outside {self.seen_text()}; the estimate extrapolates"

    def refusal(self, value: float) -> str:
        return (
            f"{plain_number(value)} is too far outside {self.seen_text()} to estimate: this model takes "
            f"{self.name} from {self.lowest:.6g} to {self.highest:.6g}"
        )


def plain_number(value: float) -> str:
    """A number as people write it: 5642, 0.25, 1e+16 (ten significant digits)."""
    return f"{value:.10g}"
