"""Pin-image: the build pipeline's write-back of a new engine image, by pull request (by digest in qa and
prod)."""

from __future__ import annotations

from delivery.pin_change import IMAGE_PURPOSE, PinChange, PinChangeResult, propose
from delivery.pin_requests import PromotionError, read_pins, requester
from delivery.services import Services
from model_contract.pins import image_pin_from_entry, kustomization_path, replace_image_pin

DIGEST_REQUIRED = ("qa", "prod")


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
        pins = read_pins(checkout, env)
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
    body = f"## {title}\n\nWas: `{current.reference}`.\n\nRequested by {requester()}."
    change = PinChange(
        env, IMAGE_PURPOSE, {path: replace_image_pin(text, wanted, path)}, {path: text}, title, body, title
    )
    return propose(change, services.remote, services.provider, services.preview)
