"""Promote: make the target environment run what the source runs, by pull request.

Each environment has its own registries, so the model is *copied* from the source's MLflow registry into
the target's (delivery/model_copy.py: same sha256, lineage kept, verified) and the target pins its own
version number; the image digest is imported into the target's container registry
(delivery/container_images.py). Only then is the pull request opened, showing both sides. Or pin one
chosen version: ``--model-version N`` with ``--from`` (N of the source's registry, copied) or without
(N of the target's own registry).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from delivery.container_images import ImageTransfer, transfer_image
from delivery.model_copy import CopiedVersion, copy_version
from delivery.pin_change import PinChange, PinChangeResult, propose
from delivery.pin_requests import (
    EnvironmentPins,
    PromotionError,
    read_pins,
    registered,
    requester,
    version_facts,
)
from delivery.services import Services
from model_contract.pins import (
    NO_IMAGE_DIGEST,
    ImagePin,
    ModelPin,
    kustomization_path,
    model_pin_path,
    replace_image_pin,
)
from model_contract.registry import RegisteredVersion


@dataclass(frozen=True)
class Promotion:
    """What a promotion did: the model copy (None when pinning the target's own version), the image
    transfer, and the pull request."""

    change: PinChangeResult
    copy: CopiedVersion | None
    image: ImageTransfer


def promote(
    services: Services, target: str, source: str | None = None, model_version: int | None = None
) -> Promotion:
    """Copy ``source``'s model (or version ``model_version``) and image into ``target``, then open the PR."""
    if source is None and model_version is None:
        raise PromotionError("give the environment to promote from (--from), a model version, or both")
    if source == target:
        raise PromotionError(f"cannot promote {target} to itself")
    with services.remote.checkout() as checkout:
        now = read_pins(checkout, target)
        origin = read_pins(checkout, source) if source else None
    if origin is None:  # one of the target's own versions
        wanted = ModelPin(now.model.name, model_version)
        facts, copy = registered(services.registry(target), target, wanted), None
    else:
        copy = _copy(services, origin.model, model_version, source, target)  # type: ignore[arg-type]
        wanted, facts = ModelPin(copy.target.name, copy.target.version), copy.target
    follows_image = origin is not None and model_version is None
    wanted_image = _promoted_image(now.image, origin.image) if follows_image else now.image  # type: ignore[union-attr]
    if (wanted, wanted_image) == (now.model, now.image):
        raise PromotionError(f"{target} already runs {wanted.describe()} with {wanted_image.reference}")
    image = (
        _transfer(services, origin.image, now.image, source) if follows_image else ImageTransfer("unchanged")
    )  # type: ignore[union-attr, arg-type]
    files = {str(model_pin_path(target)): wanted.render()}
    if wanted_image != now.image:
        path = str(kustomization_path(target))
        files[path] = replace_image_pin(now.image_text, wanted_image, path)
    title = _title(wanted, target, source, copy)
    change = PinChange(
        env=target,
        purpose=_purpose(wanted, source, follows_image, copy),
        files=files,
        expected={
            str(model_pin_path(target)): now.model_text,
            str(kustomization_path(target)): now.image_text,
        },
        title=title,
        body=_body(title, target, now, wanted, wanted_image, facts, copy, image, services),
        commit_message=f"{title}\n\nRequested by {requester()}.",
    )
    return Promotion(propose(change, services.remote, services.provider, services.preview), copy, image)


def _copy(
    services: Services, pinned: ModelPin, model_version: int | None, source: str, target: str
) -> CopiedVersion:
    number = model_version if model_version is not None else pinned.version
    if number is None:
        raise PromotionError(f"{source} has no model pinned yet: nothing to promote")
    source_registry, target_registry = services.registries.for_promotion(source, target)
    version = registered(source_registry, source, ModelPin(pinned.name, number))
    return copy_version(source_registry, source, version, target_registry, target)


def _transfer(
    services: Services, source_image: ImagePin, target_image: ImagePin, source: str
) -> ImageTransfer:
    if source_image.digest in (None, NO_IMAGE_DIGEST) or source_image.digest == target_image.digest:
        return transfer_image(_NoRegistries(), source_image, target_image, source)
    if services.images is None:
        raise PromotionError(
            f"{source}'s image {source_image.reference} must be imported into {target_image.new_name}, "
            "but no container registry access is configured"
        )
    return transfer_image(services.images, source_image, target_image, source)


class _NoRegistries:
    """For transfers that need no registry (no image yet, or already pinned): any call is a bug."""

    def contains(self, image: object) -> bool:
        raise AssertionError("no container registry call was expected")

    def copy(self, source: object, target_host: str, source_env: str) -> None:
        raise AssertionError("no container registry call was expected")


def _title(wanted: ModelPin, target: str, source: str | None, copy: CopiedVersion | None) -> str:
    if copy is None:
        return f"Pin {wanted.describe()} in {target} (by request)"
    return f"Promote {copy.source.describe()} from {source} to {target} (as {target} v{wanted.version})"


def _purpose(wanted: ModelPin, source: str | None, follows_image: bool, copy: CopiedVersion | None) -> str:
    if follows_image:
        return f"promote-from-{source}"
    if copy is not None:
        return f"pin-{wanted.name}-from-{source}-v{copy.source.version}"
    return f"pin-{wanted.name}-v{wanted.version}"


def _promoted_image(target: ImagePin, source: ImagePin) -> ImagePin:
    """The target keeps its own registry; it takes the source's digest (images are promoted by digest)."""
    if source.digest is None or source.digest == NO_IMAGE_DIGEST:
        return target
    return replace(target, digest=source.digest, new_tag=None)


def _body(
    title: str, env: str, now: EnvironmentPins, wanted: ModelPin, wanted_image: ImagePin, facts: RegisteredVersion,
    copy: CopiedVersion | None, image: ImageTransfer, services: Services,
) -> str:  # fmt: skip
    """Both sides of the promotion: what the source runs, what the target runs now and after the merge."""
    target_registry = services.registries.location(env).tracking_uri
    if copy is None:
        rows = [f"| | {env} now | {env} after merge |", "|---|---|---|",
                f"| model | {now.model.describe()} | {wanted.describe()} |",
                f"| registry | `{target_registry}` | `{target_registry}` |",
                f"| image | `{now.image.reference}` | `{wanted_image.reference}` |"]  # fmt: skip
    else:
        source, source_registry = copy.source_env, services.registries.location(copy.source_env).tracking_uri
        how = "copied" if not copy.reused else "already copied"
        rows = [f"| | {source} (source) | {env} now | {env} after merge |", "|---|---|---|---|",
                f"| model | {copy.source.describe()} | {now.model.describe()} | {wanted.describe()} ({how} from {source} v{copy.source.version}) |",
                f"| registry | `{source_registry}` | `{target_registry}` | `{target_registry}` |",
                f"| artifact sha256 | `{copy.source.sha256}` | | `{copy.target.sha256}` |",
                f"| image | | `{now.image.reference}` | `{wanted_image.reference}` |"]  # fmt: skip
    lines = [f"## {title}", "", *rows, "", f"- Image: {image.describe()}", version_facts(facts), ""]
    lines.append(f"Requested by {requester()}. Rollback: `python -m delivery rollback --env {env}`.")
    return "\n".join(lines)
