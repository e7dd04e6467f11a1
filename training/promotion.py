"""Promotion, rollback and image pins: every other way an environment's pins change, each by PR.

- promote: copy one environment's model pin (and image digest) to another, or pin one chosen registered
  version (the "custom QA" case). Refused when the target already has it or the version is unknown.
- rollback: put an environment's model pin back to what it was before its last change on the default
  branch (the equivalent of reverting the last bump's merge).
- pin-image: the build pipeline's write-back of a new engine image (by digest in qa and prod).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import replace

from training.git import git
from training.gitops_remote import Checkout
from training.pin_change import IMAGE_PURPOSE, PinChange, PinChangeResult, propose
from training.pins import (
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
from training.pipeline import Services
from training.registry import ModelNotFoundError, RegisteredVersion

DIGEST_REQUIRED = ("qa", "prod")


class PromotionError(ValueError):
    """The requested pin change is impossible or pointless; the message says why."""


def promote(
    services: Services, target: str, source: str | None = None, model_version: int | None = None
) -> PinChangeResult:
    """Open the PR that makes ``target`` run ``source``'s model (and image digest), or ``model_version``."""
    if (source is None) == (model_version is None):
        raise PromotionError("give either a source environment or a model version to promote")
    if source == target:
        raise PromotionError(f"cannot promote {target} to itself")
    with services.remote.checkout() as checkout:
        current_model, model_text = _model(checkout, target)
        current_image, image_text = _image(checkout, target)
        if source is not None:
            wanted_model, _ = _model(checkout, source)
            wanted_image = _promoted_image(current_image, _image(checkout, source)[0])
        else:
            wanted_model, wanted_image = ModelPin(current_model.name, model_version), current_image
    if wanted_model.version is None:
        raise PromotionError(f"{source} has no model pinned yet: nothing to promote")
    if (wanted_model, wanted_image) == (current_model, current_image):
        raise PromotionError(f"{target} already runs {wanted_model.describe()} with {wanted_image.reference}")
    version = _registered(services, wanted_model)
    files = {str(model_pin_path(target)): wanted_model.render()}
    if wanted_image != current_image:
        files[str(kustomization_path(target))] = replace_image_pin(
            image_text, wanted_image, str(kustomization_path(target))
        )
    origin = f"from {source}" if source else "by request"
    title = f"Promote {wanted_model.describe()} to {target} ({origin})"
    body = _body(title, target, current_model, wanted_model, current_image, wanted_image, version)
    change = PinChange(
        env=target,
        purpose=f"promote-from-{source}" if source else f"pin-{wanted_model.name}-v{wanted_model.version}",
        files=files,
        expected={str(model_pin_path(target)): model_text, str(kustomization_path(target)): image_text},
        title=title,
        body=body,
        commit_message=f"{title}\n\nRequested by {_requester()}.",
    )
    return propose(change, services.remote, services.provider, services.preview)


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
    version = _registered(services, previous)
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
        current, text = _image(checkout, env)
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


def _model(checkout: Checkout, env: str) -> tuple[ModelPin, str]:
    path = str(model_pin_path(env))
    text = checkout.read(path)
    if text is None:
        raise PromotionError(f"{path} is missing on the default branch")
    return parse_model_pin(text, path), text


def _image(checkout: Checkout, env: str) -> tuple[ImagePin, str]:
    path = str(kustomization_path(env))
    text = checkout.read(path)
    if text is None:
        raise PromotionError(f"{path} is missing on the default branch")
    return parse_image_pin(text, path), text


def _promoted_image(target: ImagePin, source: ImagePin) -> ImagePin:
    """The target keeps its own registry; it takes the source's digest (images are promoted by digest)."""
    if source.digest is None or source.digest == NO_IMAGE_DIGEST:
        return target
    return replace(target, digest=source.digest, new_tag=None)


def _registered(services: Services, pin: ModelPin) -> RegisteredVersion:
    try:
        return services.registry.get(pin.name, pin.version)  # type: ignore[arg-type]
    except ModelNotFoundError as error:
        raise PromotionError(
            f"{pin.describe()} is not in the registry at {services.registry.registry_uri}"
        ) from error


def _before_last_change(checkout: Checkout, path: str) -> tuple[str | None, str]:
    """The file's content before the last first-parent commit that changed it, and that commit."""
    commits = git(["log", "--first-parent", "--format=%H", "-n", "1", "--", path], cwd=checkout.path).split()
    if not commits:
        return None, ""
    shown = git(["show", f"{commits[0]}^1:{path}"], cwd=checkout.path, check=False)  # "" if it did not exist
    return (shown + "\n" if shown else None), commits[0]


def _body(title: str, env: str, old_model: ModelPin, new_model: ModelPin, old_image: ImagePin,
          new_image: ImagePin, version: RegisteredVersion) -> str:  # fmt: skip
    lines = [f"## {title}", "", "| | now | after merge |", "|---|---|---|",
             f"| model | {old_model.describe()} | {new_model.describe()} |",
             f"| image | `{old_image.reference}` | `{new_image.reference}` |", "", _version_facts(version), ""]  # fmt: skip
    if new_image.digest and new_image.digest != old_image.digest:
        lines.append(
            f"The image digest must exist in {env}'s registry (`az acr import` it if it was built elsewhere)."
        )
    lines.append(f"Requested by {_requester()}. Rollback: `python -m training rollback --env {env}`.")
    return "\n".join(lines)


def _version_facts(version: RegisteredVersion) -> str:
    metrics = version.metrics
    shown = ", ".join(
        f"{key} {metrics[key]:.4g}" for key in ("rmse_log", "mape", "interval_coverage") if key in metrics
    )
    return "\n".join([
        f"- {version.name} v{version.version}: {shown or 'no metrics recorded'}",
        f"- Produced by training run `{version.run_id}`, git commit `{version.tags.get('git_commit', 'unknown')}`",
        f"- Data fingerprint `{version.tags.get('data_fingerprint', 'unknown')}`, artifact sha256 `{version.sha256}`",
    ])  # fmt: skip


def _requester() -> str:
    """Who asked: the pipeline's requester in Azure DevOps, else the local user."""
    return os.environ.get("BUILD_REQUESTEDFOR") or os.environ.get("GITHUB_ACTOR") or getpass.getuser()
