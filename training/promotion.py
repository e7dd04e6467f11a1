"""Promotion, rollback and image pins: every other way an environment's pins change, each by PR.

- promote: make the target run what the source runs. Each environment has its own registries, so the
  model is *copied* from the source's MLflow registry into the target's (training/model_copy.py: same
  sha256, lineage kept, verified) and the target pins its own version number; the image digest is
  imported into the target's container registry (training/container_images.py). Only then is the pull
  request opened, showing both sides. Or pin one chosen version: ``--model-version N`` with ``--from``
  (N of the source's registry, copied) or without (N of the target's own registry).
- rollback: put an environment's model pin back to what it was before its last change on the default
  branch (the equivalent of reverting the last bump's merge); that version is in its registry already.
- pin-image: the build pipeline's write-back of a new engine image (by digest in qa and prod).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, replace

from model_contract.pins import (
    NO_IMAGE_DIGEST,
    ImagePin,
    ModelPin,
    image_pin_from_entry,
    kustomization_path,
    model_pin_path,
    parse_image_pin,
    parse_model_pin,
    replace_image_pin,
)
from model_contract.registry import ModelNotFoundError, ModelRegistry, RegisteredVersion
from training.container_images import ImageTransfer, transfer_image
from training.git import git
from training.gitops_remote import Checkout
from training.model_copy import CopiedVersion, copy_version
from training.pin_change import IMAGE_PURPOSE, PinChange, PinChangeResult, propose
from training.pipeline import Services

DIGEST_REQUIRED = ("qa", "prod")


class PromotionError(ValueError):
    """The requested pin change is impossible or pointless; the message says why."""


@dataclass(frozen=True)
class Promotion:
    """What a promotion did: the model copy (None when pinning the target's own version), the image
    transfer, and the pull request."""

    change: PinChangeResult
    copy: CopiedVersion | None
    image: ImageTransfer


@dataclass(frozen=True)
class _Pins:
    """An environment's two pins as read on the default branch, with the files' text."""

    model: ModelPin
    model_text: str
    image: ImagePin
    image_text: str


def promote(
    services: Services, target: str, source: str | None = None, model_version: int | None = None
) -> Promotion:
    """Copy ``source``'s model (or version ``model_version``) and image into ``target``, then open the PR."""
    if source is None and model_version is None:
        raise PromotionError("give the environment to promote from (--from), a model version, or both")
    if source == target:
        raise PromotionError(f"cannot promote {target} to itself")
    with services.remote.checkout() as checkout:
        now = _pins(checkout, target)
        origin = _pins(checkout, source) if source else None
    if origin is None:  # one of the target's own versions
        wanted = ModelPin(now.model.name, model_version)
        facts, copy = _registered(services.registry(target), target, wanted), None
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
        commit_message=f"{title}\n\nRequested by {_requester()}.",
    )
    return Promotion(propose(change, services.remote, services.provider, services.preview), copy, image)


def _copy(
    services: Services, pinned: ModelPin, model_version: int | None, source: str, target: str
) -> CopiedVersion:
    number = model_version if model_version is not None else pinned.version
    if number is None:
        raise PromotionError(f"{source} has no model pinned yet: nothing to promote")
    source_registry, target_registry = services.registries.for_promotion(source, target)
    version = _registered(source_registry, source, ModelPin(pinned.name, number))
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


def rollback(services: Services, env: str) -> PinChangeResult:
    """Open the PR that restores ``env``'s model pin from before its last change on the default branch."""
    path = str(model_pin_path(env))
    with services.remote.checkout(depth=None) as checkout:
        current_text = checkout.read(path) or ""
        current = parse_model_pin(current_text, path)
        previous_text, changed_by = _before_last_change(checkout, path)
    if previous_text is None:
        raise PromotionError(
            f"{path} has never changed on {services.remote.default_branch}: nothing to roll back"
        )
    previous = parse_model_pin(previous_text, f"{path} before {changed_by[:12]}")
    if previous.version is None:
        raise PromotionError(f"before its last change {env} had no model pinned: nothing to roll back to")
    version = _registered(services.registry(env), env, previous)  # in env's registry by construction
    title = f"Roll back {env} to {previous.describe()} (from {current.describe()})"
    body = "\n".join(
        [
            f"## {title}",
            "",
            f"Restores `{path}` as it was before commit `{changed_by[:12]}`, the last change of {env}'s model pin.",
            "",
            _version_facts(version),
            "",
            f"Requested by {_requester()}. Merging this PR deploys {previous.describe()} to {env}.",
        ]
    )
    change = PinChange(env, "rollback", {path: previous.render()}, {path: current_text}, title, body,
                       f"{title}\n\nReverts the pin change of {changed_by[:12]}.")  # fmt: skip
    return propose(change, services.remote, services.provider, services.preview)


