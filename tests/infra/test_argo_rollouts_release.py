"""One Argo Rollouts version everywhere: the chart the stack installs (with its CRDs) and the CRD schemas the
tests validate prod's Rollout and AnalysisTemplates against. And one pinned Prometheus chart."""

from __future__ import annotations

import hashlib
import re

from infra.argo_rollouts_release import PINNED, RELEASES
from infra.prometheus_release import PINNED as PROMETHEUS
from infra.stack_config import REPOSITORY_ROOT, project_file

SCHEMAS = REPOSITORY_ROOT / "tests/data/schemas/argo-rollouts"


def test_the_project_default_installs_the_pinned_charts():
    config = project_file()["config"]
    assert config["argoRolloutsChartVersion"]["default"] == PINNED.chart_version
    assert config["prometheusChartVersion"]["default"] == PROMETHEUS.chart_version


def test_the_rollout_schemas_come_from_the_tag_the_chart_ships_and_match_their_checksums():
    provenance = (SCHEMAS / "PROVENANCE.md").read_text()
    assert re.search(r"tag `(v[0-9.]+)`", provenance).group(1) == PINNED.app_version
    listed = re.findall(r"\| (\S+-crd\.yaml) \| ([0-9a-f]{64}) \|", provenance)
    assert sorted(name for name, _ in listed) == sorted(path.name for path in SCHEMAS.glob("*-crd.yaml"))
    for name, digest in listed:
        assert hashlib.sha256((SCHEMAS / name).read_bytes()).hexdigest() == digest, name


def test_the_pins_name_the_charts_release_tags():
    for release in RELEASES.values():
        assert f"argo-rollouts-{release.chart_version}/" in release.source
    assert f"prometheus-{PROMETHEUS.chart_version}/" in PROMETHEUS.source


def test_no_other_argo_rollouts_version_is_named_in_the_repository():
    """Docs and pipelines that name an Argo Rollouts version name the pinned one."""
    stale = []
    for path in [*REPOSITORY_ROOT.glob("*.md"), *(REPOSITORY_ROOT / "gitops").rglob("*.md"),
                 *(REPOSITORY_ROOT / "gitops").rglob("*.yaml"), REPOSITORY_ROOT / "Pulumi.yaml"]:  # fmt: skip
        for version in re.findall(r"Argo Rollouts (v?\d+\.\d+(?:\.\d+)?)", path.read_text()):
            if not PINNED.app_version.lstrip("v").startswith(version.lstrip("v")):
                stale.append(f"{path.relative_to(REPOSITORY_ROOT)}: {version}")
    assert stale == []
