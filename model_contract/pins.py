"""What an environment pins: one model version and one engine image.

The pin files under ``gitops/apps/estimation-engine/overlays/<env>/`` are the single source of truth for
what runs in an environment. Argo CD reads them through Kustomize, the Pulumi program reads them for the
ACI environments, and the training job reads the champion from them and writes bumps into them. Every
reader goes through this module so that all of them agree on the format and refuse the same mistakes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

import yaml

ENVIRONMENTS: tuple[str, ...] = ("dev", "qa", "prod")
OVERLAYS_DIR = PurePosixPath("gitops/apps/estimation-engine/overlays")
MODEL_PIN_FILE = "model.env"
KUSTOMIZATION_FILE = "kustomization.yaml"
ENGINE_IMAGE = "estimation-engine"

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# What a pin may say, for messages of whoever else reads a pin (the engine's MODEL_NAME and MODEL_VERSION).
MODEL_NAME_RULE = "1 to 255 letters, digits, '.', '_' or '-', the first a letter or digit"
MODEL_VERSION_RULE = "a registry version number (1, 2, ...), or empty for no model yet, never an alias"
# The digest overlays pin before any image was built: "no image yet" for that environment.
NO_IMAGE_DIGEST = "sha256:" + "0" * 64


class PinError(ValueError):
    """A pin file is missing, malformed, or names something impossible."""


@dataclass(frozen=True)
class ModelPin:
    """The model an environment serves. ``version is None`` means "no model yet" (a fresh repository)."""

    name: str
    version: int | None

    def render(self) -> str:
        """The file text: one ``KEY=VALUE`` per line, so a bump changes exactly one line."""
        version = "" if self.version is None else str(self.version)
        return f"MODEL_NAME={self.name}\nMODEL_VERSION={version}\n"

    def describe(self) -> str:
        return (
            f"{self.name} (no version pinned yet)" if self.version is None else f"{self.name} v{self.version}"
        )


@dataclass(frozen=True)
class ImagePin:
    """The engine image an environment runs, as Kustomize's ``images:`` entry says."""

    name: str
    new_name: str
    new_tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """The full image reference a container runtime pulls."""
        if self.digest:
            return f"{self.new_name}@{self.digest}"
        return f"{self.new_name}:{self.new_tag or 'latest'}"


def overlay_path(env: str) -> PurePosixPath:
    """Path of an environment's overlay, relative to the repository root."""
    if env not in ENVIRONMENTS:
        raise PinError(f"unknown environment {env!r}: expected one of {', '.join(ENVIRONMENTS)}")
    return OVERLAYS_DIR / env


def model_pin_path(env: str) -> PurePosixPath:
    return overlay_path(env) / MODEL_PIN_FILE


def kustomization_path(env: str) -> PurePosixPath:
    return overlay_path(env) / KUSTOMIZATION_FILE


