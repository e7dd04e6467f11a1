"""The rehearsal harness itself: the service's expression, variable and secret rules, on small probes, and
that the organization it models is the one .pipelines/README.md asks a platform engineer to create."""

from __future__ import annotations

import re

import pytest

from tests.pipelines.pipeline_files import PIPELINES_DIR, compile_pipeline, pipeline_files
from tests.pipelines.rehearsal.expressions import Context, ExpressionError, evaluate
from tests.pipelines.rehearsal.organization import default_organization


def _evaluate(text: str, **values) -> object:
    return evaluate(text, Context(values=values, status=lambda name, args: name == "succeeded"))


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("eq('Failed', 'failed')", True),  # strings compare ignoring case
        ("ne(variables['ROLLOUT'], 'failed')", True),  # an unset variable is null, not an error
        ("and(succeeded(), eq(variables['rollout'], 'FAILED'))", False),
        ("contains(variables['Build.SourceVersionMessage'], 'Roll back')", False),
        ("in('dev', 'qa', 'DEV')", True),
        ("not('')", True),  # an empty string is false
        ("eq(dependencies.a.outputs['s.V'], 'x')", True),
    ],
)
def test_expressions_follow_the_services_conversions(expression, expected):
    variables = {"rollout": "healthy", "Build.SourceVersionMessage": ""}
    dependencies = {"a": {"outputs": {"s.V": "x"}}}
    assert _evaluate(expression, variables=variables, dependencies=dependencies) is expected


def test_an_expression_the_harness_does_not_implement_is_refused_not_guessed():
    with pytest.raises(ExpressionError, match="does not implement counter"):
        _evaluate("counter('x', 0)", variables={})


PROBE = """\
trigger: none
variables:
  - group: price-engine-dev
jobs:
  - job: first
    steps:
      - script: |
          echo "unmapped=[${PULUMI_CONFIG_PASSPHRASE:-}] subscription=[$AZURE_SUBSCRIPTION_ID]"
          echo "mapped=[$MAPPED]"
          echo "##vso[task.setvariable variable=VERDICT;isOutput=true]checked"
          echo "macro=[$(Undefined.Macro)]" || true
        name: probe
        displayName: probe
        env:
          MAPPED: $(PULUMI_CONFIG_PASSPHRASE)
  - job: second
    dependsOn: first
    variables:
      - name: FROM_FIRST
        value: $[ dependencies.first.outputs['probe.VERDICT'] ]
    steps:
      - script: echo "from-first=[$FROM_FIRST]"
        displayName: reader
"""


def test_secrets_reach_a_script_only_where_a_step_maps_them_and_never_the_log(rehearse, rehearsal_session):
    commit = rehearsal_session.source.merge("probe", {".pipelines/probe.yml": PROBE})
    run = rehearse("probe.yml", source_version=commit)
    output = run.step("probe").output
    assert "unmapped=[]" in output and "subscription=[11111111-" in output
    assert "mapped=[***]" in output and "passphrase-of-dev" not in run.log()
    assert "macro=[$(Undefined.Macro)]" not in output, (
        "an unknown macro stays literal, so bash runs it as a command"
    )
    assert "from-first=[checked]" in run.step("reader").output


def _compiled_documents():
    for path in pipeline_files():
        yield compile_pipeline(path)
        if path.name == "deploy-qa.yml":
            yield compile_pipeline(path, {"model": "dev"})


def _walk(value):
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def test_everything_the_pipelines_use_is_in_the_organization_and_the_readme():
    readme = (PIPELINES_DIR / "README.md").read_text()
    organization = default_organization()
    nodes = [node for document in _compiled_documents() for node in _walk(document)]
    connections = {
        node["inputs"]["azureSubscription"] for node in nodes if "azureSubscription" in node.get("inputs", {})
    }
    groups = {node["group"] for node in nodes if "group" in node}
    environments = {node["environment"] for node in nodes if "environment" in node}
    assert connections == set(organization.service_connections)
    assert groups == set(organization.variable_groups)
    assert environments == organization.environments
    for name in connections | groups | environments:
        assert re.search(rf"`{re.escape(name)}`", readme), f".pipelines/README.md does not name {name}"
