"""The training config: the shipped file loads; every kind of mistake is refused naming the key."""

from pathlib import Path

import pytest
import yaml

from model_contract.config_error import ConfigError
from training.config import DEFAULT_CONFIG, load_config


def test_the_shipped_config_loads_with_the_documented_defaults():
    config = load_config()
    assert config.model_name == "ames-price"
    assert config.data.source == "builtin:ames"
    assert config.gate.metric == "rmse_log" and config.gate.direction == "minimize"
    assert config.intervals.coverage == 0.9


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    mutate(raw)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("mutate", "key", "wrong"),
    [
        (lambda c: c.update(modle_name="x"), "modle_name", "unknown key"),
        (lambda c: c["data"].update(targt="Sale_Price"), "data.targt", "unknown key"),
        (lambda c: c["data"].pop("target"), "data.target", "not set"),
        (lambda c: c["data"].update(min_rows="200"), "data.min_rows", "'200' is not a valid integer"),
        (lambda c: c["split"].update(test_fraction=0.7), "split.test_fraction", "0.7 is not below 0.5"),
        (
            lambda c: c["model"]["estimators"][0].update(kind="xgboost"),
            "model.estimators.0.kind",
            "'xgboost' is not one",
        ),
        (
            lambda c: c["model"]["estimators"][1].update(weight=-1),
            "model.estimators.1.weight",
            "-1 is not above 0",
        ),
        (
            lambda c: c["gate"].update(direction="maximize"),
            "gate",
            "direction 'maximize' for metric rmse_log",
        ),
        (
            lambda c: c["gate"].update(metric="accuracy"),
            "gate.metric",
            "'accuracy' is not one of the choices",
        ),
        (lambda c: c["intervals"].update(coverage=1.5), "intervals.coverage", "1.5 is not below 1.0"),
        (
            lambda c: c["derived_features"].update(Bad={"sum": ["A"]}),
            "derived_features.Bad",
            "'sum' has 1 column",
        ),
        (lambda c: c["data"]["types"].update(Lot_Area="text"), "data.types.Lot_Area", "'text' is not one"),
    ],
)
def test_bad_configs_are_refused_naming_the_file_and_key_in_the_one_shape(tmp_path, mutate, key, wrong):
    path = _write(tmp_path, mutate)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    (line,) = str(raised.value).splitlines()
    assert line.startswith(f"{path}:{key}: {wrong}") and "; allowed: " in line, line


def test_every_mistake_of_a_config_is_reported_at_once_one_line_each(tmp_path):
    def two_mistakes(config):
        config["gate"].update(metric="accuracy")
        config["intervals"].update(coverage=1.5)

    with pytest.raises(ConfigError) as raised:
        load_config(_write(tmp_path, two_mistakes))
    assert [problem.key.rpartition(":")[2] for problem in raised.value.problems] == [
        "intervals.coverage", "gate.metric",
    ]  # fmt: skip


def test_a_missing_or_unparsable_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("model_name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")


def test_the_config_digest_ignores_where_the_file_lives(tmp_path):
    copy = tmp_path / "elsewhere" / "config.yaml"
    copy.parent.mkdir()
    copy.write_text(DEFAULT_CONFIG.read_text())
    assert load_config(copy).digest() == load_config().digest()
