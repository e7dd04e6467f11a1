"""``python -m delivery``: input errors exit 2 with one line naming the culprit; pins print sourceable lines."""

from delivery.cli import main


def test_pins_prints_env_lines_from_the_remote_default_branch(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "state"))
    assert main(["pins", "--env", "qa"]) == 0
    assert capsys.readouterr().out == "MODEL_NAME=ames-price\nMODEL_VERSION=\n"


def test_merging_a_pull_request_that_does_not_exist_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "state"))
    assert main(["merge", "12"]) == 2
    assert "pull request #12 does not exist" in capsys.readouterr().err


def test_an_unknown_provider_setting_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("GITOPS_PROVIDER", "svn")
    assert main(["promote", "--from", "dev", "--to", "qa"]) == 2
    assert capsys.readouterr().err == (
        "error: GITOPS_PROVIDER: 'svn' is not one of the choices; allowed: local, github or azure-repos\n"
    )
