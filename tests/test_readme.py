"""The README runs: every shell command (code blocks and inline `btedge-...` commands) and every
python code block, with real files of ../shared in place of its placeholder file names.

Commands that need a network or a broker, or that start the whole test suite, are skipped with
the reason in :data:`SKIPPED`; the one ``--offline`` Yahoo command runs and must give the clear
offline error (exit 2)."""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Callable

import pytest

from btedge.cli import EXIT_OK, EXIT_USAGE
from tests.support.shared import require_shared

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: Placeholder file names in the README -> real files of ../shared/data.
PLACEHOLDERS = {
    "prices.csv": ("repos", "intraday", "skender_SPY_1min_2020-12-15_18.csv"),
    # fewer bars than the command's --train-bars: its whole path runs, no fold trains (training is
    # tested in tests/training and tests/indicators; a trained run here takes minutes)
    "btc_1min.csv": ("repos", "intraday", "skender_SPY_1min_2020-12-15_18.csv"),
    "etfs.csv.gz": ("repos", "daily", "arbitragelab_23etfs_2008-2016.csv.gz"),
    "closes.csv": ("repos", "daily", "arbitragelab_100stocks_2017-2020.csv.gz"),
}
#: Command prefixes not run, and why.
SKIPPED = {
    "make test": "runs this test suite (CI runs it)",
    "make demo": "the same as btedge-backtest --demo, run by tests/test_run_backtest.py::test_demo_writes_reports",
    "btedge-live": "needs TWS / IB Gateway (the live tests run it against the fake gateway)",
    "python -m btedge.testkit.fakegateway": "a server that runs until stopped (the live tests start it)",
    "btedge-dashboard": "a Streamlit server that runs until stopped (tests/dashboard drives it with AppTest)",
}
#: Commands that must fail with a clear message instead of succeeding, and that message.
EXPECTED_ERRORS = {"--data SPY --from 2020-01-01 --offline": "offline"}


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def _shell_commands() -> list[str]:
    commands = []
    for block in _blocks("bash"):
        text = block.replace("\\\n", " ")
        commands += [line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()]
    commands += re.findall(r"`((?:btedge-[a-z]+|python -m btedge[.\w]*) [^`]+)`", README.read_text())
    return [expanded for command in commands for expanded in _expand(command)]


def _expand(command: str) -> list[str]:
    """``btedge-universe {kmeans,dtw} ...`` -> one command per choice."""
    match = re.search(r"\{([\w,]+)\}", command)
    if not match:
        return [command]
    return [command[: match.start()] + choice + command[match.end():] for choice in match.group(1).split(",")]


def _main(program: str) -> Callable[[list[str]], int]:
    from btedge.run_backtest import main as backtest
    from btedge.sweeps.cli import main as sweep
    from btedge.universe import main as universe

    return {"btedge-backtest": backtest, "btedge-universe": universe, "btedge-sweep": sweep}[program]


def _argv(command: str) -> list[str]:
    words = shlex.split(command)
    return [str(require_shared(*PLACEHOLDERS[w])) if w in PLACEHOLDERS else w for w in words[1:]]


def test_readme_lists_what_this_test_runs() -> None:
    commands = _shell_commands()
    assert len(commands) >= 9 and len(_blocks("python")) >= 1
    unknown = [c for c in commands if not c.startswith(tuple(SKIPPED)) and c.split()[0] not in
               {"btedge-backtest", "btedge-universe", "btedge-sweep"}]
    assert not unknown, f"README commands this test cannot run: {unknown}"


@pytest.mark.slow
@pytest.mark.parametrize("command", _shell_commands(), ids=lambda c: c[:60])
def test_readme_shell_command_runs(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    reason = next((why for prefix, why in SKIPPED.items() if command.startswith(prefix)), None)
    if reason:
        pytest.skip(reason)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BTEDGE_CACHE", str(tmp_path / "cache"))
    argv = _argv(command)
    code = _main(command.split()[0])(argv)
    err = capsys.readouterr().err
    expected = next((msg for part, msg in EXPECTED_ERRORS.items() if part in command), None)
    if expected:
        assert code == EXIT_USAGE and expected in err and "Traceback" not in err
    else:
        assert code == EXIT_OK, err


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_readme_python_block_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    exec(compile(_blocks("python")[index], f"README.md python block {index}", "exec"), {})
    assert capsys.readouterr().out.strip()
