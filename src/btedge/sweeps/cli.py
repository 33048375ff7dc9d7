"""``btedge-sweep``: a strategy over a parameter grid, lookbacks and start offsets, with DSR and PBO."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from btedge.engine import BacktestConfig

log = logging.getLogger(__name__)

DESCRIPTION = """\
Backtest a registered strategy over every combination of --grid values, on several data
windows (--lookbacks, plus --offsets seeded random start offsets each), then rank the
parameter sets by Sharpe, drawdown and turnover, and report the deflated Sharpe ratio and the
probability of backtest overfitting (PBO, CSCV) for the N parameter sets tried, with a bootstrap
of the best set's trade returns. Runs serially, on all local cores (--mode local) or on a Dask
cluster (--mode dask --address tcp://HOST:8786); all three give identical results.

Writes to --out: runs.parquet / runs.csv (one row per backtest), ranking.csv,
base_window_returns.parquet, buy_and_hold.csv (the same windows held long, same costs),
sharpe_heatmap.png, summary.md and summary.html.

examples:
  btedge-sweep --strategy laguerre_cross --sample --bars 3000 \\
      --grid gamma_fast=0.1:0.4:0.1 --grid gamma_slow=0.6,0.7,0.8 --lookbacks all,1500 --offsets 2
  btedge-sweep --strategy laguerre_trend --data prices.csv --grid gamma=0.5:0.9:0.1 \\
      --mode dask --address tcp://127.0.0.1:8786
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="btedge-sweep", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    what = parser.add_argument_group("what to sweep")
    what.add_argument("--strategy", required=True, help="registered strategy name (btedge-backtest --list)")
    what.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2|START:STOP:STEP",
                      help="param values to try (stop inclusive); repeat per param")
    what.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                      help="param held fixed in every run; repeatable")
    what.add_argument("--data", action="append", default=[], type=Path, help="OHLCV CSV; repeat for multi-asset")
    what.add_argument("--symbol", help="symbol to pick from a long-format file")
    what.add_argument("--sample", action="store_true", help="use the embedded BTC-USD 1 h sample")
    what.add_argument("--bars", type=int, help="use only the first N bars of the data")
    windows = parser.add_argument_group("windows")
    windows.add_argument("--lookbacks", default="all", help="window lengths in bars, 'all' = to the end (default all)")
    windows.add_argument("--offsets", type=int, default=0, help="random start offsets per lookback (default 0)")
    windows.add_argument("--max-offset-frac", type=float, default=0.25, help="offset range for 'all' (default 0.25)")
    windows.add_argument("--seed", type=int, default=0, help="seed of offsets and bootstrap (default 0)")
    run = parser.add_argument_group("execution and statistics")
    run.add_argument("--mode", choices=["serial", "local", "dask"], default="local", help="default: local")
    run.add_argument("--workers", type=int, help="local processes (default: all cores)")
    run.add_argument("--address", help="Dask scheduler address for --mode dask, e.g. tcp://127.0.0.1:8786")
    run.add_argument("--blocks", type=int, default=16, help="CSCV blocks for PBO, even (default 16)")
    run.add_argument("--bootstrap", type=int, default=2000, help="trade bootstrap resamples (default 2000)")
    run.add_argument("--commission", type=float, default=0.0005, help="fraction per side (default 0.0005)")
    run.add_argument("--slippage", type=float, default=0.0001, help="fraction (default 0.0001)")
    run.add_argument("--cash", type=float, default=100_000.0, help="starting cash (default 100000)")
    run.add_argument("--out", type=Path, default=Path("reports/sweep"), help="output folder (default reports/sweep)")
    run.add_argument("--no-benchmark", action="store_true", help="skip buy-and-hold of each window")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return parser


def _grid(cls: type, items: Sequence[str]) -> dict[str, list[Any]]:
    from btedge.strategies import parse_params
    from btedge.sweeps.grid import parse_values

    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--grid expects KEY=V1,V2 or KEY=START:STOP:STEP, got {item!r}")
        key = key.strip()
        grid[key] = [parse_params(cls, [f"{key}={value}"])[key] for value in parse_values(text)]
    if not grid:
        raise ValueError("give at least one --grid KEY=VALUES")
    return grid


def _lookbacks(text: str) -> list[int | None]:
    out: list[int | None] = []
    for part in text.split(","):
        part = part.strip().lower()
        if part in {"all", "none", ""}:
            out.append(None)
        elif part.isdigit():
            out.append(int(part))
        else:
            raise ValueError(f"--lookbacks: {part!r} is neither a bar count nor 'all'")
    return out


def _frames(args: argparse.Namespace) -> list[tuple[str, pd.DataFrame]]:
    from btedge.feeds import load_csv, sample_data

    if args.sample == bool(args.data):
        raise ValueError("give either --sample or --data PATH (not both, not neither)")
    frames = [("BTCUSD", sample_data())] if args.sample else [
        (path.name.split(".")[0], load_csv(path, symbol=args.symbol)) for path in args.data
    ]
    if args.bars is not None:
        frames = [(name, df.iloc[: args.bars]) for name, df in frames]
    return frames


def _run(args: argparse.Namespace) -> list[str]:
    from btedge.strategies import get_strategy, parse_params
    from btedge.sweeps.analysis import analyse_sweep
    from btedge.sweeps.report import stat_lines, write_report
    from btedge.sweeps.runner import run_sweep

    cls = get_strategy(args.strategy)
    grid, fixed = _grid(cls, args.grid), parse_params(cls, args.param)
    config = BacktestConfig(cash=args.cash, commission=args.commission, slippage=args.slippage, benchmark=False)
    result = run_sweep(
        cls, _frames(args), grid, fixed=fixed, lookbacks=_lookbacks(args.lookbacks), n_offsets=args.offsets,
        seed=args.seed, max_offset_frac=args.max_offset_frac, config=config, mode=args.mode,
        workers=args.workers, address=args.address, progress=not args.no_progress,
        benchmark=not args.no_benchmark,
    )
    analysis = analyse_sweep(result, n_blocks=args.blocks, n_boot=args.bootstrap)
    paths = write_report(result, analysis, args.out)
    lines = [line.replace("**", "") for line in stat_lines(result, analysis)]
    return [*lines, f"report: {paths['html']}"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``btedge-sweep``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        lines = _run(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"btedge-sweep: error: {exc}")
        return 2
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
