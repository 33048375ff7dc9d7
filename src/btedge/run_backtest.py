"""``btedge-backtest``: run a registered strategy on CSV files or Yahoo tickers and report it.

Examples::

    btedge-backtest --demo
    btedge-backtest --list
    btedge-backtest --strategy laguerre_cross --data prices.csv --param gamma_fast=0.3 \\
        --commission 0.0005 --slippage 0.0001 --report reports/run.html
    btedge-backtest --strategy pairs --data KO.csv --data PEP.csv
"""
from __future__ import annotations

import argparse
import ctypes
import dataclasses
import gc
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from btedge.cli import (
    UsageError,
    add_common_options,
    add_data_options,
    load_options,
    param_list,
    resolve_strategy,
    run_cli,
    setup_logging,
    strategy_list,
)
from btedge.engine import BacktestConfig, BacktestResult, run_backtest
from btedge.feeds.yahoo import INTERVALS
from btedge.strategies.registry import datas_needed, param_defaults

log = logging.getLogger(__name__)

DEMO_STRATEGY = "laguerre_cross"
DEMO_REPORT = Path("reports") / "demo_tearsheet.html"
_COSTS = BacktestConfig()  # the one source of the cost defaults shown in --help


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="btedge-backtest",
        description=(
            "Backtest a btedge strategy with commission and slippage, print its metrics beside "
            "buy-and-hold of the same data, and write a quantstats HTML tear sheet and an "
            "equity/drawdown PNG."
        ),
        epilog="Strategy names: --list. Strategy params: --list-params NAME.",
    )
    what = parser.add_argument_group("what to run")
    what.add_argument("--strategy", default=DEMO_STRATEGY, help="registered strategy name (default: %(default)s)")
    what.add_argument(
        "--data", action="append", default=[], metavar="PATH|TICKER",
        help="OHLCV CSV file (most layouts; .gz ok), a wide close panel (one column per symbol), or a Yahoo "
        "ticker (cached; --offline needs the cache). Repeat for multi-asset strategies.",
    )
    what.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                      help="strategy param, typed like its default; repeatable (see --list-params NAME)")
    what.add_argument("--train-bars", type=int, help="ML strategies: bars in each training window")
    what.add_argument("--retrain-every", type=int, help="ML strategies: bars between retrains")
    what.add_argument("--interval", default="1d", choices=list(INTERVALS), metavar="INTERVAL",
                      help=f"Yahoo bar interval for tickers, one of {', '.join(INTERVALS)} (default: %(default)s)")
    what.add_argument("--offline", action="store_true", help="never download: tickers must be cached")
    what.add_argument("--demo", action="store_true",
                      help=f"run {DEMO_STRATEGY} on the embedded BTC-USD 1h sample and write reports/")
    add_data_options(parser)

    broker = parser.add_argument_group("broker")
    broker.add_argument("--cash", type=float, help=f"starting cash (default: {_COSTS.cash:g})")
    broker.add_argument("--commission", type=float,
                        help=f"fraction of traded value per side (default: {_COSTS.commission:g})")
    broker.add_argument("--slippage", type=float,
                        help=f"fraction fills move against you, opens included (default: {_COSTS.slippage:g})")
    broker.add_argument("--benchmark", metavar="NAME",
                        help="data to hold as the buy-and-hold benchmark (default: the first --data)")
    broker.add_argument("--engine", choices=["backtrader", "vector"], default="backtrader",
                        help="vector: btedge.vector's simulator for a quick look (equal figures, built-in "
                             "single-asset strategies; others run in backtrader) (default: %(default)s)")
    broker.add_argument("--periods-per-year", type=float, help="annualisation override (default: inferred)")

    out = parser.add_argument_group("output")
    out.add_argument("--report", type=Path, help="write the quantstats HTML tear sheet here")
    out.add_argument("--plot", type=Path, help="write the equity/drawdown PNG here (default: beside --report)")
    out.add_argument("--json", type=Path, help="write the metrics as JSON here")
    out.add_argument("--list", action="store_true", help="list strategy names and what they do, and exit")
    out.add_argument("--list-params", metavar="NAME",
                     help="list a strategy's params (meaning, type, default, allowed values) and exit")
    add_common_options(parser)
    return parser


def _strategy(args: argparse.Namespace) -> tuple[type, dict[str, Any]]:
    """The strategy and its typed params, checked before any data is read."""
    cls, params = resolve_strategy(args.strategy, args.param)
    for flag, key in (("train_bars", "train_bars"), ("retrain_every", "retrain_every")):
        value = getattr(args, flag)
        if value is None:
            continue
        if key not in param_defaults(cls):
            raise UsageError(f"--{flag.replace('_', '-')}: strategy {args.strategy!r} is not trained (no {key} param)")
        params[key] = value
    return cls, params


