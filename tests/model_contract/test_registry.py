"""The registry client keeps to what Azure ML's MLflow supports (learn.microsoft.com, "Manage models
registry in Azure Machine Learning with MLflow", support matrix): versions searched by name, never by tag."""

import pytest
from mlflow.exceptions import MlflowException


@pytest.fixture
def azure_like(workspace, monkeypatch):
    """dev's registry answering searches as Azure ML does: by model name only."""
    client = workspace.registry.client
    search = client.search_model_versions
    filters: list[str] = []

    def search_by_name_only(filter_string=None, *args, **kwargs):
        filters.append(filter_string or "")
        if "tag." in (filter_string or "") or "tags." in (filter_string or ""):
            raise MlflowException(
                "Search registered models by tag is not supported", error_code="INVALID_PARAMETER_VALUE"
            )
        return search(filter_string, *args, **kwargs)

    monkeypatch.setattr(client, "search_model_versions", search_by_name_only)
    return filters


def test_registering_the_same_lineage_twice_reuses_the_version_without_searching_by_tag(
    workspace, azure_like
):
    first = workspace.register_version()
    registry = workspace.registry
    record = registry.get("ames-price", first)
    again = registry.register(
        "ames-price", "another-run", record.source, {"lineage_key": record.tags["lineage_key"]}
    )
    assert again.version == first
    assert azure_like and all("tag" not in text for text in azure_like)


def test_find_matches_every_tag_asked_for(workspace):
    version = workspace.register_version()
    record = workspace.registry.get("ames-price", version)
    assert workspace.registry.find("ames-price", {"artifact_sha256": record.sha256}).version == version
    assert (
        workspace.registry.find("ames-price", {"artifact_sha256": record.sha256, "lineage_key": "other"})
        is None
    )
    assert workspace.registry.find("no-such-model", {"lineage_key": "x"}) is None
