"""The rehearsal catches the mistakes that would fail on first contact with Azure.

Each test merges a broken variant of a pipeline (or of the file a pipeline depends on) into the rehearsal's
remote, runs it, and checks that the run fails where, and for the reason, the real service would. The
broken variants are the mistakes the pipelines made before (issue 12), so none of them can come back
unnoticed: a rehearsal that let one pass would fail here.
"""

from __future__ import annotations

from pathlib import Path

from tests.pipelines.pipeline_files import REPO_ROOT
from tests.pipelines.rehearsal.scenarios import argo_application, prod_cluster

# Before issue 12: the repository installed into the agent's interpreter, not into Pulumi's virtualenv.
AGENT_PYTHON_INSTALL = """\
parameters:
  - name: extras
    type: string
    default: training,infra,azure
steps:
  - task: UsePythonVersion@0
    inputs:
      versionSpec: "3.11"
  - script: |
      set -euo pipefail
      python -m pip install --upgrade pip
      python -m pip install -e ".[${{ parameters.extras }}]"
    displayName: Install the repository (${{ parameters.extras }})
"""
PINNED_PROD = {
    "gitops/apps/estimation-engine/overlays/prod/model.env": "MODEL_NAME=ames-price\nMODEL_VERSION=4\n"
}


def _text(path: str) -> str:
    return (REPO_ROOT / path).read_text()


def _replaced(path: str, old: str, new: str) -> dict[str, str]:
    text = _text(path)
    assert old in text, f"{path} no longer holds {old!r}: update this test's mutation"
    return {path: text.replace(old, new)}


def _refusals(run, tool: str) -> list[str]:
    return [call["refused"] for call in run.calls if call["tool"] == tool and "refused" in call]


def test_item_1_pulumi_cannot_import_its_program_when_the_repository_went_into_the_agents_python(
    rehearse, rehearsal_session
):
    commit = rehearsal_session.source.merge(
        "Install into the agent's Python",
        {".pipelines/templates/steps/setup-python.yml": AGENT_PYTHON_INSTALL},
    )
    run = rehearse("deploy-dev.yml", source_version=commit)
    assert run.step("dev stack").result == "Failed"
    [refusal] = _refusals(run, "pulumi")
    assert "No module named 'pulumi" in refusal  # the pack (pulumi_policy) or the program (pulumi) first
    [created] = run.commands("python", "-m", "venv")
    assert created["argv"][-1].endswith("/work/1/s/.venv"), "Pulumi made the empty virtualenv itself"


def test_item_1_a_virtualenv_option_naming_another_folder_than_the_pipelines_venv_fails(
    rehearse, rehearsal_session
):
    commit = rehearsal_session.source.merge(
        "Rename the venv", _replaced("Pulumi.yaml", "virtualenv: .venv", "virtualenv: venv")
    )
    run = rehearse("deploy-dev.yml", source_version=commit)
    [refusal] = _refusals(run, "pulumi")
    assert "No module named 'pulumi'" in refusal
    assert run.commands("python", "-m", "venv")[-1]["argv"][-1].endswith("/work/1/s/venv"), (
        "Pulumi made an empty venv/"
    )


def test_item_1_a_policy_pack_virtualenv_resolved_against_the_wrong_folder_fails(rehearse, rehearsal_session):
    commit = rehearsal_session.source.merge(
        "Policy venv next to the pack",
        _replaced("infra/policies/PulumiPolicy.yaml", "virtualenv: ../../.venv", "virtualenv: .venv"),
    )
    run = rehearse("deploy-qa.yml", source_version=commit)
    [refusal] = _refusals(run, "pulumi")
    assert "infra/policies/.venv\" doesn't appear to be a virtual environment" in refusal


