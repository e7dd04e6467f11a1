"""The on-disk cache of downloaded model versions, keyed by registry, name and version.

An entry is written only after the registry's download verified the artifact against the registered
sha256, and it records that sha256 and the registry's record of the version (run, metrics, signature) in
``manifest.json``. Whether a later start trusts that record or asks the registry again is the loader's
choice (``ENGINE_CACHE_TRUST``); either way the folder is re-hashed before it is loaded, so a corrupted or
edited cache entry is never served.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from model_contract.registry import RegisteredVersion

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
ARTIFACT = "artifact"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class CachedVersion:
    """A cached artifact folder and the registry record it was verified against when downloaded."""

    artifact_dir: Path
    record: RegisteredVersion


class ModelCache:
    """One folder per (registry URI, model name, version)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def entry(self, registry_uri: str, name: str, version: int) -> Path:
        registry_key = hashlib.sha256(registry_uri.encode()).hexdigest()[:16]
        return self.root / f"{_UNSAFE.sub('_', name)}-v{version}-{registry_key}"

    def lookup(self, registry_uri: str, name: str, version: int) -> CachedVersion | None:
        entry = self.entry(registry_uri, name, version)
        try:
            manifest = json.loads((entry / MANIFEST).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            log.warning("model cache entry %s is unreadable (%s): ignoring it", entry, error)
            return None
        if (manifest.get("registry_uri"), manifest.get("name"), manifest.get("version")) != (
            registry_uri,
            name,
            version,
        ) or not (entry / ARTIFACT).is_dir():
            log.warning("model cache entry %s does not match its key: ignoring it", entry)
            return None
        record = RegisteredVersion(
            name=name,
            version=version,
            source=str(manifest.get("source", "")),
            run_id=manifest.get("run_id"),
            tags=dict(manifest.get("tags", {})),
        )
        return CachedVersion(entry / ARTIFACT, record)

    def store(self, registry_uri: str, record: RegisteredVersion, verified_artifact: Path) -> CachedVersion:
        """Record a verified download; ``verified_artifact`` must already be the entry's artifact folder."""
        entry = self.entry(registry_uri, record.name, record.version)
        manifest = {
            "registry_uri": registry_uri,
            "name": record.name,
            "version": record.version,
            "source": record.source,
            "run_id": record.run_id,
            "tags": dict(record.tags),
        }
        _write_atomically(entry / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
        return CachedVersion(verified_artifact, record)

    def evict(self, registry_uri: str, name: str, version: int) -> None:
        shutil.rmtree(self.entry(registry_uri, name, version), ignore_errors=True)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".manifest-", dir=path.parent)
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
    Path(temporary).replace(path)
