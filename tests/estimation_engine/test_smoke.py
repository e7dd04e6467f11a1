"""The post-deploy smoke test against a real engine: passes on a good deployment, names what is wrong."""

from __future__ import annotations

import subprocess
import sys

from tests.estimation_engine.conftest import REPO_ROOT


def smoke(url: str, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "estimation_engine", "smoke", "--url", url, "--wait", "5", *extra],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


def test_smoke_passes_against_the_pinned_deployment(engine, registered_models):
    pin = {"MODEL_NAME": registered_models.model_name, "MODEL_VERSION": str(registered_models.versions[0])}
    result = smoke(engine.url, env=pin)
    assert result.returncode == 0, result.stderr
    assert f"ok: serves ames-price v{registered_models.versions[0]}" in result.stdout
    assert "ok: bad request refused with 422" in result.stdout


def test_smoke_fails_when_another_version_is_served(engine, registered_models):
    result = smoke(engine.url, "--expect-version", str(registered_models.versions[1]))
    assert result.returncode == 1
    assert f"expected v{registered_models.versions[1]}" in result.stderr


def test_smoke_fails_when_the_estimate_is_not_sane(engine):
    result = smoke(engine.url, "--min-price", "1e9", "--max-price", "1e10")
    assert result.returncode == 1
    assert "outside the sane range" in result.stderr


def test_smoke_fails_with_the_reason_when_the_engine_failed_to_load(
    engine_factory, registered_models, tmp_path
):
    from tests.estimation_engine.conftest import engine_env

    broken = engine_factory(engine_env(registered_models, tmp_path / "cache", MODEL_VERSION="99"))
    result = smoke(broken.url)
    assert result.returncode == 1
    assert "failed to load its model" in result.stderr and "not-found" in result.stderr


def test_smoke_fails_when_nothing_answers():
    result = smoke("http://127.0.0.1:9", "--wait", "0")
    assert result.returncode == 1 and "not ready" in result.stderr
