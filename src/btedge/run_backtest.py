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
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from btedge import __version__
from btedge.engine import BacktestConfig, BacktestResult, run_backtest
from btedge.feeds import OfflineDataError
from btedge.strategies import available, get_strategy, parse_params
from btedge.strategies.registry import param_defaults

log = logging.getLogger(__name__)

DEMO_STRATEGY = "laguerre_cross"
DEMO_REPORT = Path("reports") / "demo_tearsheet.html"
_TICKER = re.compile(r"^[A-Za-z0-9^=.\-]{1,20}$")


class UsageError(Exception):
    """A problem with the command line or its inputs; printed without a traceback."""


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
        help="CSV file (any layout in ../shared/data; .gz ok) or a Yahoo ticker (cached; "
        "offline needs the cache). Repeat for multi-asset strategies.",
    )
    what.add_argument("--symbol", help="symbol to pick from a long-format file (e.g. a 'pair' column)")
    what.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                      help="strategy param, typed like its default; repeatable")
    what.add_argument("--train-bars", type=int, help="ML strategies: bars in each training window")
    what.add_argument("--retrain-every", type=int, help="ML strategies: bars between retrains")
    what.add_argument("--from", dest="fromdate", help="first timestamp to use (e.g. 2019-01-01)")
    what.add_argument("--to", dest="todate", help="last timestamp to use")
    what.add_argument("--interval", default="1d", help="Yahoo bar interval for tickers (default: %(default)s)")
    what.add_argument("--offline", action="store_true", help="never download: tickers must be cached")
    what.add_argument("--demo", action="store_true",
                      help=f"run {DEMO_STRATEGY} on the embedded BTC-USD 1h sample and write reports/")

    broker = parser.add_argument_group("broker")
    broker.add_argument("--cash", type=float, default=100_000.0, help="starting cash (default: %(default)s)")
    broker.add_argument("--commission", type=float, default=0.0005,
                        help="fraction of traded value per side (default: %(default)s = 5 bps)")
    broker.add_argument("--slippage", type=float, default=0.0001,
                        help="fraction fills move against you, opens included (default: %(default)s)")
    broker.add_argument("--benchmark", metavar="NAME",
                        help="data to hold as the buy-and-hold benchmark (default: the first --data)")
    broker.add_argument("--periods-per-year", type=float, help="annualisation override (default: inferred)")

    out = parser.add_argument_group("output")
    out.add_argument("--report", type=Path, help="write the quantstats HTML tear sheet here")
    out.add_argument("--plot", type=Path, help="write the equity/drawdown PNG here (default: beside --report)")
    out.add_argument("--json", type=Path, help="write the metrics as JSON here")
    out.add_argument("--list", action="store_true", help="list strategy names and exit")
    out.add_argument("--list-params", metavar="NAME", help="list a strategy's params and defaults and exit")
    out.add_argument("-v", "--verbose", action="count", default=0, help="-v: info logs, -vv: debug (orders)")
    parser.add_argument("--version", action="version", version=f"btedge {__version__}")
    return parser


def load_datas(
    specs: Sequence[str], *, symbol: str | None = None, interval: str = "1d", offline: bool = False,
    fromdate: str | None = None, todate: str | None = None,
) -> list[tuple[str, pd.DataFrame]]:
    """Resolve each ``--data`` spec into (name, validated OHLCV frame).

    A wide close-only file (a date column and one close column per symbol) expands to one
    close-only frame per column, or per symbol of ``symbol="A,B"``. Several frames are
    restricted to their common timestamps, so multi-asset strategies see aligned bars.
    """
    from btedge.feeds import align_frames, load_csv, load_panel, yahoo_frame
    from btedge.feeds.panel import is_panel

    frames = []
    for spec in specs:
        path = Path(spec)
        if path.is_file() and is_panel(path):
            columns = [s for s in symbol.split(",") if s.strip()] if symbol else None
            for name, df in load_panel(path, columns=columns).items():
                frames.append((name, _slice(df, fromdate, todate, f"{spec}:{name}")))
            continue
        if path.exists():
            df = load_csv(path, symbol=symbol)
            name = symbol or path.name.split(".")[0]
        elif _TICKER.match(spec) and "/" not in spec:
            if not fromdate:
                raise UsageError(f"--data {spec}: a ticker needs --from (and optionally --to, default today)")
            end = todate or pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d")
            df = yahoo_frame(spec, start=fromdate, end=end, interval=interval, offline=offline or None)
            name = spec
        else:
            raise UsageError(f"--data {spec!r}: no such file, and not a ticker symbol")
        frames.append((name, _slice(df, fromdate, todate, spec)))
    return align_frames(frames) if len(frames) > 1 else frames


