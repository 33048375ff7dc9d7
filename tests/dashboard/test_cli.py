"""btedge-dashboard's command line: help, version, one clear error per bad option, the command."""
from __future__ import annotations

import pytest

from btedge.dashboard import cli
from btedge.dashboard.settings import Settings


def test_help_explains_each_option(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for flag, words in {"--journal": "read-only", "--runs": "returns.csv", "--port": "free one", "--panel": "screener",
                        "--refresh": "seconds", "--news-url": "{symbol}", "--news-dir": "cache",
                        "--host": "127.0.0.1", "--watch": "redraw", "--version": "version"}.items():
        assert flag in out and words in out, flag


def test_version(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.startswith("btedge-dashboard ")


@pytest.mark.parametrize("argv, message", [
    (["--port", "70000"], "--port 70000"),
    (["--refresh", "0"], "--refresh 0"),
    (["--watch", "-1"], "--watch -1.0"),
    (["--runs", "/no/such/folder"], "--runs /no/such/folder: no such folder"),
    (["--panel", "/no/such.csv"], "--panel /no/such.csv: no such file"),
    (["--news-url", "http://x/feed"], "needs {symbol}"),
])
def test_bad_options_are_one_clear_error(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("btedge-dashboard: error: ") and message in err and len(err.splitlines()) == 1


def test_journal_folder_names_the_files_in_it(tmp_path, capsys):
    (tmp_path / "run.DU1.sqlite").touch()
    assert cli.main(["--journal", str(tmp_path)]) == 2
    assert "run.DU1.sqlite" in capsys.readouterr().err


def test_command_and_settings_reach_the_app(tmp_path):
    args = cli.build_parser().parse_args(["--journal", str(tmp_path / "j.sqlite"), "--port", "8600",
                                          "--refresh", "1.5", "--news-url", "", "--watch", "0"])
    command = cli.command(args, 8600)
    assert command[1:4] == ["-m", "btedge.dashboard.serve", "run"] and command[4].endswith("app.py")
    assert "--server.headless" in command and "8600" in command
    env = cli.settings(args).to_env()
    got = Settings.from_env(env)
    assert got.journal == str(tmp_path / "j.sqlite") and got.refresh == 1.5 and got.news_url == "" and got.watch == 0.0
