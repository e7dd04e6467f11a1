"""The Azure DevOps pipelines under .pipelines/: schema-valid, templates resolving, every command real.

Schema: tests/data/schemas/azure-pipelines/service-schema.json (see its PROVENANCE.md). Azure Pipelines
reads every YAML scalar as a string, so files are loaded that way (``yaml.BaseLoader``) and the schema's
few JSON-typed task inputs accept the spellings the service accepts (``true``/``false``, digits).
"""

from __future__ import annotations

import json
import re
from functools import cache

import jsonschema
import pytest
import yaml
from jsonschema import validators

from tests.pipelines.pipeline_files import (
    REPO_ROOT,
    TemplateError,
    expand,
    load,
    pipeline_files,
    scripts,
    template_files,
    template_kind,
)
from tests.pipelines.shell_commands import DYNAMIC, check, commands

SCHEMA_FILE = REPO_ROOT / "tests" / "data" / "schemas" / "azure-pipelines" / "service-schema.json"
ALL_FILES = pipeline_files() + template_files()
EXPECTED_PIPELINES = {
    "ci.yml", "prepare-data.yml", "train-evaluate-register.yml", "build-image.yml", "deploy-dev.yml",
    "delete-dev.yml", "deploy-qa.yml", "promote-prod.yml", "deploy-prod.yml", "fast-path-sklearn.yml",
}  # fmt: skip


def _loose_boolean(checker, value) -> bool:
    return isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false"))


def _loose_number(checker, value) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int | float) or (
        isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value) is not None
    )


@cache
def validator_for(definition: str | None) -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    if definition is not None:
        schema = {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}
    types = jsonschema.Draft7Validator.TYPE_CHECKER.redefine("boolean", _loose_boolean)
    types = types.redefine("number", _loose_number).redefine("integer", _loose_number)
    return validators.extend(jsonschema.Draft7Validator, type_checker=types)(schema)


TEMPLATE_EXPRESSION = re.compile(r"\$\{\{[^}]*\}\}")


def _placeholders(value):
    """Template expressions replaced by a plain word: the service expands them before it validates."""
    if isinstance(value, dict):
        return {_placeholders(k): _placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_placeholders(item) for item in value]
    return TEMPLATE_EXPRESSION.sub("expanded", value) if isinstance(value, str) else value


def schema_errors(path) -> list[str]:
    document = yaml.load(path.read_text(), Loader=yaml.BaseLoader)
    is_template = path.is_relative_to(REPO_ROOT / ".pipelines" / "templates")
    if is_template:
        document = _placeholders(document)
    validator = validator_for(f"{template_kind(document)}Template" if is_template else None)
    best = jsonschema.exceptions.best_match(validator.iter_errors(document))
    return [] if best is None else [f"{list(best.absolute_path)}: {best.message[:300]}"]


def commands_of(path) -> list[tuple[str, list[str]]]:
    """(where, words) of every command a pipeline runs, its templates and scripts included."""
    found = []
    for script in scripts(expand(path), path.name):
        for words in commands(script.text):
            found.append((script.source, words))
            if words[0] == "bash" and len(words) > 1 and (REPO_ROOT / words[1]).is_file():
                found += [(words[1], inner) for inner in commands((REPO_ROOT / words[1]).read_text())]
    return found


def runs(path, *prefix: str) -> bool:
    return any(words[: len(prefix)] == list(prefix) for _, words in commands_of(path))


def test_the_delivery_pipelines_of_the_template_all_exist():
    assert {path.name for path in pipeline_files()} == EXPECTED_PIPELINES


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(REPO_ROOT / ".pipelines")))
def test_every_file_validates_against_the_azure_pipelines_schema(path):
    assert schema_errors(path) == []


