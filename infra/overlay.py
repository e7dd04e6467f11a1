"""What an ACI environment serves, read from the same overlay files Argo CD reads for AKS.

Merging a bump PR edits ``gitops/apps/estimation-engine/overlays/<env>/model.env`` (and promotions edit the
``images:`` entry of the overlay's ``kustomization.yaml``); ``pulumi up`` then reads them here, so an ACI
environment follows its pins exactly like an Argo CD one. Parsing goes through ``model_contract.pins`` so every
reader accepts and refuses the same files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from infra.stack_config import REPOSITORY_ROOT
from model_contract.pins import (
    ENGINE_IMAGE,
    NO_IMAGE_DIGEST,
    ImagePin,
    ModelPin,
    PinError,
    kustomization_path,
    model_pin_path,
    overlay_path,
    parse_image_pin,
    parse_model_pin,
)


class OverlayError(ValueError):
    """An overlay file is missing or malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class ServingPin:
    """The model and image one environment pins."""

    environment: str
    model: ModelPin
    image: ImagePin
    model_source: str
    image_source: str

    @property
    def not_deployable_reason(self) -> str | None:
        """Why nothing can be served yet, or ``None`` when the pins name a model and a built image."""
        if self.model.version is None:
            return f"{self.model_source} pins no model version yet (MODEL_VERSION is empty)"
        if self.image.digest == NO_IMAGE_DIGEST:
            return f"{self.image_source} pins the all-zero digest (no engine image built yet)"
        return None

    @property
    def registry_host(self) -> str:
        return self.image.new_name.split("/", 1)[0]

    @property
    def half_pinned_reason(self) -> str | None:
        """Why the pins contradict each other: a built image but no model (nothing may merge like that)."""
        if self.image.digest not in (None, NO_IMAGE_DIGEST) and self.model.version is None:
            return (
                f"{self.image_source} pins image {self.image.digest} but {self.model_source} pins no "
                "MODEL_VERSION: pin both (a promotion does) or neither"
            )
        return None


def check_registry(pin: ServingPin, login_server: str, setting: str) -> None:
    """The overlay must pull from this stack's own registry: its identities can pull from nowhere else, and
    promotion imports images into exactly that registry (named by the overlay's host)."""
    if pin.registry_host != login_server:
        raise OverlayError(
            f"{pin.image_source}: image {pin.image.new_name} is not in this stack's registry {login_server} "
            f"(setting {setting}); set the overlay's images newName to {login_server}/{ENGINE_IMAGE} or the "
            "setting to the overlay's registry"
        )


def check_argocd_served(pin: ServingPin, root: Path = REPOSITORY_ROOT) -> None:
    """What the ApplicationSet's selector relies on in an overlay Argo CD serves (gitops/argocd/applicationset.yaml):
    the engine is the first ``images`` entry and is pinned by digest, and the pins are not half set."""
    path = root / kustomization_path(pin.environment)
    images = (yaml.safe_load(_read(path)) or {}).get("images") or []
    if not images or not isinstance(images[0], dict) or images[0].get("name") != ENGINE_IMAGE:
        raise OverlayError(
            f"{path}: the first images entry must be {ENGINE_IMAGE!r} (the ApplicationSet selects on it)"
        )
    if pin.image.digest is None:
        raise OverlayError(
            f"{path}: an Argo CD environment pins the engine image by digest, not tag {pin.image.new_tag!r}"
        )
    reason = pin.half_pinned_reason
    if reason is not None:
        raise OverlayError(reason)


def read_serving_pin(environment: str, root: Path = REPOSITORY_ROOT) -> ServingPin:
    """Read ``model.env`` and the image pin of ``environment`` below the repository ``root``."""
    model_file = root / model_pin_path(environment)
    image_file = root / kustomization_path(environment)
    try:
        model = parse_model_pin(_read(model_file), str(model_file))
        image = parse_image_pin(_read(image_file), str(image_file))
    except PinError as error:
        raise OverlayError(str(error)) from error
    return ServingPin(environment, model, image, str(model_file), str(image_file))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OverlayError(f"{path}: missing (the ACI program reads its pin from there)") from None
    except OSError as error:
        raise OverlayError(f"{path}: unreadable: {error}") from error


SETTINGS_FILE = "settings.env"
_SETTING_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")


def read_engine_settings(environment: str, root: Path = REPOSITORY_ROOT) -> dict[str, str]:
    """The overlay's ``settings.env`` (log level, load-failure policy, ...), or nothing if it has none.

    On AKS these reach the engine through a ConfigMap; on ACI they become environment variables, so both
    runtimes of one environment behave alike.
    """
    path = root / overlay_path(environment) / SETTINGS_FILE
    if not path.exists():
        return {}
    values: dict[str, str] = {}
    for number, raw in enumerate(_read(path).splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not _SETTING_KEY.match(key.strip()):
            raise OverlayError(f"{path}:{number}: expected KEY=VALUE with an upper-case key, got {raw!r}")
        values[key.strip()] = value.strip()
    return values
