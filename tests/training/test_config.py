"""The training config: the shipped file loads; every kind of mistake is refused naming the key."""

from pathlib import Path

import pytest
import yaml

from training.config import DEFAULT_CONFIG, ConfigError, load_config


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
    ("mutate", "message"),
    [
        (lambda c: c.update(modle_name="x"), "unknown key 'modle_name'"),
        (lambda c: c["data"].update(targt="Sale_Price"), "unknown key 'data.targt'"),
        (lambda c: c["data"].pop("target"), "missing key 'data.target'"),
        (lambda c: c["data"].update(min_rows="200"), "'data.min_rows': Input should be a valid integer"),
        (lambda c: c["split"].update(test_fraction=0.7), "'split.test_fraction'"),
        (lambda c: c["model"]["estimators"][0].update(kind="xgboost"), "'model.estimators.0.kind'"),
        (lambda c: c["model"]["estimators"][1].update(weight=-1), "'model.estimators.1.weight'"),
        (lambda c: c["gate"].update(direction="maximize"), "metric rmse_log must be minimized"),
        (lambda c: c["gate"].update(metric="accuracy"), "'gate.metric'"),
        (lambda c: c["intervals"].update(coverage=1.5), "'intervals.coverage'"),
        (lambda c: c["derived_features"].update(Bad={"sum": ["A"]}), "'sum' needs at least two columns"),
        (lambda c: c["data"]["types"].update(Lot_Area="text"), "'data.types.Lot_Area'"),
    ],
)
def test_bad_configs_are_refused_naming_the_key(tmp_path, mutate, message):
    path = _write(tmp_path, mutate)
    with pytest.raises(ConfigError, match=message) as raised:
        load_config(path)
    assert str(path) in str(raised.value)


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
