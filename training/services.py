"""The training job's services: each environment's registry, and delivery's gitops services (the remote the
champion is read from and the bump PR goes to), built once at the edge from delivery's settings
(delivery/settings.py says which environment variables; the job reads no others)."""

from __future__ import annotations

from collections.abc import Mapping

from delivery.services import Services, build_registries, build_services
from delivery.settings import DeliverySettings
from model_contract.registry import ModelRegistry


def job_services(environ: Mapping[str, str] | None = None) -> Services:
    """Everything a training run reads and writes, from the environment."""
    return build_services(DeliverySettings.from_environment(environ))


def job_registry(env: str, environ: Mapping[str, str] | None = None) -> ModelRegistry:
    """One environment's registry alone, for steps that need no gitops remote (Azure ML's train, register)."""
    return build_registries(DeliverySettings.from_environment(environ)).registry(env)
