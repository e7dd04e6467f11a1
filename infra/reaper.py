"""The dev reaper: delete container groups whose ``expires-at`` tag has passed.

Run on a schedule (``python -m infra reap``) with an identity that may delete container groups in the
subscription. It only ever touches groups that carry the tag: anything without it, or with a value it
cannot read, is reported and left alone, so a typo can never delete production.

The Azure SDK is imported lazily, and the reaping logic only needs the two methods of the client it uses
(``list`` and ``begin_delete``), so the tests drive it with an in-memory fake of that interface.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from infra.expiry import EXPIRY_TAG, parse_expiry


class ContainerGroupOperations(Protocol):
    """The part of ``ContainerInstanceManagementClient.container_groups`` the reaper uses."""

    def list(self) -> Iterable[Any]: ...

    def begin_delete(self, resource_group_name: str, container_group_name: str) -> Any: ...


class Expiry(enum.Enum):
    """Where a container group stands against its ``expires-at`` tag (the gate's Verdict is another thing)."""

    EXPIRED = "expired"
    ALIVE = "alive"
    UNTAGGED = "untagged"
    UNREADABLE_TAG = "unreadable tag"


@dataclass(frozen=True)
class GroupExpiry:
    name: str
    resource_group: str
    expiry: Expiry
    expires_at: datetime | None = None
    detail: str = ""


@dataclass
class ReapSummary:
    groups: list[GroupExpiry] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    dry_run: bool = False

    def count(self, expiry: Expiry) -> int:
        return sum(1 for item in self.groups if item.expiry is expiry)

    def render(self) -> str:
        lines = []
        for item in self.groups:
            where = f"{item.resource_group}/{item.name}"
            if item.expiry is Expiry.EXPIRED:
                action = (
                    "would delete" if self.dry_run else ("deleted" if where in self.deleted else "FAILED")
                )
                lines.append(f"{action}: {where} (expired {item.expires_at:%Y-%m-%dT%H:%M:%SZ})")
            elif item.expiry is Expiry.ALIVE:
                lines.append(f"keep: {where} (expires {item.expires_at:%Y-%m-%dT%H:%M:%SZ})")
            elif item.expiry is Expiry.UNREADABLE_TAG:
                lines.append(f"skip: {where} ({EXPIRY_TAG} tag unreadable: {item.detail})")
        lines.append(
            f"{len(self.groups)} container groups: {self.count(Expiry.EXPIRED)} expired"
            f"{' (dry run, nothing deleted)' if self.dry_run else f', {len(self.deleted)} deleted'}"
            f", {self.count(Expiry.ALIVE)} not yet expired, {self.count(Expiry.UNTAGGED)} without "
            f"{EXPIRY_TAG} (left alone), {self.count(Expiry.UNREADABLE_TAG)} with an unreadable tag"
            + (f", {len(self.failed)} failed: {', '.join(self.failed)}" if self.failed else "")
        )
        return "\n".join(lines) + "\n"


def judge(group: Any, now: datetime) -> GroupExpiry:
    """Decide what to do with one container group (an SDK ``ContainerGroup`` or anything shaped like it)."""
    resource_group = _resource_group_of(group.id)
    value = (group.tags or {}).get(EXPIRY_TAG)
    if value is None:
        return GroupExpiry(group.name, resource_group, Expiry.UNTAGGED)
    try:
        expires_at = parse_expiry(value)
    except ValueError:
        return GroupExpiry(group.name, resource_group, Expiry.UNREADABLE_TAG, detail=repr(value))
    expiry = Expiry.EXPIRED if expires_at <= now else Expiry.ALIVE
    return GroupExpiry(group.name, resource_group, expiry, expires_at)


def reap(operations: ContainerGroupOperations, now: datetime, *, dry_run: bool) -> ReapSummary:
    """Delete every expired group (or only report them with ``dry_run``)."""
    groups = sorted(
        (judge(group, now) for group in operations.list()), key=lambda item: (item.resource_group, item.name)
    )
    summary = ReapSummary(groups=groups, dry_run=dry_run)
    for item in groups:
        if item.expiry is not Expiry.EXPIRED or dry_run:
            continue
        where = f"{item.resource_group}/{item.name}"
        try:
            operations.begin_delete(item.resource_group, item.name).result()
        except Exception as error:  # one failed deletion must not stop the others
            summary.failed.append(f"{where} ({error})")
        else:
            summary.deleted.append(where)
    return summary


def azure_container_groups(subscription_id: str) -> ContainerGroupOperations:
    """The real client, signed in with ``DefaultAzureCredential`` (CLI, managed or workload identity)."""
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.containerinstance import ContainerInstanceManagementClient

    client = ContainerInstanceManagementClient(DefaultAzureCredential(), subscription_id)
    return client.container_groups


def _resource_group_of(resource_id: str) -> str:
    parts = resource_id.split("/")
    lowered = [part.lower() for part in parts]
    try:
        return parts[lowered.index("resourcegroups") + 1]
    except (ValueError, IndexError):
        raise ValueError(f"not a resource id with a resource group: {resource_id!r}") from None