def pin_image(
    services: Services, env: str, name: str | None, digest: str | None, tag: str | None
) -> PinChangeResult:
    """Open the PR that pins a new engine image in ``env`` (by digest in qa and prod)."""
    if env in DIGEST_REQUIRED and not digest:
        raise PromotionError(f"{env} pins images by digest: pass --digest sha256:...")
    if not (digest or tag):
        raise PromotionError("pass --digest or --tag")
    path = str(kustomization_path(env))
    with services.remote.checkout() as checkout:
        pins = _pins(checkout, env)
    current, text = pins.image, pins.image_text
    entry = {
        "name": current.name,
        "newName": name or current.new_name,
        "digest": digest,
        "newTag": None if digest else tag,
    }
    wanted = image_pin_from_entry({k: v for k, v in entry.items() if v is not None}, "--name/--digest/--tag")
    if wanted == current:
        raise PromotionError(f"{env} already runs {wanted.reference}")
    title = f"Pin engine image {wanted.reference} in {env}"
    body = f"## {title}\n\nWas: `{current.reference}`.\n\nRequested by {_requester()}."
    change = PinChange(
        env, IMAGE_PURPOSE, {path: replace_image_pin(text, wanted, path)}, {path: text}, title, body, title
    )
    return propose(change, services.remote, services.provider, services.preview)


def _pins(checkout: Checkout, env: str) -> _Pins:
    files = {}
    for path in (str(model_pin_path(env)), str(kustomization_path(env))):
        text = checkout.read(path)
        if text is None:
            raise PromotionError(f"{path} is missing on the default branch")
        files[path] = text
    model_text, image_text = files.values()
    model_source, image_source = files.keys()
    return _Pins(parse_model_pin(model_text, model_source), model_text,
                 parse_image_pin(image_text, image_source), image_text)  # fmt: skip


def _promoted_image(target: ImagePin, source: ImagePin) -> ImagePin:
    """The target keeps its own registry; it takes the source's digest (images are promoted by digest)."""
    if source.digest is None or source.digest == NO_IMAGE_DIGEST:
        return target
    return replace(target, digest=source.digest, new_tag=None)


def _registered(registry: ModelRegistry, env: str, pin: ModelPin) -> RegisteredVersion:
    try:
        return registry.get(pin.name, pin.version)  # type: ignore[arg-type]
    except ModelNotFoundError as error:
        raise PromotionError(
            f"{pin.describe()} is not in {env}'s registry at {registry.registry_uri}"
        ) from error


def _before_last_change(checkout: Checkout, path: str) -> tuple[str | None, str]:
    """The file's content before the last first-parent commit that changed it, and that commit."""
    commits = git(["log", "--first-parent", "--format=%H", "-n", "1", "--", path], cwd=checkout.path).split()
    if not commits:
        return None, ""
    shown = git(["show", f"{commits[0]}^1:{path}"], cwd=checkout.path, check=False)  # "" if it did not exist
    return (shown + "\n" if shown else None), commits[0]


def _body(
    title: str, env: str, now: _Pins, wanted: ModelPin, wanted_image: ImagePin, facts: RegisteredVersion,
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
    lines = [f"## {title}", "", *rows, "", f"- Image: {image.describe()}", _version_facts(facts), ""]
    lines.append(f"Requested by {_requester()}. Rollback: `python -m training rollback --env {env}`.")
    return "\n".join(lines)


def _version_facts(version: RegisteredVersion) -> str:
    metrics = version.metrics
    shown = ", ".join(
        f"{key} {metrics[key]:.4g}" for key in ("rmse_log", "mape", "interval_coverage") if key in metrics
    )
    return "\n".join([
        f"- {version.name} v{version.version}: {shown or 'no metrics recorded'}",
        f"- Produced by training run `{version.training_run_id}`, git commit `{version.tags.get('git_commit', 'unknown')}`",
        f"- Data fingerprint `{version.tags.get('data_fingerprint', 'unknown')}`, artifact sha256 `{version.sha256}`",
    ])  # fmt: skip


def _requester() -> str:
    """Who asked: the pipeline's requester in Azure DevOps, else the local user."""
    return os.environ.get("BUILD_REQUESTEDFOR") or os.environ.get("GITHUB_ACTOR") or getpass.getuser()
