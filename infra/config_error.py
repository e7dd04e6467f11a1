"""The one error ``infra`` raises for bad configuration, and the one shape of its message.

Every refusal names what the user edits, says what was wrong and what is allowed, one line per problem::

    <key>: <what was wrong>; allowed: <what is allowed>

The key is what the user changes: a stack setting (``property-price-platform:aksTier``), a file
(``environments/Pulumi.staging.yaml``), a derived resource name, or a command-line option (``--config``).
Every problem found in one pass is reported together, so a bad stack file takes one round trip to fix
instead of one per key.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One refused value: which key, what was wrong with it, and what would be accepted."""

    key: str
    wrong: str
    allowed: str

    def __str__(self) -> str:
        return f"{self.key}: {self.wrong}; allowed: {self.allowed}"


class ConfigError(ValueError):
    """The configuration of a stack, a file it reads or a command line is refused; one line per problem."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))

    @classmethod
    def of(cls, key: str, wrong: str, allowed: str) -> ConfigError:
        return cls([Problem(key, wrong, allowed)])