def test_the_schema_check_catches_a_misspelt_key_and_a_bad_task_input(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(
        (REPO_ROOT / ".pipelines" / "ci.yml").read_text().replace("timeoutInMinutes", "timeoutMinutes")
    )
    assert schema_errors(bad)
    bad.write_text(
        (REPO_ROOT / ".pipelines" / "delete-dev.yml")
        .read_text()
        .replace("scriptType: bash", "scriptType: zsh")
    )
    assert schema_errors(bad)


@pytest.mark.parametrize("path", pipeline_files(), ids=lambda p: p.name)
def test_every_template_reference_resolves_with_declared_parameters(path):
    expand(path)  # raises TemplateError naming the file, template and parameter


def test_every_template_is_used_by_a_pipeline():
    used: set = set()
    for path in pipeline_files():
        expand(path, used=used)
    assert {p.relative_to(REPO_ROOT) for p in template_files()} - {
        p.relative_to(REPO_ROOT) for p in used
    } == set()


def test_a_missing_template_or_an_undeclared_parameter_is_reported(tmp_path, monkeypatch):
    from tests.pipelines import pipeline_files as module

    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "t.yml").write_text(
        "parameters:\n  - name: env\n    type: string\nsteps:\n  - script: echo ${{ parameters.env }}\n"
    )
    monkeypatch.setattr(module, "REPO_ROOT", tmp_path)
    pipeline = tmp_path / "p.yml"
    pipeline.write_text("steps:\n  - template: templates/nope.yml\n")
    with pytest.raises(TemplateError, match="does not exist"):
        expand(pipeline)
    pipeline.write_text("steps:\n  - template: templates/t.yml\n    parameters: {stack: dev}\n")
    with pytest.raises(TemplateError, match="no parameter"):
        expand(pipeline)
    pipeline.write_text("steps:\n  - template: templates/t.yml\n")
    with pytest.raises(TemplateError, match="'env' is required"):
        expand(pipeline)
    pipeline.write_text("steps:\n  - template: templates/t.yml\n    parameters: {env: qa}\n")
    assert [s.text for s in scripts(expand(pipeline), "p")] == ["echo qa"]


@pytest.mark.parametrize("path", pipeline_files(), ids=lambda p: p.name)
def test_every_script_step_calls_a_command_that_exists(path):
    problems = [f"{where}: {problem}" for where, words in commands_of(path) for problem in check(words)]
    assert problems == []


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ("python -m training deploy --env dev", "no subcommand 'deploy'"),
        # The one-release alias of a command that moved to delivery: pipelines call delivery itself.
        ("python -m training promote --from dev --to qa", "no subcommand 'promote'"),
        ("python -m delivery promote --to qa --version 7", "no option --version"),
        ("python -m delivery promote --from dev", "required option --to is missing"),
        ("python -m delivery rollback", "required option --env is missing"),
        ("python -m training submit --env staging", "--env staging: not one of"),
        ("python -m estimation_engine smoke --expect-version 3", "required option --url is missing"),
        ("python -m infra destroy", "no subcommand 'destroy'"),
        ("python -m notours run", "not a command module"),
        ("make deploy", "no make target 'deploy'"),
        ("bash .pipelines/scripts/nope.sh", "no script"),
        ("docker build -f estimation_engine/Containerfile .", "does not exist in the repository"),
        ("terraform apply", "neither a repository command nor an allowed agent tool"),
        ('x="$(helm install engine)"', "'helm' is neither"),
        ('case "$x" in\n  a) terraform apply ;;\n  *) true ;;\nesac', "'terraform' is neither"),
    ],
)
def test_the_command_check_rejects_what_would_not_run(script, reason):
    problems = [str(problem) for words in commands(script) for problem in check(words)]
    assert any(reason in problem for problem in problems), problems


def test_run_time_values_are_not_mistaken_for_literals():
    (words,) = commands('python -m delivery promote --to qa --model-version "${{ parameters.model }}"')
    assert words[-1] == DYNAMIC and check(words) == []


# What each pipeline must do, per the delivery process it carries over (see .pipelines/README.md).
@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("ci.yml", ("make", "lint")),
        ("ci.yml", ("make", "test")),
        ("prepare-data.yml", ("python", "-m", "training", "submit")),
        ("train-evaluate-register.yml", ("python", "-m", "training", "submit")),
        ("build-image.yml", ("docker", "push")),
        ("build-image.yml", ("python", "-m", "delivery", "pin-image", "--env", "dev")),
        ("deploy-dev.yml", ("pulumi", "up", "--stack", "dev")),
        ("deploy-dev.yml", ("python", "-m", "estimation_engine", "smoke")),
        ("delete-dev.yml", ("python", "-m", "infra", "reap")),
        ("deploy-qa.yml", ("pulumi", "up", "--stack", "qa")),
        ("deploy-qa.yml", ("python", "-m", "delivery", "verify-image", "--env", "qa")),
        ("deploy-qa.yml", ("python", "-m", "delivery", "promote", "--from", "dev", "--to", "qa")),
        (
            "deploy-qa.yml",
            ("python", "-m", "delivery", "promote", "--from", "dev", "--to", "qa", "--model-version"),
        ),
        ("deploy-qa.yml", ("python", "-m", "estimation_engine", "smoke")),
        ("promote-prod.yml", ("python", "-m", "delivery", "promote", "--from", "qa", "--to", "prod")),
        ("deploy-prod.yml", ("python", "-m", "delivery", "verify-image", "--env", "prod")),
        ("deploy-prod.yml", ("python", ".pipelines/scripts/argocd_rollout.py")),
        ("deploy-prod.yml", ("python", "-m", "delivery", "rollback", "--env", "prod")),
        ("fast-path-sklearn.yml", ("python", "-m", "pip", "install", "--upgrade", "scikit-learn")),
        ("fast-path-sklearn.yml", ("make", "fast-path-equality")),
    ],
)
def test_each_pipeline_runs_its_part_of_the_delivery(name, command):
    assert runs(REPO_ROOT / ".pipelines" / name, *command)