def parse_model_pin(text: str, source: str) -> ModelPin:
    """Parse a ``model.env``; ``source`` names the file in every error message."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise PinError(f"{source}:{number}: expected KEY=VALUE, got {raw!r}")
        if key not in ("MODEL_NAME", "MODEL_VERSION"):
            raise PinError(
                f"{source}:{number}: unknown key {key!r} (a pin file holds MODEL_NAME and MODEL_VERSION)"
            )
        if key in values:
            raise PinError(f"{source}:{number}: {key} is set twice")
        values[key] = value
    for key in ("MODEL_NAME", "MODEL_VERSION"):
        if key not in values:
            raise PinError(f"{source}: missing key {key}")
    name = values["MODEL_NAME"]
    if not is_model_name(name):
        raise PinError(f"{source}: MODEL_NAME {name!r} is not a valid model name")
    return ModelPin(name=name, version=_parse_version(values["MODEL_VERSION"], source))


def is_model_name(value: str) -> bool:
    """Whether a pin may name this model (MODEL_NAME_RULE)."""
    return bool(_MODEL_NAME.match(value))


def is_model_version(value: str) -> bool:
    """Whether a pin may name this version (MODEL_VERSION_RULE): a number, or empty for "no model yet"."""
    return value == "" or (value.isdigit() and int(value) >= 1)


def _parse_version(value: str, source: str) -> int | None:
    if not is_model_version(value):
        raise PinError(
            f"{source}: MODEL_VERSION {value!r} must be a registry version number (1, 2, ...) or empty; "
            "pins name immutable versions, never aliases"
        )
    return int(value) if value else None


def parse_image_pin(kustomization_text: str, source: str, image: str = ENGINE_IMAGE) -> ImagePin:
    """Read the engine's ``images:`` entry from an overlay's ``kustomization.yaml``."""
    try:
        document = yaml.safe_load(kustomization_text) or {}
    except yaml.YAMLError as error:
        raise PinError(f"{source}: not valid YAML: {error}") from error
    entries = document.get("images") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise PinError(f"{source}: no 'images:' list (the engine image is pinned there)")
    for entry in entries:
        if isinstance(entry, dict) and entry.get("name") == image:
            return image_pin_from_entry(entry, source)
    raise PinError(f"{source}: 'images:' has no entry named {image!r}")


def image_pin_from_entry(entry: dict, source: str) -> ImagePin:
    """Validate one Kustomize ``images:`` entry (name, newName, newTag or digest) as an ImagePin."""
    new_name = entry.get("newName") or entry["name"]
    digest = entry.get("digest")
    tag = entry.get("newTag")
    if digest is not None and not _DIGEST.match(str(digest)):
        raise PinError(f"{source}: images[{entry['name']}].digest {digest!r} is not sha256:<64 hex digits>")
    if digest is None and tag is None:
        raise PinError(f"{source}: images[{entry['name']}] needs newTag or digest")
    return ImagePin(
        name=entry["name"],
        new_name=str(new_name),
        new_tag=None if tag is None else str(tag),
        digest=None if digest is None else str(digest),
    )


def replace_image_pin(kustomization_text: str, pin: ImagePin, source: str) -> str:
    """Return the kustomization text with the engine's image entry set to ``pin``, all else untouched.

    Edits the lines of the entry in place rather than re-dumping the YAML, so comments and key order
    survive and the PR diff shows only the lines that change. Comments inside the entry are kept after
    its keys. The result is read back: an edit that would not pin exactly ``pin`` is refused.
    """
    parse_image_pin(kustomization_text, source, pin.name)  # refuse files we cannot read
    lines = kustomization_text.splitlines(keepends=True)
    start = _image_entry_start(lines, pin.name, source)
    indent = len(lines[start]) - len(lines[start].lstrip(" -"))
    end, comments = _entry_end(lines, start, indent)
    replacement = [lines[start], " " * indent + f"newName: {pin.new_name}\n"]
    if pin.new_tag is not None:
        replacement.append(" " * indent + f'newTag: "{pin.new_tag}"\n')
    if pin.digest is not None:
        replacement.append(" " * indent + f"digest: {pin.digest}\n")
    result = "".join(lines[:start] + replacement + comments + lines[end:])
    if parse_image_pin(result, source, pin.name) != pin:
        raise PinError(f"{source}: could not rewrite the '{pin.name}' image entry safely; edit it by hand")
    return result


def _entry_end(lines: list[str], start: int, indent: int) -> tuple[int, list[str]]:
    """Where the entry's lines end, and the comment lines inside it (blank lines and comments between
    its keys belong to it; those after its last key do not)."""
    end, comments, pending = start + 1, [], []
    for index in range(start + 1, len(lines)):
        stripped = lines[index].lstrip(" ")
        if not stripped.strip() or stripped.startswith("#"):
            pending.append(lines[index])
            continue
        if len(lines[index]) - len(stripped) < indent or stripped.startswith("-"):
            break
        comments += [line for line in pending if line.strip()]
        pending, end = [], index + 1
    return end, comments


def _image_entry_start(lines: list[str], image: str, source: str) -> int:
    pattern = re.compile(rf"^\s*-\s*name:\s*['\"]?{re.escape(image)}['\"]?\s*$")
    for index, line in enumerate(lines):
        if pattern.match(line):
            return index
    raise PinError(
        f"{source}: write the image entry as '- name: {image}' on its own line to let tools edit it"
    )
