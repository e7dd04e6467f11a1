"""The shadow pin: which version a prod canary compares its new model with.

An overlay that runs canaries (today prod's) carries ``previous-model.env`` beside ``model.env``, one line,
``SHADOW_MODEL_VERSION=<version>``, which reaches the engine's environment through its own generated
ConfigMap (gitops/apps/estimation-engine/overlays/prod/kustomization.yaml). Every pin change that moves the
model writes it in the same commit as ``model.env``, so one merge changes both and the canary's engine
compares the new version with the one it replaces (estimation_engine/model/shadow.py):

- ``MODEL_VERSION`` from a version X to another version of the same model: ``SHADOW_MODEL_VERSION=X``;
- from no version, or to another ``MODEL_NAME``: empty (nothing comparable: the comparison is off);
- a change that leaves the model pin as it is (an image pin) does not touch it;
- a rollback writes the file as it was before the change it undoes, like ``git revert`` of that commit
  (delivery/rollback.py): the restored pod template is then the stable ReplicaSet's own, which Argo
  Rollouts restores at once, and the canary never judges the good model against the bad one.

Overlays without the file (dev and qa, which run no canary) are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

from delivery.gitops_remote import Checkout
from model_contract.pins import ModelPin, model_pin_path, overlay_path, parse_model_pin

SHADOW_PIN_FILE = "previous-model.env"
SHADOW_KEY = "SHADOW_MODEL_VERSION"


def shadow_pin_path(env: str) -> PurePosixPath:
    return overlay_path(env) / SHADOW_PIN_FILE


def render_shadow_pin(version: int | None) -> str:
    return f"{SHADOW_KEY}={'' if version is None else version}\n"


def shadow_version(before: ModelPin | None, after: ModelPin) -> int | None:
    """The version a canary of ``after`` compares with, when it replaces ``before``."""
    if before is None or before.version is None or before.name != after.name or before == after:
        return None
    return before.version


def with_shadow_pin(env: str, files: Mapping[str, str], checkout: Checkout) -> tuple[dict[str, str], str]:
    """``files`` plus the shadow pin the model change in them implies, and a line for the PR body saying it.

    Unchanged (and no line) when the change does not move the model pin, already writes the shadow pin, or
    the overlay has none.
    """
    model_path, shadow_path = str(model_pin_path(env)), str(shadow_pin_path(env))
    if model_path not in files or shadow_path in files or checkout.read(shadow_path) is None:
        return dict(files), ""
    after = parse_model_pin(files[model_path], model_path)
    current = checkout.read(model_path)
    before = parse_model_pin(current, model_path) if current else None
    if before == after:
        return dict(files), ""
    version = shadow_version(before, after)
    return {**files, shadow_path: render_shadow_pin(version)}, shadow_note(env, version, after)


def shadow_note(env: str, version: int | None, after: ModelPin) -> str:
    """The PR body's line about the canary's shadow comparison."""
    where = f"`{shadow_pin_path(env)}`"
    if version is None:
        return (
            f"\n\nCanary shadow comparison: off ({where} `{SHADOW_KEY}=` empty: no earlier version of "
            f"{after.name} to compare {after.describe()} with)."
        )
    return (
        f"\n\nCanary shadow comparison: {env}'s new pods also estimate with v{version}, the version this "
        f"replaces ({where} `{SHADOW_KEY}={version}`), and the canary analysis judges how far prices moved."
    )


def shadow_pin_before(checkout: Checkout, env: str, commit: str) -> str | None:
    """For a rollback: the shadow pin as it was before ``commit``, when the overlay has one now.

    An overlay that had no shadow pin then gets an empty one (comparison off): there is no version the
    restored model was known to be compared with.
    """
    from delivery.git import git

    path = str(shadow_pin_path(env))
    if checkout.read(path) is None:
        return None
    before = git(["show", f"{commit}^1:{path}"], cwd=checkout.path, check=False)
    return before + "\n" if before else render_shadow_pin(None)
