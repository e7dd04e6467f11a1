"""The kinds of value a stack setting holds, as pydantic types that refuse what Azure would refuse.

``pulumi up`` hands the program every setting as a string, arrays as JSON (``"true"``, ``"3"``,
``'["Group:<objectId>"]'``), so each type here accepts that string form. A type whose rule pydantic cannot
state itself validates with a function that raises :func:`refused` (what was wrong and, where that
depends on the failure, what is allowed); :mod:`infra.settings` turns every pydantic error into one line
of a :class:`model_contract.config_error.ConfigError` naming the key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainValidator

from infra.argo_rollouts_release import RELEASES as ARGO_ROLLOUTS_RELEASES
from infra.argocd_release import RELEASES as ARGOCD_RELEASES
from infra.prometheus_release import RELEASES as PROMETHEUS_RELEASES
from model_contract.config_error import refused

_GUID = r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
_TAG_FORBIDDEN = "<>%&\\?/"
_TAG_NAME = re.compile(rf"^[^{re.escape(_TAG_FORBIDDEN)}]{{1,512}}$")


@dataclass(frozen=True)
class Principal:
    """A Microsoft Entra principal named in stack config as ``<principalType>:<objectId>``.

    The type travels with the id because ARM needs it on every role assignment: a wrong one is refused
    (``UnmatchedPrincipalType``) and a missing one fails new principals with ``PrincipalNotFound``.
    """

    object_id: str
    principal_type: str

    def __str__(self) -> str:
        return f"{self.principal_type}:{self.object_id}"


def matching(pattern: str, allowed: str, *, optional: bool = False) -> Any:
    """A string setting whose whole value matches ``pattern``, or is empty
    when ``optional``; ``allowed`` is what the refusal tells the user."""
    return Field(pattern=f"^(?:{pattern}){'?' if optional else ''}$", description=allowed)


def between(minimum: int, maximum: int | None = None) -> Any:
    """An integer setting within bounds; the bounds also write what the refusal says is allowed."""
    if maximum is None:
        return Field(ge=minimum, description=f"an integer of at least {minimum}")
    return Field(ge=minimum, le=maximum, description=f"an integer from {minimum} to {maximum}")


def _flag(value: object) -> object:
    """Only what Pulumi writes for a boolean: ``true`` or ``false`` (not pydantic's yes/on/1)."""
    if isinstance(value, str):
        if value.strip().lower() not in ("true", "false"):
            raise refused(f"{value!r} is not a boolean")
        return value.strip().lower() == "true"
    return value


def _whole_number(value: object) -> object:
    """Digits, as ``int()`` reads them (pydantic alone would also take ``"3.0"``)."""
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise refused(f"{value!r} is not an integer") from None
    return value


def json_list(value: object) -> list[str]:
    """An array setting: JSON as Pulumi passes it (empty means none), or a list already."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError:
            raise refused(f"{value!r} is not JSON") from None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise refused(f"{value!r} is not a list of strings")
    return value


def _principal(types: tuple[str, ...], entry: str) -> Principal:
    kind, sep, object_id = entry.strip().partition(":")
    if not sep or kind not in types or not re.fullmatch(_GUID, object_id):
        raise refused(
            f"{entry!r} is not a principal of an accepted type",
            f"<principalType>:<objectId> with principalType {' or '.join(types)}",
        )
    return Principal(object_id.lower(), kind)


def _optional_principal(types: tuple[str, ...], value: object) -> Principal | None:
    if value is None or isinstance(value, Principal):
        return value
    text = str(value).strip()
    return _principal(types, text) if text else None


def _principals(types: tuple[str, ...], value: object) -> tuple[Principal, ...]:
    principals = tuple(_principal(types, entry) for entry in json_list(value))
    ids = [principal.object_id for principal in principals]
    repeated = sorted({object_id for object_id in ids if ids.count(object_id) > 1})
    if repeated:
        raise refused(f"{', '.join(repeated)} listed more than once", "each principal once")
    return principals


def _tags(value: object) -> dict[str, str]:
    tags: dict[str, str] = {}
    for entry in json_list(value):
        name, sep, text = (part.strip() for part in entry.partition("="))
        if not sep or not _TAG_NAME.match(name) or len(text) > 256:
            raise refused(
                f"{entry!r} is not a valid tag",
                f"key=value entries, names up to 512 characters without {_TAG_FORBIDDEN}, values up to 256",
            )
        if name in tags:
            raise refused(f"tag {name!r} is repeated", "each tag once")
        tags[name] = text
    return tags


def _known_chart(value: object) -> str:
    text = str(value).strip()
    if text not in ARGOCD_RELEASES:
        raise refused(
            f"{value!r} is not a chart this repository was tested with",
            f"{', '.join(ARGOCD_RELEASES)} (infra/argocd_release.py: the chart, the argocd CLI of the "
            "pipelines and the CRD schemas of the tests move together)",
        )
    return text


def _pinned_chart(releases: Mapping[str, object], module: str, moves_with: str) -> Callable[[object], str]:
    def known(value: object) -> str:
        text = str(value).strip()
        if text not in releases:
            raise refused(
                f"{value!r} is not a chart this repository was tested with",
                f"{', '.join(releases)} ({module}: the chart and {moves_with} move together)",
            )
        return text

    return known


Flag = Annotated[bool, BeforeValidator(_flag), Field(description="true or false")]
WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
NonEmpty = Annotated[str, Field(min_length=1, description="a non-empty string")]
RegionName = Annotated[str, matching("[a-z][a-z0-9]+", "a region name such as westeurope")]
NamePrefix = Annotated[
    str,
    matching(
        "[a-z](?!.*--)[a-z0-9-]{0,13}[a-z0-9]",
        "2-15 lowercase letters, digits and single hyphens, starting with a letter",
    ),
]
TagValue = Annotated[
    str, matching(f"[^{re.escape(_TAG_FORBIDDEN)}]{{1,256}}", f"1-256 characters without {_TAG_FORBIDDEN}")
]
Tags = Annotated[dict[str, str], PlainValidator(_tags), Field(description="a JSON list of key=value strings")]
HttpsUrl = Annotated[str, matching(r"https://\S+", "an https:// URL that Argo CD can clone")]
RegistryName = Annotated[str, matching("[a-zA-Z0-9]{5,50}", "5-50 letters and digits (Azure's rule)")]
VmSize = Annotated[str, matching("[A-Za-z][A-Za-z0-9_]+", "an Azure VM size such as Standard_D4s_v5")]
KubernetesMinor = Annotated[str, matching(r"1\.\d{2}", "a pinned minor version such as 1.36")]
ObjectIds = Annotated[
    tuple[Annotated[str, matching(_GUID, "a GUID")], ...],
    BeforeValidator(json_list),
    Field(description="a JSON list of Microsoft Entra object ids (GUIDs)"),
]
HostName = Annotated[
    str,
    matching(
        r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",
        "a DNS host name such as price.example.com, or empty",
        optional=True,
    ),
]
KeyVaultSecretName = Annotated[
    str,
    matching("[0-9a-zA-Z-]{1,127}", "a Key Vault secret name (letters, digits, -), or empty", optional=True),
]
ArgoCdChart = Annotated[
    str, PlainValidator(_known_chart), Field(description="an argo-cd chart listed in infra/argocd_release.py")
]
ArgoRolloutsChart = Annotated[
    str,
    PlainValidator(
        _pinned_chart(
            ARGO_ROLLOUTS_RELEASES, "infra/argo_rollouts_release.py", "the Rollout CRD schemas of the tests"
        )
    ),
    Field(description="an argo-rollouts chart listed in infra/argo_rollouts_release.py"),
]
PrometheusChart = Annotated[
    str,
    PlainValidator(
        _pinned_chart(PROMETHEUS_RELEASES, "infra/prometheus_release.py", "the values written against it")
    ),
    Field(description="a prometheus chart listed in infra/prometheus_release.py"),
]
ServicePrincipalRef = Annotated[
    Principal | None,
    PlainValidator(partial(_optional_principal, ("ServicePrincipal",))),
    Field(description="ServicePrincipal:<objectId>, or empty"),
]
People = Annotated[
    tuple[Principal, ...],
    PlainValidator(partial(_principals, ("Group", "User"))),
    Field(description="a JSON list of Group:<objectId> or User:<objectId>"),
]
