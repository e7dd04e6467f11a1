"""The bump pull request: pin a newly registered version in an environment, with the evidence attached.

The training job asks for it (``open_bump``) once its gate has decided to register a version; the gate's
verdict reaches this module only as the three facts a pull request shows (``GateDecision``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from delivery.pin_change import PinChange, PinChangeResult, propose
from delivery.services import Services
from model_contract.pins import ModelPin, model_pin_path
from model_contract.registry import RegisteredVersion


class GateDecision(Protocol):
    """What a bump PR says of the gate's verdict (training.gate.Verdict has these and more)."""

    @property
    def outcome(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def champion_version(self) -> int | None: ...


# Metrics shown in the PR table, in this order, with how to print them.
_TABLE = (
    ("rmse_log", "RMSE (log price)", "{:.4f}"),
    ("rmse", "RMSE ($)", "{:,.0f}"),
    ("mae", "MAE ($)", "{:,.0f}"),
    ("mape", "MAPE", "{:.2%}"),
    ("r2", "R²", "{:.4f}"),
    ("interval_coverage", "Interval coverage", "{:.1%}"),
    ("interval_mean_width", "Mean interval width ($)", "{:,.0f}"),
)


def bump_change(
    env: str,
    version: RegisteredVersion,
    verdict: GateDecision,
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    current_pin: ModelPin,
    current_text: str,
    run_link: str,
) -> PinChange:
    """The pin change that moves ``env`` to ``version``: one line of ``model.env`` differs."""
    new_pin = ModelPin(version.name, version.version)
    path = str(model_pin_path(env))
    title = f"Bump {version.name} to v{version.version} in {env}"
    if verdict.outcome == "switched":  # a deliberate change of model: the title must say so
        title = f"Switch {env} to {version.name} v{version.version} (replacing {current_pin.describe()})"
    fingerprint = version.tags.get("data_fingerprint", "unknown")
    body = "\n".join(
        [
            f"## {title}",
            "",
            f"Gate: **{verdict.outcome}** — {verdict.reason}.",
            "",
            metrics_table(challenger, champion, version.version, verdict.champion_version),
            "",
            f"- Now pinned: {current_pin.describe()}",
            f"- Data fingerprint: `{fingerprint}`",
            f"- Training run: `{version.run_id}` ({run_link})",
            f"- Artifact sha256: `{version.sha256}`",
            f"- Produced by: training job, git commit `{version.tags.get('git_commit', 'unknown')}`",
            "",
            "Merging this PR deploys the version: Argo CD syncs the AKS environments, `pulumi up` the ACI ones.",
            f"Rollback: `python -m delivery rollback --env {env}` (or revert the merge commit).",
        ]
    )
    message = f"{title}\n\nTraining run {version.run_id}; {verdict.reason}."
    return PinChange(
        env=env,
        purpose=f"bump-{version.name}",
        files={path: new_pin.render()},
        expected={path: current_text},
        title=title,
        body=body,
        commit_message=message,
    )


def metrics_table(
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    challenger_version: int,
    champion_version: int | None,
) -> str:
    """Champion vs challenger on the same test split, as a Markdown table."""
    champion_label = f"champion v{champion_version}" if champion is not None else "champion (none)"
    rows = [f"| metric | {champion_label} | challenger v{challenger_version} |", "|---|---:|---:|"]
    for key, label, fmt in _TABLE:
        if key not in challenger:
            continue
        theirs = fmt.format(champion[key]) if champion is not None and key in champion else "—"
        rows.append(f"| {label} | {theirs} | {fmt.format(challenger[key])} |")
    return "\n".join(rows)


def open_bump(
    env: str, version: RegisteredVersion, verdict: GateDecision, challenger: Mapping[str, float],
    champion: Mapping[str, float] | None, current_pin: ModelPin, current_text: str, services: Services,
    run_link: str,
) -> PinChangeResult:  # fmt: skip
    """Open (or update) the pull request pinning ``version`` in ``env``.

    The change is computed against the pin the gate compared with; if it moved since, it is refused.
    """
    change = bump_change(env, version, verdict, challenger, champion, current_pin, current_text, run_link)
    return propose(change, services.remote, services.provider, services.preview)