def test_item_4_azure_ml_submission_outside_an_azure_login_fails(rehearse, rehearsal_session):
    pipeline = ".pipelines/train-evaluate-register.yml"
    text = _text(pipeline)
    start = text.index("      - task: AzureCLI@2\n        displayName: python -m training submit")
    end = text.index("          inlineScript: |\n", start) + len("          inlineScript: |\n")
    as_script = text[:start] + "      - script: |\n" + text[end:].replace("            ", "          ", 8)
    commit = rehearsal_session.source.merge("Submit without a login", {pipeline: as_script})
    run = rehearse("train-evaluate-register.yml", source_version=commit, reason="Manual")
    [refusal] = [r for r in _refusals(run, "python") if "submit" in r]
    assert "AzureCliCredential" in refusal and "az login" in refusal


def test_promotion_in_a_plain_script_step_has_no_azure_context(rehearse, rehearsal_session):
    pipeline = ".pipelines/deploy-qa.yml"
    before = """          - task: AzureCLI@2
            displayName: python -m delivery promote --to qa (${{ parameters.model }})
            inputs:
              azureSubscription: price-engine-promote-qa
              scriptType: bash
              scriptLocation: inlineScript
              inlineScript: |
                set -euo pipefail
                if [ "${{ parameters.model }}" = "dev" ]; then
                  python -m delivery promote --from dev --to qa
                else
                  python -m delivery promote --from dev --to qa --model-version "${{ parameters.model }}"
                fi
"""
    after = """          - script: |
              set -euo pipefail
              python -m delivery promote --from dev --to qa
            displayName: python -m delivery promote --to qa
"""
    commit = rehearsal_session.source.merge("Promote in a script", _replaced(pipeline, before, after))
    run = rehearse("deploy-qa.yml", parameters={"model": "dev"}, source_version=commit, reason="Manual")
    assert run.job("promote").result == "Failed"
    assert "AzureCliCredential" in _refusals(run, "python")[0]


def test_item_5_an_in_cluster_url_cannot_be_smoke_tested_from_a_hosted_agent(rehearse, rehearsal_session):
    pipeline = ".pipelines/deploy-prod.yml"
    smoke = "      - template: templates/steps/smoke-test.yml\n        parameters:\n          env: prod\n"
    files = _replaced(
        pipeline,
        "      # Build.SourceVersionMessage exists",
        smoke + "      # Build.SourceVersionMessage exists",
    )
    commit = rehearsal_session.source.merge("Smoke prod from the agent", {**files, **PINNED_PROD})
    run = rehearse("deploy-prod.yml", source_version=commit)
    assert run.step("Smoke test prod").result == "Failed"
    [refusal] = _refusals(run, "python")
    assert "estimation-engine.estimation-engine.svc.cluster.local" in refusal and "hosted agent" in refusal


def test_item_5_the_argocd_cli_in_core_mode_needs_more_than_reading_applications(rehearse, rehearsal_session):
    pipeline = ".pipelines/deploy-prod.yml"
    files = {
        **_replaced(
            pipeline,
            "python .pipelines/scripts/argocd_rollout.py",
            "argocd app get estimation-engine-prod --core -o json; python .pipelines/scripts/argocd_rollout.py",
        ),
        ".pipelines/templates/steps/install-cluster-tools.yml": _text(
            ".pipelines/templates/steps/install-cluster-tools.yml"
        )
        + '  - script: |\n      set -euo pipefail\n      mkdir -p "$(Agent.ToolsDirectory)/argocd"\n'
        '      curl -fsSL -o "$(Agent.ToolsDirectory)/argocd/argocd" '
        '"https://github.com/argoproj/argo-cd/releases/download/v3.4.4/argocd-linux-amd64"\n'
        '      chmod +x "$(Agent.ToolsDirectory)/argocd/argocd"\n'
        '      echo "##vso[task.prependpath]$(Agent.ToolsDirectory)/argocd"\n',
    }
    commit = rehearsal_session.source.merge("argocd --core", files)
    run = rehearse(
        "deploy-prod.yml",
        source_version=commit,
        scenario=prod_cluster(argo_application(commit, "Succeeded", "Healthy")),
    )
    [refusal] = _refusals(run, "argocd")
    assert 'configmaps "argocd-cm" is forbidden' in refusal


