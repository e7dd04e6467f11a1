"""The command line: input errors exit 2 with one line naming the culprit; pins print sourceable lines."""

from training.cli import main


def test_a_missing_config_exits_2_with_the_file_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "state"))
    assert main(["run", "--env", "dev", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path / 'nope.yaml'}: config file not found; allowed: a training config YAML file"
    )


def test_a_command_that_moved_to_delivery_says_so_on_one_line_and_runs_there(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "state"))
    assert main(["pins", "--env", "qa"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "MODEL_NAME=ames-price\nMODEL_VERSION=\n"  # still sourceable
    assert captured.err.splitlines() == [
        "note: `python -m training pins` moved to `python -m delivery pins`; this alias goes in the next release"
    ]
