"""Every pipeline rehearsed: run on a fresh clone with the cloud CLIs stood in, the calls checked in order.

See tests/pipelines/rehearsal/ and the "Rehearsal" section of .pipelines/README.md for what is real and
what is stood in. Each test names the pipeline and the situation; the transcripts list, in order, who
(which service connection's login) ran what.
"""

from __future__ import annotations

import pytest

from model_contract.pins import NO_IMAGE_DIGEST
from tests.conftest import REPO_ROOT
from tests.pipelines.pipeline_files import pipeline_files
from tests.pipelines.rehearsal.organization import SUBSCRIPTIONS
from tests.pipelines.rehearsal.scenarios import (
    ABORTED_CANARY,
    BLOCKED_BY_WINDOW,
    aborted_canary,
    argo_application,
    prod_cluster,
)

REHEARSED = {
    "ci.yml", "prepare-data.yml", "train-evaluate-register.yml", "build-image.yml", "deploy-dev.yml",
    "delete-dev.yml", "deploy-qa.yml", "promote-prod.yml", "deploy-prod.yml", "fast-path-sklearn.yml",
}  # fmt: skip
PULUMI_UP = "pulumi up --stack {} --refresh --yes --non-interactive --diff --policy-pack infra/policies"
# Argo CD answers at once in the deploy-prod scenarios: a verdict not read on the first poll is a regression,
# and with no time to wait it shows as `timeout` instead of a run polling for 30 minutes.
NO_WAITING = {"timeoutSeconds": 0}
PINNED_DEV = {
    "gitops/apps/estimation-engine/overlays/dev/model.env": "MODEL_NAME=ames-price\nMODEL_VERSION=3\n"
}


def test_every_pipeline_has_a_rehearsal():
    assert {path.name for path in pipeline_files()} == REHEARSED


def _succeeded(run) -> None:
    assert run.result == "Succeeded", run.log()


def _index(lines: list[str], fragment: str) -> int:
    matches = [i for i, line in enumerate(lines) if fragment in line]
    assert len(matches) == 1, f"{fragment!r} occurs {len(matches)} times in:\n" + "\n".join(lines)
    return matches[0]


# --- dev ------------------------------------------------------------------------------------------------


def test_deploy_dev_installs_into_the_venv_pulumi_uses_then_deploys_and_smoke_tests(
    rehearse, rehearsal_session
):
    commit = rehearsal_session.source.merge("Merged PR 3: Bump ames-price to v3 in dev", PINNED_DEV)
    run = rehearse("deploy-dev.yml", source_version=commit)
    _succeeded(run)
    assert run.transcript("python", "pulumi", "az") == [
        "-: python -m venv .venv",
        "-: python -m pip install --upgrade pip",
        "-: python -m pip install -e .[training,infra,azure]",
        "price-engine-dev: az login --service-principal -u 10000000-aaaa-0000-0000-00000000d3p1 --tenant "
        "72f988bf-0000-0000-0000-0000000000aa --allow-no-subscriptions --federated-token *** --output none",
        f"price-engine-dev: az account set --subscription {SUBSCRIPTIONS['dev']}",
        "price-engine-dev: pulumi login azblob://pulumi-state?storage_account=stpriceenginestate",
        "price-engine-dev: python -c import pulumi_policy",
        "price-engine-dev: python -m infra plan --stack dev --json",
        "price-engine-dev: " + PULUMI_UP.format("dev"),
        "price-engine-dev: pulumi stack output --stack dev --json",
        "price-engine-dev: az account clear",
        "-: python -m estimation_engine smoke --url http://price-engine-dev-9u3adc.westeurope.azurecontainer.io:8080 "
        "--expect-name ames-price --expect-version 3 --wait 300",
    ]
    [up] = run.commands("pulumi", "up")
    venv = up["cwd"] + "/.venv/bin/python"
    assert up["program_python"] == venv and up["policy_python"] == [venv]
    assert up["provider_credentials"] == "oidc" and up["env"]["PULUMI_CONFIG_PASSPHRASE"] == "***"
    assert run.approvals == ["price-engine-dev"]


def test_delete_dev_reaps_with_the_dev_login_every_hour(rehearse):
    run = rehearse("delete-dev.yml", reason="Schedule")
    _succeeded(run)
    assert (
        run.transcript("python")[-1]
        == f"price-engine-dev: python -m infra reap --subscription-id {SUBSCRIPTIONS['dev']}"
    )


