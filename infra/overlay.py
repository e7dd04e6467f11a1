"""What an ACI environment serves, read from the same overlay files Argo CD reads for AKS.

Merging a bump PR edits ``gitops/apps/estimation-engine/overlays/<env>/model.env`` (and promotions edit the
``images:`` entry of the overlay's ``kustomization.yaml``); ``pulumi up`` then reads them here, so an ACI
environment follows its pins exactly like an Argo CD one. Parsing goes through ``training.pins`` so every
reader accepts and refuses the same files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from infra.stack_config import REPOSITORY_ROOT
from training.pins import (
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
