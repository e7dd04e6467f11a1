"""Delivery's settings: environment variables read once, at the edge, into one validated object.

The embedded default needs no settings: a SQLite registry per environment and a bare git remote under
``.mlops/``, and pull requests recorded beside it. Environment variables switch each part to its cloud
counterpart:

- ``MLFLOW_TRACKING_URI_<ENV>`` (``_DEV``, ``_QA``, ``_PROD``): each environment's registry, its Azure ML
  workspace's MLflow URI; else ``MLFLOW_TRACKING_URI`` (and ``MLFLOW_REGISTRY_URI``) for every environment
  (see model_contract/environment_registries.py: promotions refuse that one).
- ``CONTAINER_REGISTRY_ID_<ENV>``: the resource id of an environment's container registry, needed when a
  promotion imports an image from a registry in another subscription (delivery/container_images.py).
- ``REGISTRY_RETRY_SECONDS``: how long a registry call may retry before it is reported unreachable (30;
  model_contract/registry_retries.py).
- ``GITOPS_PROVIDER=github``: ``GITHUB_REPOSITORY`` (owner/name), ``GITHUB_TOKEN``, optional
  ``GITHUB_API_URL`` (GitHub Enterprise) and ``GITOPS_REMOTE_URL``.
- ``GITOPS_PROVIDER=azure-repos``: ``AZURE_DEVOPS_ORG_URL``, ``AZURE_DEVOPS_PROJECT``,
  ``AZURE_DEVOPS_REPOSITORY``, and ``AZURE_DEVOPS_EXT_PAT`` (a PAT) or ``SYSTEM_ACCESSTOKEN`` (the
  pipeline's bearer token); optional ``GITOPS_REMOTE_URL``.
- ``GITOPS_DEFAULT_BRANCH`` (default ``main``).

A provider's missing settings are refused here, all at once, one line each (model_contract.config_error's
shape), before anything is cloned or pushed. Tokens stay in memory: they reach git through environment
variables (see delivery/git.py) and the REST APIs through headers, and are never written to disk or
printed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from delivery.container_images import registry_ids_from_environment
from delivery.gitops_remote import DEFAULT_BRANCH
from model_contract.config_error import ConfigError, Problem, validation_problems
from model_contract.environment_registries import registry_variable
from model_contract.pins import ENVIRONMENTS

SECRETS = ("GITHUB_TOKEN", "AZURE_DEVOPS_EXT_PAT", "SYSTEM_ACCESSTOKEN")
# The gitops provider's settings that are not secrets (what an Azure ML job may be given as they are).
GITOPS_VARIABLES = (
    "GITOPS_PROVIDER",
    "GITOPS_REMOTE_URL",
    "GITOPS_DEFAULT_BRANCH",
    "GITHUB_REPOSITORY",
    "GITHUB_API_URL",
    "AZURE_DEVOPS_ORG_URL",
    "AZURE_DEVOPS_PROJECT",
    "AZURE_DEVOPS_REPOSITORY",
)


class DeliverySettings(BaseModel):
    """Where delivery (and the training job, which reads its champion and opens its PR through delivery)
    reads and writes. Field aliases are the environment variables."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    provider: Literal["local", "github", "azure-repos"] = Field(
        "local", alias="GITOPS_PROVIDER", description="local, github or azure-repos"
    )
    tracking_uri: str | None = Field(None, alias="MLFLOW_TRACKING_URI")
    registry_uri: str | None = Field(None, alias="MLFLOW_REGISTRY_URI")
    environment_tracking_uris: dict[str, str] = Field(default_factory=dict)  # MLFLOW_TRACKING_URI_<ENV>
    container_registry_ids: dict[str, str] = Field(default_factory=dict)  # CONTAINER_REGISTRY_ID_<ENV>
    default_branch: str = Field(DEFAULT_BRANCH, alias="GITOPS_DEFAULT_BRANCH")
    remote_url: str | None = Field(None, alias="GITOPS_REMOTE_URL")
    github_repository: str = Field(
        "", alias="GITHUB_REPOSITORY", pattern=r"^[^/\s]+/[^/\s]+$",
        description="owner/name of the gitops repository on GitHub",
    )  # fmt: skip
    github_api_url: str = Field("https://api.github.com", alias="GITHUB_API_URL")
    azure_devops_org_url: str = Field("", alias="AZURE_DEVOPS_ORG_URL")
    azure_devops_project: str = Field("", alias="AZURE_DEVOPS_PROJECT")
    azure_devops_repository: str = Field("", alias="AZURE_DEVOPS_REPOSITORY")
    secrets: dict[str, str] = Field(default_factory=dict, repr=False)  # SECRETS, by name

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> DeliverySettings:
        """Read and validate; ConfigError names every offending variable at once."""
        environ = os.environ if environ is None else environ
        aliases = {field.alias for field in cls.model_fields.values() if field.alias}
        raw: dict[str, object] = {
            key: value.strip() for key, value in environ.items() if key in aliases and value.strip()
        }
        raw["environment_tracking_uris"] = {
            env: environ[registry_variable(env)]
            for env in ENVIRONMENTS
            if environ.get(registry_variable(env))
        }
        raw["container_registry_ids"] = registry_ids_from_environment(environ, ENVIRONMENTS)
        raw["secrets"] = {name: environ[name] for name in SECRETS if environ.get(name)}
        try:
            return cls.model_validate(raw)
        except ValidationError as error:
            raise ConfigError(validation_problems(error, cls)) from None

    @model_validator(mode="after")
    def _provider_has_what_it_needs(self) -> DeliverySettings:
        problems = list(self._missing())
        if problems:
            raise ConfigError(problems)
        return self

    def _missing(self) -> Iterator[Problem]:
        """The provider's own settings that are not set: each with what it takes."""
        needed = f"not set, and GITOPS_PROVIDER={self.provider} needs it"
        present = {
            "GITHUB_TOKEN": self.secrets.get("GITHUB_TOKEN"),
            "GITHUB_REPOSITORY": self.github_repository,
            "AZURE_DEVOPS_ORG_URL": self.azure_devops_org_url,
            "AZURE_DEVOPS_PROJECT": self.azure_devops_project,
            "AZURE_DEVOPS_REPOSITORY": self.azure_devops_repository,
            "AZURE_DEVOPS_EXT_PAT": self.secrets.get("AZURE_DEVOPS_EXT_PAT")
            or self.secrets.get("SYSTEM_ACCESSTOKEN"),
        }
        for variable, allowed in _PROVIDER_NEEDS.get(self.provider, {}).items():
            if not present[variable]:
                yield Problem(variable, needed, allowed)


# What each provider needs, and what it takes (the token variable for Azure Repos has an alternative).
_PROVIDER_NEEDS = {
    "github": {
        "GITHUB_TOKEN": "a token that may write pull requests and contents of the repository",
        "GITHUB_REPOSITORY": "owner/name of the gitops repository",
    },
    "azure-repos": {
        "AZURE_DEVOPS_ORG_URL": "the organization's URL, https://dev.azure.com/<organization>",
        "AZURE_DEVOPS_PROJECT": "the project holding the gitops repository",
        "AZURE_DEVOPS_REPOSITORY": "the gitops repository's name",
        "AZURE_DEVOPS_EXT_PAT": "a PAT here, or the pipeline's bearer token in SYSTEM_ACCESSTOKEN",
    },
}
