"""One Argo CD version everywhere: the chart the stack installs, the CLI the pipelines download, the CRD
schemas the tests validate against (issue 12: chart 9.1.0 = v3.2, schemas and CLI 3.6.0 disagreed)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import yaml

from infra.argocd_release import PINNED
from infra.stack_config import REPOSITORY_ROOT, project_file

SCHEMAS = REPOSITORY_ROOT / "tests/data/schemas/argocd"
CLI_DOWNLOAD = re.compile(r"argoproj/argo-cd/releases/download/(v?[0-9][^/\s\"']*)/")
ARGOCD_VERSION_PARAMETER = "argocdVersion"


def test_the_project_default_installs_the_pinned_chart():
    assert project_file()["config"]["argocdChartVersion"]["default"] == PINNED.chart_version


def test_the_schemas_come_from_the_tag_the_chart_ships_and_match_their_checksums():
    provenance = (SCHEMAS / "PROVENANCE.md").read_text()
    assert re.search(r"tag `(v[0-9.]+)`", provenance).group(1) == PINNED.app_version
    for name, digest in re.findall(r"\| (\S+-crd\.yaml) \| ([0-9a-f]{64}) \|", provenance):
        assert hashlib.sha256((SCHEMAS / name).read_bytes()).hexdigest() == digest, name
    assert len(re.findall(r"-crd\.yaml \|", provenance)) == 3


def cli_versions(root: Path = REPOSITORY_ROOT) -> dict[str, str]:
    """Every Argo CD CLI version a pipeline file downloads or defaults to, by file."""
    found: dict[str, str] = {}
    for path in sorted((root / ".pipelines").rglob("*.yml")):
        text = path.read_text()
        document = yaml.safe_load(text) or {}
        for parameter in document.get("parameters") or [] if isinstance(document, dict) else []:
            if isinstance(parameter, dict) and parameter.get("name") == ARGOCD_VERSION_PARAMETER:
                found[f"{path.relative_to(root)}:{ARGOCD_VERSION_PARAMETER}"] = str(parameter.get("default"))
        for match in CLI_DOWNLOAD.finditer(text):
            if "${{" not in match.group(1):
                found[f"{path.relative_to(root)}:download"] = match.group(1)
    return found


def test_every_argocd_cli_the_pipelines_install_is_the_pinned_version():
    assert {
        where: version for where, version in cli_versions().items() if version != PINNED.app_version
    } == {}


def test_no_other_argocd_release_is_named_in_the_repository():
    stale = []
    for path in [*REPOSITORY_ROOT.glob("*.md"), *(REPOSITORY_ROOT / "gitops").rglob("*.md"),
                 *(REPOSITORY_ROOT / ".pipelines").rglob("*.yml"), REPOSITORY_ROOT / "Pulumi.yaml"]:  # fmt: skip
        if re.search(r"\b(v?3\.6\.0|Argo CD 3\.6|9\.1\.0)\b", path.read_text()):
            stale.append(str(path.relative_to(REPOSITORY_ROOT)))
    assert stale == []