def test_build_image_pushes_to_the_dev_registry_and_pins_the_pushed_digest(rehearse):
    run = rehearse("build-image.yml")
    _succeeded(run)
    lines = run.transcript("az", "docker", "python")
    login, push = _index(lines, "az acr login --name crpriceenginedev"), _index(lines, "docker push")
    assert login < push and lines[push].startswith("price-engine-dev:")
    [pin] = run.commands("python", "-m", "delivery", "pin-image")
    [inspect] = run.commands("docker", "inspect")
    assert pin["argv"][-4:-2] == ["--name", "crpriceenginedev.azurecr.io/estimation-engine"]
    assert pin["argv"][-1].startswith("sha256:") and pin["env"]["SYSTEM_ACCESSTOKEN"] == "***"
    assert inspect["exit"] == 0


# --- training -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pipeline", "env"), [("train-evaluate-register.yml", "dev"), ("prepare-data.yml", "qa")]
)
def test_azure_ml_submission_runs_inside_the_environments_azure_login(rehearse, pipeline, env):
    run = rehearse(pipeline, parameters={"env": env}, reason="Manual")
    _succeeded(run)
    [submit] = run.commands("python", "-m", "training", "submit")
    assert submit["identity"] == f"price-engine-{env}"
    assert submit["env"][f"MLFLOW_TRACKING_URI_{env.upper()}"].endswith(f"mlw-price-engine-{env}-9u3adc")
    assert f"stack-outputs-{env}.json" in " ".join(submit["argv"])


def test_ci_runs_lint_and_tests_with_the_makefile(rehearse):
    run = rehearse("ci.yml", reason="PullRequest")
    _succeeded(run)
    assert run.transcript("make") == ["-: make lint", "-: make test"]


def test_the_fast_path_check_upgrades_scikit_learn_then_runs_the_equality_tests(rehearse):
    run = rehearse("fast-path-sklearn.yml", reason="Schedule")
    _succeeded(run)
    assert run.transcript("python", "make") == [
        "-: python -m venv .venv",
        "-: python -m pip install --upgrade pip",
        "-: python -m pip install -e .[training,dev]",
        "-: python -m pip install --upgrade scikit-learn",
        "-: make fast-path-equality",
    ]
    [upgrade] = [c for c in run.commands("python", "-m", "pip") if "scikit-learn" in c["argv"]]
    assert upgrade["upgraded"] == ["scikit-learn"]


# --- qa -------------------------------------------------------------------------------------------------


def test_deploy_qa_checks_the_image_is_in_qas_registry_before_pulumi_up(rehearse):
    run = rehearse("deploy-qa.yml")
    _succeeded(run)
    lines = run.transcript("python", "pulumi")
    verify = _index(lines, "python -m delivery verify-image --env qa")
    assert lines[verify].startswith("price-engine-qa:")
    assert verify < _index(lines, "pulumi up --stack qa")
    assert run.stage("promote").result == "Skipped" and run.approvals == ["price-engine-qa"]


def test_deploy_qa_deploys_nothing_when_qas_registry_lacks_the_pinned_image(rehearse):
    run = rehearse("deploy-qa.yml", scenario={"exit_codes": {"delivery verify-image": 2}})
    assert run.result == "Failed"
    assert run.commands("pulumi", "up") == [] and run.commands("python", "-m", "estimation_engine") == []


@pytest.mark.parametrize(
    ("model", "command"),
    [("dev", "promote --from dev --to qa"), ("7", "promote --from dev --to qa --model-version 7")],
)
def test_promotion_to_qa_runs_as_the_promotion_principal_with_both_registries(rehearse, model, command):
    run = rehearse("deploy-qa.yml", parameters={"model": model}, reason="Manual")
    _succeeded(run)
    assert run.stage("deploy").result == "Skipped" and run.commands("pulumi", "up") == []
    assert run.transcript("pulumi")[-4:] == [
        "price-engine-promote-qa: pulumi login azblob://pulumi-state?storage_account=stpriceenginestate",
        "price-engine-promote-qa: pulumi stack output --stack dev --json",
        "price-engine-promote-qa: pulumi login azblob://pulumi-state?storage_account=stpriceenginestate",
        "price-engine-promote-qa: pulumi stack output --stack qa --json",
    ]
    [promote] = run.commands("python", "-m", "delivery", "promote")
    assert " ".join(promote["argv"][2:]) == command and promote["identity"] == "price-engine-promote-qa"
    env = promote["env"]
    assert env["MLFLOW_TRACKING_URI_DEV"].endswith("/workspaces/mlw-price-engine-dev-9u3adc")
    assert env["MLFLOW_TRACKING_URI_QA"].endswith("/workspaces/mlw-price-engine-qa-9u3adc")
    assert env["SYSTEM_ACCESSTOKEN"] == "***" and env["GITOPS_PROVIDER"] == "azure-repos"
    assert env["AZURE_DEVOPS_ORG_URL"] == "https://dev.azure.com/contoso/"


