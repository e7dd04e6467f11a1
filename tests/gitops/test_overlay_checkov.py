"""checkov's Kubernetes policies on every rendered overlay: no failed check, and every accepted one is
skipped in the manifest itself with a written reason (``checkov.io/skipN: CKV_K8S_xx=reason``)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from model_contract.pins import ENVIRONMENTS

CHECKOV_TIMEOUT_SECONDS = 300


def checkov_binary(repo_root: Path) -> Path:
    """$CHECKOV (the Makefile sets it), else the project's own checkov environment."""
    binary = Path(os.environ.get("CHECKOV") or repo_root / ".checkov-venv" / "bin" / "checkov")
    if not binary.is_file():
        pytest.fail(f"checkov not found at {binary}: run `make .checkov-venv/.installed` or set CHECKOV")
    return binary


@pytest.fixture(scope="module")
def checkov_report(repo_root, rendered_overlays, tmp_path_factory) -> dict[str, Any]:
    """One checkov run over all overlays (it takes seconds to start, so never once per test)."""
    folder = tmp_path_factory.mktemp("rendered")
    for env, text in rendered_overlays.items():
        (folder / f"{env}.yaml").write_text(text)
    command = [
        str(checkov_binary(repo_root)),
        "--directory", str(folder),
        "--framework", "kubernetes",
        "--skip-download",
        "--output", "json",
        "--compact",
    ]  # fmt: skip
    environment = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=CHECKOV_TIMEOUT_SECONDS, env=environment, check=False
    )
    assert result.returncode in (0, 1), f"checkov crashed: {result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    [kubernetes] = [
        r for r in (report if isinstance(report, list) else [report]) if r["check_type"] == "kubernetes"
    ]
    return kubernetes


# One test, not three: under pytest-xdist each worker that runs a test of this module would start its own
# checkov (seconds of CPU), so everything about the one run is asserted here.
def test_checkov_passes_every_rendered_overlay_or_skips_with_a_written_reason(checkov_report):
    results = checkov_report["results"]
    scanned = {Path(check["file_path"]).stem for check in results["passed_checks"]}
    assert scanned == set(ENVIRONMENTS), "an overlay was not scanned: a broken render cannot pass as clean"
    assert checkov_report["summary"]["parsing_errors"] == 0

    failed = [
        f"{Path(c['file_path']).stem}: {c['check_id']} {c['check_name']} ({c['resource']})"
        for c in results["failed_checks"]
    ]
    assert failed == []

    for check in results["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "")
        assert reason != "No comment provided" and len(reason.split()) >= 5, (
            f"{check['check_id']} needs a reason"
        )
