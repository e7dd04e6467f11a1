"""What can be checked of the engine image without building it: user, port, entrypoint, contents."""

from __future__ import annotations

import fnmatch
import json
import shlex
import subprocess
import tomllib

import pytest

from estimation_engine.cli import _parser
from estimation_engine.malloc_tunables import TUNABLES, VARIABLE
from estimation_engine.settings import DEFAULT_PORT, EngineSettings
from tests.estimation_engine.conftest import REPO_ROOT

DOCKERFILE = REPO_ROOT / "estimation_engine" / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
CONTRACT_UID = "10001"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    joined = text.replace("\\\n", " ")
    parsed = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            parsed.append((keyword.upper(), rest.strip()))
    return parsed


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, rest))
    return found


@pytest.fixture(scope="module")
def runtime() -> list[tuple[str, str]]:
    all_stages = stages()
    assert len(all_stages) >= 2, "multi-stage: build in one stage, run from a clean one"
    return all_stages[-1]


def values(stage, keyword: str) -> list[str]:
    return [rest for kw, rest in stage if kw == keyword]


def env_of(stage) -> dict[str, str]:
    env = {}
    for rest in values(stage, "ENV"):
        for pair in shlex.split(rest):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def test_runtime_stage_is_slim_and_built_elsewhere(runtime):
    (base,) = values(runtime, "FROM")
    assert base.split()[0] == "${PYTHON_IMAGE}"
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE.read_text().replace("\n", " ").replace("  ", " ")
    assert any("--from=build" in rest for rest in values(runtime, "COPY"))
    runs = " ".join(values(runtime, "RUN"))
    for tool in ("apt-get", "gcc", "build-essential", "pip install"):
        assert tool not in runs, f"the runtime stage must not install {tool}"


def test_runs_as_the_contract_non_root_user(runtime):
    (user,) = values(runtime, "USER")
    assert user == f"{CONTRACT_UID}:{CONTRACT_UID}"


def test_exposed_port_and_environment_match_the_settings(runtime):
    env = env_of(runtime)
    settings = EngineSettings.from_env({**env, "MODEL_NAME": "ames-price", "MODEL_VERSION": "1"})
    assert values(runtime, "EXPOSE") == [str(DEFAULT_PORT)]
    assert settings.port == DEFAULT_PORT == 8080
    assert settings.host == "0.0.0.0"
    assert str(settings.cache_dir) == "/var/cache/estimation-engine"
    # numba's compiled tree kernel must be cached somewhere writable: the root filesystem is read-only.
    assert env["NUMBA_CACHE_DIR"].startswith(str(settings.cache_dir) + "/")
    # glibc reads its malloc tunables at process start: the image sets the ones serve would re-execute with.
    assert env[VARIABLE] == TUNABLES


def test_entrypoint_and_healthcheck_are_commands_the_cli_accepts(runtime):
    (entrypoint,) = values(runtime, "ENTRYPOINT")
    (command,) = values(runtime, "CMD")
    argv = json.loads(entrypoint) + json.loads(command)
    assert argv[:3] == ["python", "-m", "estimation_engine"]
    assert _parser().parse_args(argv[3:]).run.__name__ == "_serve"
    (healthcheck,) = values(runtime, "HEALTHCHECK")
    probe = json.loads(healthcheck.split("CMD", 1)[1])
    assert probe[:3] == ["python", "-m", "estimation_engine"]
    assert _parser().parse_args(probe[3:]).path == "/health/ready"


def test_image_installs_only_the_engine_dependencies():
    text = DOCKERFILE.read_text()
    assert 'pip install ".[azureml-registry]"' in text
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {
        requirement.split(">")[0].split("<")[0].split("=")[0] for requirement in extras["azureml-registry"]
    }
    assert names == {"azureml-mlflow", "azure-identity"}


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a matched folder covers everything under it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for pattern in patterns:
        body = pattern.removeprefix("!").rstrip("/")
        if body.startswith("**/"):  # any depth: match a single path segment
            hit = any(fnmatch.fnmatch(part, body.removeprefix("**/")) for part in parts)
        else:
            hit = any(fnmatch.fnmatch(prefix, body) for prefix in prefixes)
        if hit:
            result = not pattern.startswith("!")
    return result


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("pyproject.toml", False),
        ("estimation_engine/api/app.py", False),
        ("model_contract/artifact.py", False),
        ("model_contract/registry.py", False),
        ("training/data/ames.csv.gz", True),
        ("training/runner.py", True),
        ("delivery/promote.py", True),
        ("training/__pycache__/artifact.cpython-311.pyc", True),
        ("tests/conftest.py", True),
        ("infra/__main__.py", True),
        (".mlops/mlflow.db", True),
        (".venv/bin/python", True),
        (".git/config", True),
        ("gitops/apps/estimation-engine/overlays/dev/model.env", True),
    ],
)
def test_dockerignore_sends_only_the_engine_sources(path, excluded):
    assert ignored(path, context_patterns()) is excluded


def context_patterns() -> list[str]:
    return [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_the_build_context_holds_the_engine_and_the_contract_package_only():
    """Every file of the checkout that .dockerignore lets into the build context is the engine's, the shared
    contract package's, or the project metadata pip needs; and everything the Dockerfile copies is there."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    sent = {path for path in listed if not ignored(path, context_patterns())}
    allowed = ("estimation_engine/", "model_contract/")
    assert {p for p in sent if not p.startswith(allowed)} == {"pyproject.toml", "README.md"}
    assert any(p.startswith("model_contract/") for p in sent) and "estimation_engine/Dockerfile" in sent
    for keyword, rest in instructions(DOCKERFILE.read_text()):
        if keyword == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                assert any(p == source or p.startswith(source + "/") for p in sent), f"{source} is not sent"