# --- prod -----------------------------------------------------------------------------------------------


def test_promotion_to_prod_is_approved_then_runs_as_its_promotion_principal(rehearse):
    run = rehearse("promote-prod.yml", reason="Manual")
    _succeeded(run)
    assert run.approvals == ["price-engine-prod"]
    [promote] = run.commands("python", "-m", "delivery", "promote")
    assert promote["argv"][3:] == ["--from", "qa", "--to", "prod"]
    assert promote["identity"] == "price-engine-promote-prod"
    assert promote["env"]["MLFLOW_TRACKING_URI_QA"].endswith("mlw-price-engine-qa-9u3adc")
    assert promote["env"]["MLFLOW_TRACKING_URI_PROD"].endswith("mlw-price-engine-prod-9u3adc")


def _merge(
    rehearsal_session, message: str = "Merged PR 9: Promote ames-price v4 to prod (from qa)", **kwargs
) -> str:
    return rehearsal_session.source.merge(message, **kwargs)


def test_deploy_prod_reads_only_argo_cds_verdict_on_the_merged_commit(rehearse, rehearsal_session):
    commit = _merge(rehearsal_session)
    run = rehearse("deploy-prod.yml", source_version=commit,
                   scenario=prod_cluster(argo_application(commit, "Succeeded", "Healthy")))  # fmt: skip
    _succeeded(run)
    lines = run.transcript("az", "kubelogin", "kubectl", "python")
    assert lines[_index(lines, "verify-image --env prod")].startswith("price-engine-prod:")
    credentials = _index(
        lines, "az aks get-credentials --resource-group rg-price-engine-prod --name aks-price-engine-prod"
    )
    assert lines[credentials + 1 : credentials + 3] == [
        "price-engine-prod: kubelogin convert-kubeconfig --login azurecli --kubeconfig …/work/_temp/kubeconfig",
        "price-engine-prod: python .pipelines/scripts/argocd_rollout.py --application estimation-engine-prod "
        f"--namespace argocd --commit {commit} --timeout-seconds 1800 "
        "--overlay gitops/apps/estimation-engine/overlays/prod/kustomization.yaml",
    ]
    assert lines[credentials + 3 : credentials + 5] == [
        "price-engine-prod: kubelogin get-token --environment AzurePublicCloud --server-id "
        "6dae42f8-4368-4678-94ff-3960e28e3630 --login azurecli",
        "price-engine-prod: kubectl get applications.argoproj.io estimation-engine-prod --namespace argocd --output json",
    ]
    assert run.commands("python", "-m", "estimation_engine") == [], "prod is smoke-tested in the cluster"
    assert run.commands("python", "-m", "delivery", "rollback") == []


def test_a_failed_prod_sync_of_the_merged_commit_opens_the_rollback_pr(rehearse, rehearsal_session):
    commit = _merge(rehearsal_session)
    failed = argo_application(
        commit, "Failed", "Healthy", "one or more synchronization tasks completed unsuccessfully"
    )
    run = rehearse(
        "deploy-prod.yml", source_version=commit, parameters=NO_WAITING, scenario=prod_cluster(failed)
    )
    assert run.result == "Failed"
    [rollback] = run.commands("python", "-m", "delivery", "rollback")
    assert rollback["argv"][3:] == ["--env", "prod"] and rollback["identity"] == "price-engine-prod"
    assert rollback["env"]["MLFLOW_TRACKING_URI_PROD"].endswith("mlw-price-engine-prod-9u3adc")


