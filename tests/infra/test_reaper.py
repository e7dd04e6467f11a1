"""The dev reaper against an in-memory fake of the container-groups client interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from infra.cli import main
from infra.expiry import EXPIRY_TAG, expiry_tag_value, parse_expiry
from infra.reaper import Expiry, judge, reap

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class FakeGroup:
    name: str
    tags: dict[str, str] | None
    resource_group: str = "rg-price-engine-dev"

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/s/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.ContainerInstance/containerGroups/{self.name}"
        )


class FakePoller:
    def __init__(self, error: Exception | None) -> None:
        self._error = error

    def result(self) -> None:
        if self._error:
            raise self._error


@dataclass
class FakeContainerGroups:
    """Implements ``list`` and ``begin_delete`` like ``ContainerInstanceManagementClient.container_groups``."""

    groups: list[FakeGroup]
    failing: set[str] = field(default_factory=set)
    deleted: list[tuple[str, str]] = field(default_factory=list)

    def list(self):
        return iter(list(self.groups))

    def begin_delete(self, resource_group_name: str, container_group_name: str) -> FakePoller:
        if container_group_name in self.failing:
            return FakePoller(RuntimeError("409 Conflict"))
        self.deleted.append((resource_group_name, container_group_name))
        self.groups = [group for group in self.groups if group.name != container_group_name]
        return FakePoller(None)


def fleet() -> FakeContainerGroups:
    return FakeContainerGroups(
        [
            FakeGroup("ci-expired", {EXPIRY_TAG: "2025-03-01T11:59:59Z", "environment": "dev"}),
            FakeGroup("ci-expires-now", {EXPIRY_TAG: "2025-03-01T12:00:00Z"}),
            FakeGroup("ci-alive", {EXPIRY_TAG: "2025-03-02T00:00:00Z"}),
            FakeGroup("ci-prod", {"environment": "prod"}, resource_group="rg-price-engine-prod"),
            FakeGroup("ci-untagged", None),
            FakeGroup("ci-garbled", {EXPIRY_TAG: "tomorrow"}),
        ]
    )


def test_expired_groups_are_deleted_and_nothing_else():
    client = fleet()
    summary = reap(client, NOW, dry_run=False)
    assert sorted(client.deleted) == [
        ("rg-price-engine-dev", "ci-expired"),
        ("rg-price-engine-dev", "ci-expires-now"),
    ]
    assert {group.name for group in client.groups} == {"ci-alive", "ci-prod", "ci-untagged", "ci-garbled"}
    assert summary.count(Expiry.UNTAGGED) == 2
    assert summary.count(Expiry.UNREADABLE_TAG) == 1
    assert summary.failed == []


def test_dry_run_deletes_nothing_and_says_what_it_would_delete():
    client = fleet()
    summary = reap(client, NOW, dry_run=True)
    assert client.deleted == []
    text = summary.render()
    assert "would delete: rg-price-engine-dev/ci-expired" in text
    assert "2 expired (dry run, nothing deleted)" in text
    assert "ci-prod" not in text  # untagged groups are counted, not listed


def test_a_failed_deletion_is_reported_and_the_others_still_go():
    client = fleet()
    client.failing.add("ci-expired")
    summary = reap(client, NOW, dry_run=False)
    assert client.deleted == [("rg-price-engine-dev", "ci-expires-now")]
    assert summary.failed == ["rg-price-engine-dev/ci-expired (409 Conflict)"]
    assert "FAILED: rg-price-engine-dev/ci-expired" in summary.render()


def test_an_unreadable_tag_is_never_taken_for_expired():
    group = judge(FakeGroup("x", {EXPIRY_TAG: "2025-13-45"}), NOW)
    assert group.expiry is Expiry.UNREADABLE_TAG


def test_the_tag_the_program_writes_is_the_tag_the_reaper_reads():
    created = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    value = expiry_tag_value(created, 24)
    assert value == "2025-03-02T09:30:00Z"
    assert parse_expiry(value) == datetime(2025, 3, 2, 9, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        expiry_tag_value(datetime(2025, 3, 1), 24)


def test_cli_reap_uses_the_client_for_the_subscription(monkeypatch, capsys):
    client = fleet()
    seen = []
    monkeypatch.setattr("infra.reaper.azure_container_groups", lambda sub: seen.append(sub) or client)
    code = main(["reap", "--dry-run", "--subscription-id", "sub-1", "--now", "2025-03-01T12:00:00Z"])
    assert (code, seen, client.deleted) == (0, ["sub-1"], [])
    assert "would delete" in capsys.readouterr().out


def test_cli_reap_without_a_subscription_is_refused(monkeypatch, capsys):
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    assert main(["reap", "--subscription-id", ""]) == 2
    assert capsys.readouterr().err == (
        "error: --subscription-id: not set; allowed: a subscription id, or AZURE_SUBSCRIPTION_ID set\n"
    )