def _slice(df: pd.DataFrame, fromdate: str | None, todate: str | None, spec: str) -> pd.DataFrame:
    try:
        out = df.loc[pd.Timestamp(fromdate) if fromdate else None: pd.Timestamp(todate) if todate else None]
    except ValueError as exc:
        raise UsageError(f"--from/--to: {exc}") from None
    if out.empty:
        raise UsageError(f"--data {spec}: no bars between --from {fromdate} and --to {todate} "
                         f"(the file spans {df.index[0]} .. {df.index[-1]})")
    return out


def _strategy_params(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    params = parse_params(cls, args.param)
    for flag, key in (("train_bars", "train_bars"), ("retrain_every", "retrain_every")):
        value = getattr(args, flag)
        if value is None:
            continue
        if key not in param_defaults(cls):
            raise UsageError(f"--{flag.replace('_', '-')}: strategy {args.strategy!r} is not trained (no {key} param)")
        params[key] = value
    return params


def _print_result(result: BacktestResult, title: str) -> None:
    from rich.console import Console

    from btedge.report import metrics_table

    Console().print(metrics_table(result.metrics, result.trades, result.benchmark_metrics, title=title))


def _write_outputs(args: argparse.Namespace, result: BacktestResult, title: str) -> None:
    from btedge.report import plot_equity_drawdown, write_tearsheet

    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        write_tearsheet(result.returns, result.benchmark_returns, args.report, title=title)
        print(f"tear sheet: {args.report}")
    plot = args.plot or (args.report.with_suffix(".png") if args.report else None)
    if plot:
        plot.parent.mkdir(parents=True, exist_ok=True)
        plot_equity_drawdown(result.returns, result.benchmark_returns, plot, title=title)
        print(f"equity/drawdown plot: {plot}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"strategy": result.metrics, "trades": result.trades, "buy_and_hold": result.benchmark_metrics}
        args.json.write_text(json.dumps(payload, indent=2, default=str))
        print(f"metrics JSON: {args.json}")


def _list(args: argparse.Namespace) -> int:
    if args.list_params:
        cls = get_strategy(args.list_params)
        print(f"{args.list_params} ({cls.__module__}.{cls.__name__})")
        for key, default in param_defaults(cls).items():
            print(f"  {key} = {default!r}")
        return 0
    for name, cls in available().items():
        doc = (cls.__doc__ or "").strip().splitlines()
        print(f"{name:20s} {doc[0] if doc else cls.__name__}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.list or args.list_params:
        return _list(args)
    if args.demo:
        from btedge.feeds import sample_data

        frames = [("BTC-USD", sample_data())]
        args.report = args.report or DEMO_REPORT
    else:
        if not args.data:
            raise UsageError("give --data PATH|TICKER (or --demo); see --help")
        frames = load_datas(args.data, symbol=args.symbol, interval=args.interval, offline=args.offline,
                            fromdate=args.fromdate, todate=args.todate)
    cls = get_strategy(args.strategy)
    params = _strategy_params(args, cls)
    config = BacktestConfig(cash=args.cash, commission=args.commission, slippage=args.slippage,
                            periods_per_year=args.periods_per_year, benchmark_name=args.benchmark)
    names = ", ".join(name for name, _ in frames)
    log.info("running %s on %s with %s", args.strategy, names, params or "default params")
    result = run_backtest(cls, frames, params, config)
    title = f"{args.strategy} on {names}"
    _print_result(result, title)
    _write_outputs(args, result, title)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status (2 for bad input)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except (UsageError, ValueError, FileNotFoundError, KeyError, OfflineDataError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"btedge-backtest: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
