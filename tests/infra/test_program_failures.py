"""The program refuses broken inputs before declaring anything, naming the file or key to fix."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.cli import main
from infra.overlay import OverlayError
from infra.plan import build_plan
from infra.stack_config import REPOSITORY_ROOT
from tests.infra.conftest import FIXED_NOW, FIXTURES, REQUIRED_BY_STACK


@pytest.fixture
def gitops_copy(tmp_path) -> Path:
    shutil.copytree(FIXTURES / "gitops", tmp_path / "gitops")
    return tmp_path


def overlay(root: Path, env: str) -> Path:
    return root / "gitops/apps/estimation-engine/overlays" / env


def test_a_missing_pin_file_fails_the_aci_program_naming_the_path(gitops_copy):
    (overlay(gitops_copy, "qa") / "model.env").unlink()
    with pytest.raises(OverlayError, match=r"overlays/qa/model.env: missing"):
        build_plan("qa", clock=lambda: FIXED_NOW, gitops_root=gitops_copy)


def test_a_malformed_pin_fails_the_program_naming_the_path_and_problem(gitops_copy):
    (overlay(gitops_copy, "dev") / "model.env").write_text("MODEL_NAME=ames-price\nMODEL_VERSION=v7\n")
    with pytest.raises(OverlayError, match=r"overlays/dev/model.env: MODEL_VERSION 'v7'"):
        build_plan("dev", clock=lambda: FIXED_NOW, gitops_root=gitops_copy)


def test_a_registry_name_in_mixed_case_accepts_the_overlay_s_lower_case_host(gitops_copy):
    shutil.copy(REPOSITORY_ROOT / "Pulumi.yaml", gitops_copy)
    shutil.copytree(REPOSITORY_ROOT / "environments", gitops_copy / "environments")
    stack_file = gitops_copy / "environments/Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace(": crpriceenginedev", ": CrPriceEngineDev"))
    plan = build_plan("dev", clock=lambda: FIXED_NOW, gitops_root=gitops_copy, config_root=gitops_copy)
    assert any(resource.type.endswith("ContainerGroup") for resource in plan.resources)


def test_an_image_from_another_registry_is_refused(gitops_copy):
    path = overlay(gitops_copy, "dev") / "kustomization.yaml"
    path.write_text(path.read_text().replace("crpriceenginedev.azurecr.io", "docker.io/someone"))
    with pytest.raises(OverlayError, match=r"not in this stack's registry crpriceenginedev.azurecr.io"):
        build_plan("dev", clock=lambda: FIXED_NOW, gitops_root=gitops_copy)


def test_prod_needs_the_argocd_objects(gitops_copy):
    (gitops_copy / "gitops/argocd/applicationset.yaml").unlink()
    with pytest.raises(ValueError, match=r"gitops/argocd/applicationset.yaml: missing"):
        build_plan(
            "prod", clock=lambda: FIXED_NOW, gitops_root=gitops_copy, config_values=REQUIRED_BY_STACK["prod"]
        )


def test_a_prod_overlay_from_another_registry_is_refused_too(gitops_copy):
    """Promotion names B's registry by the overlay's host: the invariant holds for the AKS stack as well."""
    path = overlay(gitops_copy, "prod") / "kustomization.yaml"
    path.write_text(path.read_text().replace("crpriceengineprod.azurecr.io", "crsomeoneelse.azurecr.io"))
    with pytest.raises(OverlayError, match=r"not in this stack's registry crpriceengineprod.azurecr.io"):
        build_plan(
            "prod", clock=lambda: FIXED_NOW, gitops_root=gitops_copy, config_values=REQUIRED_BY_STACK["prod"]
        )


def test_plan_on_a_fresh_clone_names_what_prod_still_needs(capsys):
    assert main(["plan", "--stack", "prod"]) == 2
    assert "repositoryUrl: the placeholder" in capsys.readouterr().err
    url = REQUIRED_BY_STACK["prod"]["repositoryUrl"]
    assert main(["plan", "--stack", "prod", "-c", f"repositoryUrl={url}"]) == 0


def test_cli_reports_every_refused_setting_on_its_own_error_line(capsys):
    assert (
        main(["plan", "--stack", "dev", "-c", "aksTier=free", "-c", "computeMaxNodes=two", "-c", "oops"]) == 2
    )
    assert capsys.readouterr().err.splitlines() == [
        "error: --config: 'oops' is not KEY=VALUE; allowed: KEY=VALUE, e.g. repositoryUrl=https://..."
    ]
    assert main(["plan", "--stack", "dev", "-c", "aksTier=free", "-c", "computeMaxNodes=two"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: property-price-platform:computeMaxNodes: 'two' is not an integer; allowed: an integer of at least 1",
        "error: property-price-platform:aksTier: 'free' is not one of the choices; allowed: one of Free, Standard, Premium",
    ]


def test_cli_reports_errors_without_a_traceback(gitops_copy, capsys):
    (overlay(gitops_copy, "qa") / "model.env").write_text("garbage\n")
    assert main(["plan", "--stack", "qa", "--gitops-root", str(gitops_copy)]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["plan", "--stack", "staging"]) == 2


def test_cli_tree_lists_components_and_outputs(capsys):
    assert (
        main(
            [
                "plan",
                "--stack",
                "prod",
                "--gitops-root",
                str(FIXTURES),
                "--config-file",
                str(FIXTURES / "config/prod.yaml"),
            ]
        )
        == 0
    )
    tree = capsys.readouterr().out
    assert tree.startswith("stack prod: ")
    assert "argocd-release (kubernetes:helm.sh/v3:Release)" in tree
    assert "kubeconfig: [secret]" in tree


def test_python_dash_m_infra_runs_the_commands_and_explains_itself_without_one():
    plan = subprocess.run(
        [sys.executable, "-m", "infra", "plan", "--stack", "qa", "--json", "--gitops-root", str(FIXTURES)],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["stack"] == "qa"
    bare = subprocess.run(
        [sys.executable, "-m", "infra"],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bare.returncode == 2
    assert "pulumi up --stack <env>" in bare.stderr
