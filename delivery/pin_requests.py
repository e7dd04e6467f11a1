"""What promote, rollback and pin-image share: an environment's pins as read on the default branch, the
registered version a pin names, who asked, and the refusal of a change that is impossible or pointless."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass

from delivery.gitops_remote import Checkout
from model_contract.pins import (
    ImagePin,
    ModelPin,
    kustomization_path,
    model_pin_path,
    parse_image_pin,
    parse_model_pin,
)
from model_contract.registry import ModelNotFoundError, ModelRegistry, RegisteredVersion


class PromotionError(ValueError):
    """The requested pin change is impossible or pointless; the message says why."""


@dataclass(frozen=True)
class EnvironmentPins:
    """An environment's two pins as read on the default branch, with the files' text."""

    model: ModelPin
    model_text: str
    image: ImagePin
    image_text: str


def read_pins(checkout: Checkout, env: str) -> EnvironmentPins:
    files = {}
    for path in (str(model_pin_path(env)), str(kustomization_path(env))):
        text = checkout.read(path)
        if text is None:
            raise PromotionError(f"{path} is missing on the default branch")
        files[path] = text
    model_text, image_text = files.values()
    model_source, image_source = files.keys()
    return EnvironmentPins(parse_model_pin(model_text, model_source), model_text,
                 parse_image_pin(image_text, image_source), image_text)  # fmt: skip


def registered(registry: ModelRegistry, env: str, pin: ModelPin) -> RegisteredVersion:
    try:
        return registry.get(pin.name, pin.version)  # type: ignore[arg-type]
    except ModelNotFoundError as error:
        raise PromotionError(
            f"{pin.describe()} is not in {env}'s registry at {registry.registry_uri}"
        ) from error


def version_facts(version: RegisteredVersion) -> str:
    metrics = version.metrics
    shown = ", ".join(
        f"{key} {metrics[key]:.4g}" for key in ("rmse_log", "mape", "interval_coverage") if key in metrics
    )
    return "\n".join([
        f"- {version.name} v{version.version}: {shown or 'no metrics recorded'}",
        f"- Produced by training run `{version.training_run_id}`, git commit `{version.tags.get('git_commit', 'unknown')}`",
        f"- Data fingerprint `{version.tags.get('data_fingerprint', 'unknown')}`, artifact sha256 `{version.sha256}`",
    ])  # fmt: skip


def requester() -> str:
    """Who asked: the pipeline's requester in Azure DevOps, else the local user."""
    return os.environ.get("BUILD_REQUESTEDFOR") or os.environ.get("GITHUB_ACTOR") or getpass.getuser()