@pytest.mark.parametrize("env", ["dev", "qa"])
def test_pulumi_up_refreshes_first_so_a_reaped_container_group_is_created_again(env):
    ups = [
        w for _, w in commands_of(REPO_ROOT / ".pipelines" / f"deploy-{env}.yml") if w[:2] == ["pulumi", "up"]
    ]
    assert ups and all("--refresh" in words for words in ups)


@pytest.mark.parametrize("env", ["dev", "qa"])
def test_the_smoke_test_expects_the_pin_of_the_checked_out_commit(env):
    """Not the gitops remote through a local mirror, which a self-hosted agent keeps between runs."""
    words = [w for _, w in commands_of(REPO_ROOT / ".pipelines" / f"deploy-{env}.yml")]
    pin_file = f"gitops/apps/estimation-engine/overlays/{env}/model.env"
    assert [".", pin_file] in words and (REPO_ROOT / pin_file).is_file()
    assert not any(w[:4] == ["python", "-m", "delivery", "pins"] for w in words)


@pytest.mark.parametrize("path", pipeline_files(), ids=lambda p: p.name)
def test_every_trigger_path_filter_names_something_in_the_repository(path):
    """A filter on a path that does not exist (a renamed or never written file) silently matches nothing."""
    trigger = load(path).get("trigger")
    filters = trigger.get("paths", {}) if isinstance(trigger, dict) else {}  # or `trigger: none`
    named = [entry for kind in ("include", "exclude") for entry in filters.get(kind, [])]
    assert [entry for entry in named if not (REPO_ROOT / entry).exists()] == []


def test_the_prepare_pipeline_runs_only_the_prepare_step():
    (words,) = [
        w
        for _, w in commands_of(REPO_ROOT / ".pipelines" / "prepare-data.yml")
        if w[:4] == ["python", "-m", "training", "submit"]
    ]
    assert words[words.index("--steps") + 1] == "prepare"


def test_bot_commits_to_gitops_do_not_retrain_and_schedules_do():
    pipeline = load(REPO_ROOT / ".pipelines" / "train-evaluate-register.yml")
    assert "gitops" in pipeline["trigger"]["paths"]["exclude"]
    assert pipeline["schedules"][0]["always"] is True  # new data arrives without a commit
    hourly = load(REPO_ROOT / ".pipelines" / "delete-dev.yml")["schedules"][0]
    assert hourly["cron"] == "0 * * * *" and hourly["always"] is True


def _environments(name: str) -> set[str]:
    document = load(REPO_ROOT / ".pipelines" / name)
    jobs = [
        job for stage in document.get("stages", [{"jobs": document.get("jobs", [])}]) for job in stage["jobs"]
    ]
    return {job["environment"] for job in jobs if "environment" in job}


def test_what_changes_an_environment_waits_for_its_approval():
    """Deploying dev and qa, and promoting into prod (prod itself deploys by reviewed PR and Argo CD)."""
    assert _environments("deploy-dev.yml") == {"price-engine-dev"}
    assert _environments("deploy-qa.yml") == {"price-engine-qa"}
    assert _environments("promote-prod.yml") == {"price-engine-prod"}
    assert _environments("deploy-prod.yml") == set(), "reading Argo CD's verdict needs no approval"


def test_the_rollback_guard_and_verdict_are_decided_in_steps_not_stage_conditions():
    """Build.SourceVersionMessage is empty in stage and job conditions (predefined variables docs)."""
    for path in ALL_FILES:
        document = load(path)
        conditions = [s.get("condition", "") for s in document.get("stages", [])]
        conditions += [j.get("condition", "") for j in document.get("jobs", [])]
        assert not any("SourceVersionMessage" in c for c in conditions), path.name
    [rollback] = [
        step for step in expand(REPO_ROOT / ".pipelines" / "deploy-prod.yml")["jobs"][0]["steps"]
        if "rollback --env prod" in step.get("displayName", "")
    ]  # fmt: skip
    assert "eq(variables['ROLLOUT'], 'failed')" in rollback["condition"]
    assert "ne(variables['MERGED_ROLLBACK'], 'true')" in rollback["condition"]


