"""The engine image in each environment's container registry: imported by digest before a pin names it.

Each stack has its own Azure Container Registry, and qa and prod pin the engine image by digest. A
digest built in dev exists only in dev's registry until it is copied, so a promotion imports it into the
target's registry first (``az acr import``, a server-side copy that keeps the digest) and only then opens
the pull request; the deploy pipelines check the pinned digest is there (``verify-image``) before they
deploy it. Registries are named by the host of each overlay's ``images:`` entry.

``az acr import`` (azure-cli, command_modules/acr/import.py): with ``--source <host>/<repo>@<digest>``
the source registry is looked up by login server in the current subscription; for a registry in another
subscription, ``--registry <resource id>`` names it and ``--source`` is then ``<repo>@<digest>``
(``CONTAINER_REGISTRY_ID_<ENV>`` gives that id). Without ``--image`` the target gets the repository's
``latest`` tag, so the copy is tagged ``promoted-<digest prefix>`` and ``--force`` lets a re-run retag
the same digest. ``az acr repository show --image <repo>@<digest>`` answers whether a digest is there.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from model_contract.pins import NO_IMAGE_DIGEST, ImagePin, kustomization_path, parse_image_pin

ACR_SUFFIXES = (".azurecr.io", ".azurecr.cn", ".azurecr.us")
REGISTRY_ID_VARIABLE = "CONTAINER_REGISTRY_ID_{env}"


class ImageImportError(RuntimeError):
    """The image cannot be put into, or found in, the target registry; the message says where and why."""


@dataclass(frozen=True)
class ImageReference:
    """``host/repository@digest``: one image in one registry."""

    host: str
    repository: str
    digest: str

    @classmethod
    def of(cls, pin: ImagePin) -> ImageReference:
        host, _, repository = pin.new_name.partition("/")
        if not repository or "." not in host or not pin.digest:
            raise ImageImportError(
                f"image {pin.reference} is not pinned as <registry host>/<repository>@<digest>"
            )
        return cls(host.lower(), repository, pin.digest)

    def __str__(self) -> str:
        return f"{self.host}/{self.repository}@{self.digest}"

    def in_registry(self, host: str) -> ImageReference:
        return ImageReference(host, self.repository, self.digest)


@dataclass(frozen=True)
class ImageTransfer:
    """What a promotion did about the image: nothing to do, already there, or imported."""

    status: Literal["no-image", "unchanged", "present", "imported"]
    source: ImageReference | None = None
    target: ImageReference | None = None

    def describe(self) -> str:
        if self.status == "no-image":
            return "no image built yet (all-zero digest): nothing to import"
        if self.status == "unchanged":
            return f"image unchanged: {self.target}"
        verb = "already in" if self.status == "present" else "imported into"
        return f"image {self.source.digest} {verb} {self.target.host} (from {self.source.host})"  # type: ignore[union-attr]


class ContainerRegistries(Protocol):
    """The two operations a promotion needs from the environments' container registries."""

    def contains(self, image: ImageReference) -> bool: ...

    def copy(self, source: ImageReference, target_host: str, source_env: str) -> None: ...


def transfer_image(
    registries: ContainerRegistries, source: ImagePin, target: ImagePin, source_env: str
) -> ImageTransfer:
    """Make the source's image digest available in the target's registry (the target keeps its host)."""
    if source.digest is None or source.digest == NO_IMAGE_DIGEST:
        return ImageTransfer("no-image")
    origin = ImageReference.of(source)
    wanted = origin.in_registry(_host(target))
    if target.digest == source.digest:
        return ImageTransfer("unchanged", origin, wanted)
    if registries.contains(wanted):
        return ImageTransfer("present", origin, wanted)
    registries.copy(origin, wanted.host, source_env)
    if not registries.contains(wanted):
        raise ImageImportError(f"imported {origin} into {wanted.host}, but {wanted} is not there afterwards")
    return ImageTransfer("imported", origin, wanted)


def verify_pinned_image(root: Path, registries: ContainerRegistries | None, env: str) -> str:
    """Say where ``env``'s pinned image digest is; ImageImportError when its registry lacks it.

    What the deploy pipelines run before deploying, on the commit they deploy (the checkout at ``root``,
    which ``pulumi up`` reads too): a pin naming a digest the registry does not hold would deploy an
    image that cannot be pulled.
    """
    path = root / str(kustomization_path(env))
    if not path.is_file():
        raise ImageImportError(f"{path} is missing: run verify-image in the repository checkout")
    pin = parse_image_pin(path.read_text(), str(path))
    if pin.digest is None:
        return f"{env} pins {pin.reference} by tag: a tag can move, so there is no digest to verify"
    if pin.digest == NO_IMAGE_DIGEST:
        return f"{env} pins no image yet (the all-zero digest): there is nothing to deploy"
    image = ImageReference.of(pin)
    if registries is None or not registries.contains(image):
        raise ImageImportError(
            f"{env} pins {image}, which is not in {image.host}: promote again (it imports the image) "
            f"or az acr import it, before deploying"
        )
    return f"{env} pins {image}: present in {image.host}"


def _host(pin: ImagePin) -> str:
    return pin.new_name.partition("/")[0].lower()


Runner = Callable[[Sequence[str]], subprocess.CompletedProcess]


class AzureContainerRegistries:
    """``az acr`` against the Azure Container Registries the overlays name (needs ``az login``)."""

    def __init__(self, registry_ids: Mapping[str, str] | None = None, run: Runner | None = None) -> None:
        self.registry_ids = dict(registry_ids or {})  # by environment: the source registry's resource id
        self._run = run or _run_az

    def contains(self, image: ImageReference) -> bool:
        completed = self._run(
            ["acr", "repository", "show", "--name", acr_name(image.host),
             "--image", f"{image.repository}@{image.digest}", "--output", "none"]
        )  # fmt: skip
        return completed.returncode == 0

    def copy(self, source: ImageReference, target_host: str, source_env: str) -> None:
        tag = f"{source.repository}:promoted-{source.digest.removeprefix('sha256:')[:12]}"
        registry_id = self.registry_ids.get(source_env)
        origin = (
            [f"{source.repository}@{source.digest}", "--registry", registry_id]
            if registry_id
            else [str(source)]
        )
        completed = self._run(
            ["acr", "import", "--name", acr_name(target_host), "--source", *origin, "--image", tag, "--force"]
        )
        if completed.returncode != 0:
            detail = (completed.stderr or completed.stdout or "").strip()
            raise ImageImportError(
                f"az acr import of {source} into {target_host} failed (exit {completed.returncode}): {detail}"
            )


def acr_name(host: str) -> str:
    """``crpriceengineqa.azurecr.io`` -> ``crpriceengineqa``; other registries cannot be imported into."""
    if not host.endswith(ACR_SUFFIXES):
        raise ImageImportError(
            f"{host} is not an Azure Container Registry: copy the image there yourself, then promote"
        )
    return host.split(".", 1)[0]


def registry_ids_from_environment(environ: Mapping[str, str], environments: Sequence[str]) -> dict[str, str]:
    ids = {env: environ.get(REGISTRY_ID_VARIABLE.format(env=env.upper()), "") for env in environments}
    return {env: value for env, value in ids.items() if value}


def _run_az(arguments: Sequence[str]) -> subprocess.CompletedProcess:
    executable = shutil.which("az")
    if executable is None:
        raise ImageImportError(
            "the Azure CLI (az) is not on PATH: promoting an image by digest imports it with az acr import"
        )
    return subprocess.run([executable, *arguments], capture_output=True, text=True, check=False, timeout=900)
