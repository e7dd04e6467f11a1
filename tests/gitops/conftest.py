"""Renders shared by the gitops tests: each overlay is built once per test process."""

from __future__ import annotations

from pathlib import Path

import pytest

from delivery.overlay_render import parse_manifests, render_overlay
from model_contract.pins import ENVIRONMENTS

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def rendered_overlays() -> dict[str, str]:
    """``kubectl kustomize`` output of every environment's overlay, as committed."""
    return {env: render_overlay(REPO_ROOT, env) for env in ENVIRONMENTS}


@pytest.fixture(scope="session")
def rendered_objects(rendered_overlays: dict[str, str]) -> dict[str, list[dict]]:
    return {env: parse_manifests(text, env) for env, text in rendered_overlays.items()}