def test_an_argocd_cli_other_than_the_charts_release_is_not_found(rehearse, rehearsal_session):
    install = (
        '  - script: curl -fsSL -o "$(Agent.TempDirectory)/argocd" '
        '"https://github.com/argoproj/argo-cd/releases/download/v3.6.0/argocd-linux-amd64"\n'
    )
    path = ".pipelines/templates/steps/install-cluster-tools.yml"
    commit = rehearsal_session.source.merge("argocd 3.6.0", {path: _text(path) + install})
    run = rehearse("deploy-prod.yml", source_version=commit)
    assert "404" in _refusals(run, "curl")[0]


def test_a_kubeconfig_left_on_device_code_login_would_hang_the_agent(rehearse, rehearsal_session):
    pipeline = ".pipelines/deploy-prod.yml"
    commit = rehearsal_session.source.merge(
        "No kubelogin conversion",
        _replaced(
            pipeline, 'kubelogin convert-kubeconfig --login azurecli --kubeconfig "$KUBECONFIG"', "true"
        ),
    )
    run = rehearse(
        "deploy-prod.yml",
        source_version=commit,
        scenario=prod_cluster(argo_application(commit, "Succeeded", "Healthy")),
    )
    assert run.result == "Failed", run.log()
    assert "devicecode waits for a person" in _refusals(run, "kubelogin")[0]


def test_workload_identity_login_has_no_token_file_on_an_agent(rehearse, rehearsal_session):
    pipeline = ".pipelines/deploy-prod.yml"
    commit = rehearsal_session.source.merge(
        "kubelogin workloadidentity",
        _replaced(pipeline, "--login azurecli --kubeconfig", "--login workloadidentity --kubeconfig"),
    )
    run = rehearse(
        "deploy-prod.yml",
        source_version=commit,
        scenario=prod_cluster(argo_application(commit, "Succeeded", "Healthy")),
    )
    assert "AZURE_FEDERATED_TOKEN_FILE" in _refusals(run, "kubelogin")[0]


PROBE = """\
trigger: none
stages:
  - stage: guarded
    condition: not(contains(variables['Build.SourceVersionMessage'], 'Roll back prod'))
    jobs:
      - job: guard
        steps:
          - script: echo step-level message is "$(Build.SourceVersionMessage)"
            condition: contains(variables['Build.SourceVersionMessage'], 'Roll back prod')
            displayName: step-level guard
"""


def test_build_source_version_message_is_empty_in_a_stage_condition_and_set_in_a_step(
    rehearse, rehearsal_session
):
    """Why the old rollback guard (a stage condition on the commit message) never fired."""
    commit = rehearsal_session.source.merge(
        "Merged PR 12: Roll back prod to ames-price v3", {".pipelines/probe.yml": PROBE}
    )
    run = rehearse("probe.yml", source_version=commit)
    assert run.stage("guarded").result == "Succeeded", "the stage condition saw an empty message"
    step = run.step("step-level guard")
    assert step.result == "Succeeded" and "Roll back prod" in step.output


def test_a_deployment_job_without_checkout_has_no_sources(rehearse, rehearsal_session):
    pipeline = ".pipelines/deploy-dev.yml"
    commit = rehearsal_session.source.merge(
        "No checkout", _replaced(pipeline, "                - checkout: self\n", "")
    )
    run = rehearse("deploy-dev.yml", source_version=commit)
    assert run.step("Install the repository").result == "Failed"
    assert "is not a local project" in _refusals(run, "python")[0]


def test_the_stand_ins_refuse_what_they_do_not_model():
    """A new command must be modelled before a pipeline relies on it, never silently answered."""
    sources = "".join(
        path.read_text() for path in (Path(__file__).parent / "rehearsal" / "standins").glob("*.py")
    )
    assert sources.count("does not model") >= 8
