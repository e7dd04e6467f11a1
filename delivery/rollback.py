"""Rollback: put an environment's model pin back to what it was before its last change on the default
branch (the equivalent of reverting the last bump's merge), by pull request; that version is in the
environment's registry already. The shadow pin of an overlay running canaries goes back with it
(delivery/shadow_pin.py says why)."""

from __future__ import annotations

from delivery.git import git
from delivery.gitops_remote import Checkout
from delivery.pin_change import PinChange, PinChangeResult, propose
from delivery.pin_requests import PromotionError, registered, requester, version_facts
from delivery.services import Services
from delivery.shadow_pin import shadow_note, shadow_pin_before, shadow_pin_path
from model_contract.pins import model_pin_path, parse_model_pin


def rollback(services: Services, env: str) -> PinChangeResult:
    """Open the PR that restores ``env``'s model pin from before its last change on the default branch."""
    path = str(model_pin_path(env))
    with services.remote.checkout(depth=None) as checkout:
        current_text = checkout.read(path) or ""
        current = parse_model_pin(current_text, path)
        previous_text, changed_by = _before_last_change(checkout, path)
        shadow_path = str(shadow_pin_path(env))
        shadow_now = checkout.read(shadow_path)
        shadow_before = shadow_pin_before(checkout, env, changed_by) if previous_text else None
    if previous_text is None:
        raise PromotionError(
            f"{path} has never changed on {services.remote.default_branch}: nothing to roll back"
        )
    previous = parse_model_pin(previous_text, f"{path} before {changed_by[:12]}")
    if previous.version is None:
        raise PromotionError(f"before its last change {env} had no model pinned: nothing to roll back to")
    version = registered(services.registry(env), env, previous)  # in env's registry by construction
    title = f"Roll back {env} to {previous.describe()} (from {current.describe()})"
    body = "\n".join(
        [
            f"## {title}",
            "",
            f"Restores `{path}` as it was before commit `{changed_by[:12]}`, the last change of {env}'s model pin.",
            "",
            version_facts(version),
            "",
            f"Requested by {requester()}. Merging this PR deploys {previous.describe()} to {env}.",
        ]
    )
    files, expected = {path: previous.render()}, {path: current_text}
    if shadow_before is not None:  # restored with the model pin, as a revert of that commit would
        files[shadow_path], expected[shadow_path] = shadow_before, shadow_now
        restored = shadow_before.partition("=")[2].strip()
        body += shadow_note(env, int(restored) if restored.isdigit() else None, previous)
    change = PinChange(env, "rollback", files, expected, title, body,
                       f"{title}\n\nReverts the pin change of {changed_by[:12]}.")  # fmt: skip
    return propose(change, services.remote, services.provider, services.preview)


def _before_last_change(checkout: Checkout, path: str) -> tuple[str | None, str]:
    """The file's content before the last first-parent commit that changed it, and that commit."""
    commits = git(["log", "--first-parent", "--format=%H", "-n", "1", "--", path], cwd=checkout.path).split()
    if not commits:
        return None, ""
    shown = git(["show", f"{commits[0]}^1:{path}"], cwd=checkout.path, check=False)  # "" if it did not exist
    return (shown + "\n" if shown else None), commits[0]
