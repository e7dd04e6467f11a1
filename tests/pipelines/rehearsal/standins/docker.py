"""Stand-in for docker (on hosted agents): builds nothing, but checks the Dockerfile and context exist, that
a push goes to a registry ``az acr login`` authenticated, and answers ``inspect`` with the pushed digest."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from common import RefusedError, option, read_json, run, write_json


def main(argv: list[str], details: dict) -> int:
    command = argv[0] if argv else ""
    if command == "build":
        return _build(argv[1:])
    if command == "push":
        return _push(argv[1])
    if command == "inspect":
        return _inspect(argv)
    raise RefusedError(f"the rehearsal's docker does not model `docker {command}`")


def _build(argv: list[str]) -> int:
    dockerfile, tag = option(argv, "-f", "--file"), option(argv, "-t", "--tag")
    context = argv[-1]
    if not Path(context).is_dir():
        raise RefusedError(f"unable to prepare context: path {context!r} not found")
    if dockerfile and not Path(dockerfile).is_file():
        raise RefusedError(f"failed to read dockerfile: open {dockerfile}: no such file or directory")
    if not tag:
        raise RefusedError("the rehearsal expects every build to be tagged (-t)")
    images = read_json("docker-images.json", {})
    images[tag] = {"pushed": None}
    write_json("docker-images.json", images)
    return 0


def _registry_auths() -> dict:
    path = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
    return json.loads(path.read_text()).get("auths", {}) if path.is_file() else {}


def _push(tag: str) -> int:
    images = read_json("docker-images.json", {})
    if tag not in images:
        raise RefusedError(f"An image does not exist locally with the tag: {tag}")
    host = tag.split("/", 1)[0]
    if host not in _registry_auths():
        raise RefusedError(
            f"unauthorized: authentication required ({host}: run `az acr login --name {host.split('.')[0]}`)"
        )
    digest = "sha256:" + hashlib.sha256(tag.encode()).hexdigest()
    images[tag]["pushed"] = digest
    write_json("docker-images.json", images)
    repository = tag.rsplit(":", 1)[0]
    pushed = read_json("acr.json", {})
    pushed.setdefault(repository, []).append(digest)
    write_json("acr.json", pushed)
    return 0


def _inspect(argv: list[str]) -> int:
    tag = argv[-1]
    image = read_json("docker-images.json", {}).get(tag)
    if not image:
        raise RefusedError(f"Error: No such object: {tag}")
    if "RepoDigests" in (option(argv, "--format", "-f") or ""):
        if not image["pushed"]:
            raise RefusedError(
                "template: :1:2: error calling index: index out of range: 0 (the image was never pushed)"
            )
        print(f"{tag.rsplit(':', 1)[0]}@{image['pushed']}")
        return 0
    raise RefusedError("the rehearsal's docker inspect answers --format '{{index .RepoDigests 0}}' only")


if __name__ == "__main__":
    run("docker", main)