def test_argo_cd_cli_downloads_name_the_release_the_chart_ships():
    """argo-helm argo-cd 10.1.1 ships Argo CD v3.4.4; the CRD schemas in tests/data are v3.4.4's too."""
    downloads = [
        match
        for path in ALL_FILES
        for match in re.findall(r"argo-cd/releases/download/([^/\s\"]+)/", path.read_text())
    ]
    assert set(downloads) <= {"v3.4.4"}


def test_secrets_come_only_from_variable_groups_and_service_connections():
    secret_name = re.compile(r"TOKEN|PASSPHRASE|PASSWORD|SECRET|_PAT$|_KEY$")
    for path in ALL_FILES:
        text = path.read_text()
        for match in re.finditer(r"^\s*([A-Z_]+):\s*(.+)$", text, flags=re.MULTILINE):
            name, value = match.groups()
            if secret_name.search(name):
                assert re.fullmatch(r"\$\([\w.]+\)", value.strip()), (
                    f"{path.name}: {name} must be a $(variable)"
                )
        groups = re.findall(r"^\s*- group: (.+)$", text, flags=re.MULTILINE)
        assert all(group.startswith("price-engine-") for group in groups), path.name


def test_the_image_build_triggers_on_everything_the_image_copies():
    """The image holds what its Dockerfile copies from the build context (whole folders): a change to any of
    it must rebuild the image, and every package of this repository the engine imports must be copied."""
    import ast

    dockerfile = (REPO_ROOT / "estimation_engine" / "Dockerfile").read_text()
    copied = [
        source
        for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile, flags=re.MULTILINE)
        for source in line.split()[:-1]
    ]
    for source in copied:
        if source == "README.md":  # pyproject's `readme`: package metadata, not what the engine runs
            continue
        changed = source if (REPO_ROOT / source).is_file() else f"{source}/any_module.py"
        assert triggers("build-image.yml", changed), f"a change to {changed} does not rebuild the image"
    packages = {path.parent.name for path in REPO_ROOT.glob("*/__init__.py")}
    imported = {
        (node.module or "").split(".")[0]
        for source in (REPO_ROOT / "estimation_engine").rglob("*.py")
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.ImportFrom)
    }
    assert {"estimation_engine", "model_contract"} <= set(copied)
    assert imported & packages <= set(copied), sorted(imported & packages - set(copied))


def triggers(name: str, changed: str) -> bool:
    """Whether a push to main changing ``changed`` runs the pipeline (CI trigger path filters: a filter names a
    file or a folder, matched from the repository root; exclusions win)."""
    trigger = load(REPO_ROOT / ".pipelines" / name).get("trigger")
    if not isinstance(trigger, dict) or "main" not in trigger.get("branches", {}).get("include", []):
        return False
    paths = trigger.get("paths", {})

    def matches(filters: list[str]) -> bool:
        return any(changed == f or changed.startswith(f.rstrip("/") + "/") for f in filters)

    return matches(paths.get("include", [""])) and not matches(paths.get("exclude", []))


@pytest.mark.parametrize("env", ["dev", "qa"])
@pytest.mark.parametrize(
    "changed",
    [
        "infra/program.py",
        "infra/components/aci_serving.py",
        "Pulumi.yaml",
        "environments/Pulumi.{env}.yaml",
        "gitops/apps/estimation-engine/overlays/{env}/model.env",
        "gitops/apps/estimation-engine/base/deployment.yaml",
    ],
)
def test_a_change_to_what_an_aci_stack_deploys_runs_its_deploy(env, changed):
    assert triggers(f"deploy-{env}.yml", changed.format(env=env))


def test_deploys_ignore_what_they_do_not_deploy():
    assert not triggers("deploy-qa.yml", "gitops/apps/estimation-engine/overlays/dev/model.env")
    assert not triggers("deploy-prod.yml", "infra/program.py"), "prod's infrastructure is deployed by hand"
    assert triggers("deploy-prod.yml", "gitops/apps/estimation-engine/overlays/prod/kustomization.yaml")
    assert not triggers("train-evaluate-register.yml", "gitops/apps/estimation-engine/overlays/dev/model.env")