def _config(args: argparse.Namespace) -> BacktestConfig:
    costs = {k: getattr(args, k) for k in ("cash", "commission", "slippage") if getattr(args, k) is not None}
    try:
        return BacktestConfig(**costs, periods_per_year=args.periods_per_year, benchmark_name=args.benchmark)
    except ValueError as exc:
        flag = next((f"--{k}" for k in ("commission", "slippage", "cash") if str(exc).startswith(k)), "--cash")
        raise UsageError(f"{flag}: {exc}") from None


def _check_benchmark(args: argparse.Namespace, names: list[str]) -> None:
    if args.benchmark is not None and args.benchmark not in names:
        raise UsageError(f"--benchmark: benchmark {args.benchmark!r} is not among the datas: {', '.join(names)}. "
                         "Fix: pass --benchmark one of them")


def _frames(args: argparse.Namespace) -> list[tuple[str, Any]]:
    from btedge.feeds.resolve import pick_single, resolve_datas

    if args.demo:
        from btedge.feeds import sample_data

        args.report = args.report or DEMO_REPORT
        return [("BTC-USD", sample_data())]
    if not args.data:
        raise UsageError("give --data PATH|TICKER (or --demo); see --help")
    frames = resolve_datas(args.data, load_options(args))
    _release_reader_memory()
    low, high = datas_needed(args.strategy)
    if high == 1:
        return pick_single(frames, args.strategy)
    if len(frames) < low:
        raise UsageError(f"strategy {args.strategy!r} needs at least {low} datas, got {len(frames)}. "
                         "Fix: repeat --data, or give a panel file")
    return frames


def _print_result(result: BacktestResult, title: str) -> None:
    from rich.console import Console

    from btedge.report import metrics_table

    Console().print(metrics_table(result.metrics, result.trades, result.benchmark_metrics, title=title))


def _release_reader_memory() -> None:
    """Hand back what reading the CSV freed, before the run: pandas reads the text as pyarrow strings,
    and pyarrow keeps what it frees in its own pool (130 MB per million rows), glibc's malloc the
    parser's other temporaries (60 MB); the run could reuse neither (it allocates elsewhere)."""
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:
        pyarrow.default_memory_pool().release_unused()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim this way
        pass


def _write_run_files(args: argparse.Namespace, result: BacktestResult) -> None:
    """The metrics JSON and the dashboard's run files (the fills and closes come from the backtrader
    strategy, or from the result of a vector run)."""
    from btedge.dashboard.runs import write_run_files
    from btedge.report import to_json

    if not args.json:
        return
    args.json.parent.mkdir(parents=True, exist_ok=True)
    payload = {"strategy": result.metrics, "trades": result.trades, "buy_and_hold": result.benchmark_metrics}
    args.json.write_text(to_json(payload))
    print(f"metrics JSON: {args.json}")
    for path in write_run_files(result, args.json):  # returns/trades beside the JSON (btedge-dashboard)
        print(f"run file: {path}")


def _write_charts(args: argparse.Namespace, result: BacktestResult, title: str) -> None:
    """The tear sheet (``--report``) and the equity/drawdown PNG (``--plot``, default beside it)."""
    from btedge.report import plot_equity_drawdown, write_tearsheet

    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        write_tearsheet(result.returns, result.benchmark_returns, args.report, title=title,
                        periods_per_year=args.periods_per_year, table=result.metrics, trades=result.trades)
        print(f"tear sheet: {args.report}")
    plot = args.plot or (args.report.with_suffix(".png") if args.report else None)
    if plot:
        plot.parent.mkdir(parents=True, exist_ok=True)
        plot_equity_drawdown(result.returns, result.benchmark_returns, plot, title=title)
        print(f"equity/drawdown plot: {plot}")


def run(args: argparse.Namespace) -> int:
    if args.list:
        print("\n".join(strategy_list()))
        return 0
    if args.list_params:
        print("\n".join(param_list(args.list_params)))
        return 0
    cls, params = _strategy(args)
    config = _config(args)
    frames = _frames(args)
    _check_benchmark(args, [name for name, _ in frames])
    names = ", ".join(name for name, _ in frames)
    log.info("running %s on %s with %s", args.strategy, names, params or "default params")
    if args.engine == "vector":
        from btedge.vector.engine import vector_backtest

        result = vector_backtest(cls, frames, params, config)
    else:
        result = run_backtest(cls, frames, params, config)
    del frames
    title = f"{args.strategy} on {names}"
    _print_result(result, title)
    _write_run_files(args, result)
    # the run files were the strategy's last use: free cerebro (its lines and every order, half a GB
    # at a million bars) so the tear sheet and the chart reuse its memory; cerebro, strategy and
    # feeds reference each other, so only the collector frees them
    result = dataclasses.replace(result, strategy=None)
    gc.collect()
    _write_charts(args, result, title)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status (2 for bad input, see :mod:`btedge.cli`)."""
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run_cli("btedge-backtest", lambda: run(args))


if __name__ == "__main__":
    raise SystemExit(main())
