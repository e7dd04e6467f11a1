"""Settings come from the environment, typed and validated at start, errors naming each variable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from estimation_engine.model.cpu_budget import usable_cpus
from estimation_engine.settings import (
    CacheTrust,
    EngineSettings,
    LoadFailurePolicy,
    UnknownCategoryPolicy,
    unknown_engine_variables,
)
from model_contract.config_error import ConfigError
from model_contract.pins import MODEL_NAME_RULE, MODEL_VERSION_RULE


def test_the_overlay_contract_variables_are_read():
    settings = EngineSettings.from_env(
        {
            "MODEL_NAME": "ames-price",
            "MODEL_VERSION": "7",
            "MLFLOW_TRACKING_URI": "azureml://example/mlflow",
            "ENGINE_MODEL_CACHE_DIR": "/var/cache/estimation-engine",
            "ENGINE_PORT": "8080",
            "ENGINE_MAX_BATCH_SIZE": "250",
            "ENGINE_ON_LOAD_FAILURE": "exit",
            "ENGINE_LOG_LEVEL": "debug",
            "ENGINE_CACHE_TRUST": "cache",
            "ENGINE_UNKNOWN_CATEGORIES": "reject",
            "UNRELATED": "ignored",
        }
    )
    assert (settings.model_name, settings.model_version) == ("ames-price", 7)
    assert settings.cache_dir == Path("/var/cache/estimation-engine")
    assert (settings.port, settings.max_batch_size, settings.log_level) == (8080, 250, "DEBUG")
    assert settings.on_load_failure is LoadFailurePolicy.EXIT
    assert settings.cache_trust is CacheTrust.CACHE
    assert settings.unknown_categories is UnknownCategoryPolicy.REJECT


def test_defaults_are_the_documented_ones():
    settings = EngineSettings.from_env({"MODEL_NAME": "ames-price", "MODEL_VERSION": "1"})
    assert (settings.port, settings.max_batch_size) == (8080, 1000)
    assert settings.on_load_failure is LoadFailurePolicy.STAY_UNREADY
    assert settings.cache_trust is CacheTrust.REGISTRY
    assert settings.tracking_uri is None  # the loader then uses the local default registry
    assert settings.model_threads == 1
    assert 1 <= settings.batch_threads <= 4  # the usable CPUs, at most 4 (usable_cpus: tested below)


def test_empty_version_is_no_model_yet_not_an_error():
    settings = EngineSettings.from_env({"MODEL_NAME": "ames-price", "MODEL_VERSION": ""})
    assert settings.model_version is None


def test_model_path_needs_no_pin():
    assert EngineSettings.from_env({"MODEL_PATH": "/models/ames"}).model_path == Path("/models/ames")


@pytest.mark.parametrize(
    ("env", "fragments"),
    [
        (
            {},
            [
                "MODEL_NAME: not set; allowed: a model name with MODEL_VERSION, or MODEL_PATH to a model folder"
            ],
        ),
        (
            {"MODEL_NAME": "ames-price", "MODEL_VERSION": "latest"},
            [f"MODEL_VERSION: 'latest' is not a version; allowed: {MODEL_VERSION_RULE}"],
        ),
        (
            {"MODEL_NAME": "bad name!", "MODEL_VERSION": "1"},
            [f"MODEL_NAME: 'bad name!' is not a model name; allowed: {MODEL_NAME_RULE}"],
        ),
        (
            {"MODEL_NAME": "m", "MODEL_VERSION": "1", "ENGINE_PORT": "0", "ENGINE_MAX_BATCH_SIZE": "many"},
            [
                "ENGINE_PORT: '0' is below 1; allowed: at least 1",
                "ENGINE_MAX_BATCH_SIZE: 'many' is not a valid integer; allowed: a valid integer",
            ],
        ),
        (
            {"MODEL_NAME": "m", "MODEL_VERSION": "1", "ENGINE_ON_LOAD_FAILURE": "crash"},
            [
                "ENGINE_ON_LOAD_FAILURE: 'crash' is not one of the choices; allowed: one of 'stay-unready' or 'exit'"
            ],
        ),
        (
            {"MODEL_PATH": "/m", "MODEL_SHA256": "abc"},
            ["MODEL_SHA256: 'abc' is not a sha256; allowed: 64 lowercase hex digits (the artifact's sha256)"],
        ),
        (
            {"MODEL_PATH": "/m", "ENGINE_LOG_LEVEL": "loud"},
            ["ENGINE_LOG_LEVEL: 'loud' is not a log level; allowed: DEBUG, INFO, WARNING, ERROR or CRITICAL"],
        ),
        (
            {"MODEL_PATH": "/m", "ENGINE_BATCH_THREADS": "0"},
            ["ENGINE_BATCH_THREADS: '0' is below 1; allowed: at least 1"],
        ),
    ],
)
def test_bad_settings_name_every_offending_variable_one_line_each(env, fragments):
    """Each offending variable is one line of the shape ``<variable>: <what was wrong>; allowed: <...>``."""
    with pytest.raises(ConfigError) as raised:
        EngineSettings.from_env(env)
    assert str(raised.value).splitlines() == fragments


def test_misspelt_engine_variables_are_reported():
    environ = {"ENGINE_PORT": "8080", "ENGINE_MAX_BATCH": "10", "ENGINE_LOGLEVEL": "debug", "OTHER": "x"}
    assert unknown_engine_variables(environ) == ["ENGINE_LOGLEVEL", "ENGINE_MAX_BATCH"]


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("150000 100000\n", 2), ("50000 100000\n", 1), ("max 100000\n", None), ("garbage", None), (None, None)],
)
def test_usable_cpus_follow_the_container_quota_not_the_node(tmp_path, cpu_max, expected):
    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max)
    affinity = len(os.sched_getaffinity(0))
    assert usable_cpus(path) == (min(expected, affinity) if expected else affinity)


def test_the_shadow_comparison_is_on_only_for_another_version_with_the_documented_defaults():
    pinned = {"MODEL_NAME": "ames-price", "MODEL_VERSION": "8"}
    settings = EngineSettings.from_env({**pinned, "SHADOW_MODEL_VERSION": "7"})
    assert settings.shadow_version == 7
    assert settings.shadow_share == 1.0
    assert settings.shadow_moved_thresholds == ("0.05", "0.1", "0.2")
    assert EngineSettings.from_env({**pinned, "SHADOW_MODEL_VERSION": ""}).shadow_version is None
    assert EngineSettings.from_env({**pinned, "SHADOW_MODEL_VERSION": "8"}).shadow_version is None
    assert EngineSettings.from_env(pinned).shadow_version is None
    written = EngineSettings.from_env({**pinned, "ENGINE_SHADOW_MOVED_THRESHOLDS": " 0.10, .2 "})
    assert written.shadow_moved_thresholds == ("0.10", ".2")  # the label values, exactly as written


@pytest.mark.parametrize(
    ("env", "lines"),
    [
        (
            {"SHADOW_MODEL_VERSION": "latest"},
            [f"SHADOW_MODEL_VERSION: 'latest' is not a version; allowed: {MODEL_VERSION_RULE}"],
        ),
        (
            {"ENGINE_SHADOW_SHARE": "1.5", "ENGINE_SHADOW_MOVED_THRESHOLDS": "0.1,ten"},
            [
                "ENGINE_SHADOW_SHARE: '1.5' is above 1.0; allowed: at most 1.0",
                "ENGINE_SHADOW_MOVED_THRESHOLDS: 'ten' is not a number above 0; "
                "allowed: comma-separated numbers above 0, each once, e.g. 0.05,0.1,0.2",
            ],
        ),
        (
            {"ENGINE_SHADOW_MOVED_THRESHOLDS": "0.1,0.1"},
            [
                "ENGINE_SHADOW_MOVED_THRESHOLDS: '0.1,0.1' names a threshold twice or none; "
                "allowed: comma-separated numbers above 0, each once, e.g. 0.05,0.1,0.2"
            ],
        ),
        (
            {"ENGINE_SHADOW_MOVED_THRESHOLDS": "0.1,-0.2"},
            [
                "ENGINE_SHADOW_MOVED_THRESHOLDS: '-0.2' is not a number above 0; "
                "allowed: comma-separated numbers above 0, each once, e.g. 0.05,0.1,0.2"
            ],
        ),
    ],
)
def test_bad_shadow_settings_name_the_variable(env, lines):
    with pytest.raises(ConfigError) as raised:
        EngineSettings.from_env({"MODEL_NAME": "ames-price", "MODEL_VERSION": "8", **env})
    assert str(raised.value).splitlines() == lines


def test_a_shadow_version_beside_a_model_folder_is_refused():
    with pytest.raises(ConfigError, match=r"^SHADOW_MODEL_VERSION: set with MODEL_PATH; allowed: empty"):
        EngineSettings.from_env({"MODEL_PATH": "/m", "SHADOW_MODEL_VERSION": "3"})


def test_shadow_settings_are_known_and_their_misspellings_are_not():
    environ = {
        "ENGINE_SHADOW_SHARE": "0.5",
        "ENGINE_SHADOW_MOVED_THRESHOLDS": "0.1",
        "ENGINE_SHADOW_SHAER": "1",
    }
    assert unknown_engine_variables(environ) == ["ENGINE_SHADOW_SHAER"]