def test_an_aborted_prod_canary_opens_the_rollback_pr_without_waiting_for_argo_cds_retries(
    rehearse, rehearsal_session
):
    """The canary analysis failed: the stable pods serve, and git must say so through the rollback PR."""
    commit = _merge(rehearsal_session)
    run = rehearse(
        "deploy-prod.yml",
        source_version=commit,
        parameters=NO_WAITING,
        scenario=prod_cluster(aborted_canary(commit)),
    )
    assert run.result == "Failed"
    [rollback] = run.commands("python", "-m", "delivery", "rollback")
    assert rollback["argv"][3:] == ["--env", "prod"] and rollback["identity"] == "price-engine-prod"
    assert ABORTED_CANARY in run.log()


def test_a_failed_rollback_is_not_rolled_back_again(rehearse, rehearsal_session):
    commit = _merge(rehearsal_session, "Merged PR 10: Roll back prod to ames-price v3 (from ames-price v4)")
    run = rehearse("deploy-prod.yml", source_version=commit, parameters=NO_WAITING,
                   scenario=prod_cluster(argo_application(commit, "Failed", "Degraded")))  # fmt: skip
    assert run.result == "Failed"
    assert run.step("python -m delivery rollback").result == "Skipped"


def test_a_merge_held_by_the_prod_sync_window_ends_with_a_warning_and_no_rollback(
    rehearse, rehearsal_session
):
    before = rehearsal_session.source.head
    commit = _merge(rehearsal_session)
    held = argo_application(commit, "Running", "Healthy", BLOCKED_BY_WINDOW, synced=before)
    run = rehearse(
        "deploy-prod.yml", source_version=commit, parameters=NO_WAITING, scenario=prod_cluster(held)
    )
    assert run.result == "SucceededWithIssues", run.log()
    assert run.commands("python", "-m", "delivery", "rollback") == []
    assert any(issue["type"] == "warning" and "sync window" in issue["message"] for issue in run.issues)


def test_no_verdict_in_time_fails_the_run_without_rolling_back(rehearse, rehearsal_session):
    before = rehearsal_session.source.head
    commit = _merge(rehearsal_session)
    run = rehearse("deploy-prod.yml", source_version=commit, parameters=NO_WAITING,
                   scenario=prod_cluster(argo_application(before, "Succeeded", "Healthy")))  # fmt: skip
    assert run.result == "Failed"
    assert run.step("python -m delivery rollback").result == "Skipped"


def test_a_prod_pin_whose_image_prods_registry_lacks_is_rolled_back_without_waiting(
    rehearse, rehearsal_session
):
    commit = _merge(rehearsal_session)
    run = rehearse(
        "deploy-prod.yml", source_version=commit, scenario={"exit_codes": {"delivery verify-image": 2}}
    )
    assert run.result == "Failed"
    assert run.commands("kubectl") == [] and len(run.commands("python", "-m", "delivery", "rollback")) == 1


def test_a_prod_merge_that_pins_no_image_yet_deploys_nothing_and_rolls_nothing_back(
    rehearse, rehearsal_session
):
    """The committed prod overlay pins the all-zero digest: the ApplicationSet creates no Application."""
    commit = _merge(rehearsal_session)
    run = rehearse("deploy-prod.yml", source_version=commit, parameters=NO_WAITING, scenario={})
    assert run.result == "SucceededWithIssues", run.log()
    assert run.commands("python", "-m", "delivery", "rollback") == []
    assert any(issue["type"] == "warning" and "pins no image yet" in issue["message"] for issue in run.issues)


def test_an_absent_prod_application_for_a_pinned_image_is_no_verdict(rehearse, rehearsal_session):
    overlay = "gitops/apps/estimation-engine/overlays/prod/kustomization.yaml"
    pinned = (REPO_ROOT / overlay).read_text().replace(NO_IMAGE_DIGEST, "sha256:" + "ab" * 32)
    commit = _merge(rehearsal_session, files={overlay: pinned})
    run = rehearse("deploy-prod.yml", source_version=commit, parameters=NO_WAITING, scenario={})
    assert run.result == "Failed"
    assert run.commands("python", "-m", "delivery", "rollback") == []
    assert "no Application estimation-engine-prod yet" in run.log()


def test_a_later_merge_synced_by_argo_cd_counts_for_this_commit(rehearse, rehearsal_session):
    commit = _merge(rehearsal_session)
    later = _merge(rehearsal_session, "Merged PR 11: Bump ames-price to v5 in dev", parent=commit)
    run = rehearse("deploy-prod.yml", source_version=commit, parameters=NO_WAITING,
                   scenario=prod_cluster(argo_application(later, "Succeeded", "Healthy")))  # fmt: skip
    _succeeded(run)
