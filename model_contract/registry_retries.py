"""How long a registry call may keep retrying before it is reported as unreachable.

MLflow retries a failed request 7 times with exponential backoff and a 120 s timeout per attempt: an
unreachable registry made ``training run`` print nothing for 255 s before failing. One budget in seconds,
``REGISTRY_RETRY_SECONDS`` (default 30), bounds the whole: it is turned into MLflow's own settings (its
``MLFLOW_HTTP_REQUEST_*`` environment variables, which MLflow reads on every request), and each retry is
announced on one line as it happens. The training job and the engine both apply it at start.

Arithmetic (urllib3's backoff, which MLflow uses): before retry k it sleeps 0 for k = 1, else
``factor * 2**(k-1)``, plus up to ``jitter``. With factor 1, r retries sleep ``2**r - 2`` s in all, so the
worst case of r retries that each wait ``timeout`` for an answer is ``(r + 1) * timeout + 2**r - 2 + r *
jitter``. The budget picks the most retries that still leave every attempt at least 8 s to answer.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from model_contract.config_error import ConfigError, validation_problems

BUDGET_VARIABLE = "REGISTRY_RETRY_SECONDS"
DEFAULT_BUDGET_SECONDS = 30.0
MAX_BUDGET_SECONDS = 3600.0
MIN_ATTEMPT_SECONDS = 8
MAX_RETRIES = 5
BACKOFF_FACTOR = 1
JITTER_SECONDS = 0.5
# MLflow's own names for what the budget sets (mlflow/environment_variables.py).
MLFLOW_VARIABLES = (
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
)


_SET_BY_BUDGET: dict[str, str] = {}  # what this module last set each MLflow variable to (it may reset it)
_APPLIED: list[RetryBudget] = []  # the budget in force in this process, once applied


ALLOWED = f"a number of seconds from 1 to {MAX_BUDGET_SECONDS:g}"


class BudgetSetting(BaseModel):
    """The one setting, read from the environment at the edge (the engine reads it with its own settings)."""

    model_config = ConfigDict(frozen=True)

    seconds: float = Field(
        DEFAULT_BUDGET_SECONDS, alias=BUDGET_VARIABLE, ge=1, le=MAX_BUDGET_SECONDS, allow_inf_nan=False,
        description=ALLOWED,
    )  # fmt: skip


@dataclass(frozen=True)
class RetryBudget:
    """The seconds a registry call may take, retries included, and the retries and timeout that fit."""

    seconds: float
    retries: int
    timeout_seconds: int

    @classmethod
    def of(cls, seconds: float) -> RetryBudget:
        if not math.isfinite(seconds) or not 1 <= seconds <= MAX_BUDGET_SECONDS:
            raise ConfigError.of(BUDGET_VARIABLE, f"{seconds:g} is out of range", ALLOWED)
        retries = 0
        for candidate in range(MAX_RETRIES, 0, -1):
            if (candidate + 1) * MIN_ATTEMPT_SECONDS + _sleeps(candidate) <= seconds:
                retries = candidate
                break
        timeout = max(1, math.floor((seconds - _sleeps(retries)) / (retries + 1)))
        return cls(seconds, retries, timeout)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> RetryBudget:
        raw = (os.environ if environ is None else environ).get(BUDGET_VARIABLE, "").strip()
        try:
            setting = BudgetSetting.model_validate({BUDGET_VARIABLE: raw} if raw else {})
        except ValidationError as error:
            raise ConfigError(validation_problems(error, BudgetSetting)) from None
        return cls.of(setting.seconds)

    @classmethod
    def in_force(cls) -> RetryBudget:
        """The budget applied in this process (what error messages describe), else the configured one."""
        return _APPLIED[-1] if _APPLIED else cls.from_environment()

    @property
    def worst_case_seconds(self) -> float:
        return (self.retries + 1) * self.timeout_seconds + _sleeps(self.retries)

    def describe(self) -> str:
        return (
            f"{self.retries + 1} attempts of up to {self.timeout_seconds} s within {self.seconds:g} s "
            f"({BUDGET_VARIABLE})"
        )

    def mlflow_settings(self) -> dict[str, str]:
        return {
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(self.retries),
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": str(BACKOFF_FACTOR),
            "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": str(JITTER_SECONDS),
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(self.timeout_seconds),
        }

    def apply(
        self, environ: MutableMapping[str, str] | None = None, announce: Callable[[str], None] | None = None
    ) -> None:
        """Make MLflow's HTTP client keep to this budget, and announce each retry through ``announce``.

        Called at a program's edge (it sets process-wide state; a later call replaces an earlier one). An
        MLFLOW_HTTP_REQUEST_* variable an operator set explicitly is left alone: theirs is the more
        specific instruction.
        """
        target = os.environ if environ is None else environ
        for name, value in self.mlflow_settings().items():
            if name not in target or target[name] == _SET_BY_BUDGET.get(name):
                target[name] = value
                _SET_BY_BUDGET[name] = value
        notices = logging.getLogger("urllib3.connectionpool")
        for handler in [h for h in notices.handlers if isinstance(h, RetryNotices)]:
            notices.removeHandler(handler)
        notices.addHandler(RetryNotices(self, announce or _to_stderr))
        _APPLIED[:] = [self]


class RetryNotices(logging.Handler):
    """Turns urllib3's "Retrying ... after connection broken by ..." into one line that says what and why.

    urllib3 logs ``"Retrying (%r) after connection broken by '%r': %s"`` with the Retry object (its
    ``total`` is the retries left), the error and the URL path.
    """

    def __init__(self, budget: RetryBudget, announce: Callable[[str], None]) -> None:
        super().__init__(level=logging.WARNING)
        self.budget = budget
        self.announce = announce

    def emit(self, record: logging.LogRecord) -> None:
        if not str(record.msg).startswith("Retrying") or len(record.args or ()) < 3:
            return
        retry, error, path = record.args  # type: ignore[misc]
        left = getattr(retry, "total", None)
        attempt = self.budget.retries - left + 1 if isinstance(left, int) else "next"
        self.announce(
            f"registry not answering ({_reason(error)}) at {path}: retrying, attempt {attempt} of "
            f"{self.budget.retries + 1} ({self.budget.describe()})"
        )


def _sleeps(retries: int) -> float:
    backoff = BACKOFF_FACTOR * (2**retries - 2) if retries >= 2 else 0
    return backoff + retries * JITTER_SECONDS


def _reason(error: object) -> str:
    text = type(error).__name__
    lowered = str(error).lower()
    for hint in ("connection refused", "timed out", "name or service not known", "reset by peer"):
        if hint in lowered:
            return f"{text}: {hint}"
    return text


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
