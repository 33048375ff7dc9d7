"""``btedge-sweep``: a strategy over a parameter grid, lookbacks and start offsets, with DSR and PBO."""
from __future__ import annotations

import argparse
import logging
import socket
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlparse

import pandas as pd

from btedge.cli import (
    UsageError,
    add_common_options,
    add_data_options,
    load_options,
    resolve_strategy,
    run_cli,
    setup_logging,
)
from btedge.engine import BacktestConfig

log = logging.getLogger(__name__)

_COSTS = BacktestConfig()  # the one source of the cost defaults shown in --help
#: Argument names of run_sweep / analyse_sweep -> the flags that set them (for error messages).
FLAGS = {"lookback": "--lookbacks", "n_offsets": "--offsets", "n_boot": "--bootstrap",
         "max_offset_frac": "--max-offset-frac", "n_blocks": "--blocks", "workers": "--workers"}
#: Seconds to wait for a Dask scheduler to accept a connection before giving up.
DASK_CONNECT_TIMEOUT = 3.0

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
    what.add_argument("--data", action="append", default=[], metavar="PATH",
                      help="OHLCV CSV or wide close panel (as btedge-backtest reads); repeat for multi-asset")
    what.add_argument("--sample", action="store_true", help="use the embedded BTC-USD 1 h sample")
    what.add_argument("--bars", type=int, help="use only the first N bars of the data")
    windows = parser.add_argument_group("windows")
    windows.add_argument("--lookbacks", default="all", help="window lengths in bars, 'all' = to the end (default all)")
    windows.add_argument("--offsets", type=int, default=0, help="random start offsets per lookback (default 0)")
    windows.add_argument("--max-offset-frac", type=float, default=0.25, help="offset range for 'all' (default 0.25)")
    windows.add_argument("--seed", type=int, default=0, help="seed of offsets and bootstrap (default 0)")
    run = parser.add_argument_group("execution and statistics")
    run.add_argument("--engine", choices=["vector", "backtrader"], default="vector",
                     help="vector: the whole grid at once, the --verify-top best re-run in backtrader "
                          "(default); backtrader: every backtest in cerebro, run by --mode")
    run.add_argument("--verify-top", type=int, default=3, metavar="K",
                     help="with --engine vector, re-run the K best in backtrader and report agreement (default 3)")
    run.add_argument("--mode", choices=["serial", "local", "dask"], default="local",
                     help="where the backtests run (default: local): --engine backtrader in any mode; "
                          "--engine vector splits each window's grid over local processes when the sweep "
                          "is big enough to gain, else (and with dask) runs in this process")
    run.add_argument("--workers", type=int, help="local processes (default: all cores)")
    run.add_argument("--address", help="Dask scheduler address for --mode dask, e.g. tcp://127.0.0.1:8786")
    run.add_argument("--blocks", type=int, default=16, help="CSCV blocks for PBO, even (default 16)")
    run.add_argument("--bootstrap", type=int, default=2000, help="trade bootstrap resamples (default 2000)")
    run.add_argument("--commission", type=float, help=f"fraction per side (default {_COSTS.commission:g})")
    run.add_argument("--slippage", type=float, help=f"fraction (default {_COSTS.slippage:g})")
    run.add_argument("--cash", type=float, help=f"starting cash (default {_COSTS.cash:g})")
    run.add_argument("--out", type=Path, default=Path("reports/sweep"), help="output folder (default reports/sweep)")
    run.add_argument("--no-benchmark", action="store_true", help="skip buy-and-hold of each window")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_data_options(parser)
    add_common_options(parser)
    return parser


def _values(key: str, text: str) -> list[str]:
    from btedge.sweeps.grid import parse_values

    if ":" in text and "," not in text and text.count(":") != 2:
        raise UsageError(f"--grid {key}={text}: a range needs START:STOP:STEP (stop inclusive), e.g. "
                         f"{key}=0.1:0.4:0.1; or list the values: {key}=0.1,0.2")
    try:
        return parse_values(text)
    except ValueError as exc:
        raise UsageError(f"--grid {key}={text}: {exc}. Fix: use V1,V2,... or START:STOP:STEP") from None


def _grid(cls: type, items: Sequence[str]) -> dict[str, list[Any]]:
    from btedge.strategies import parse_params

    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--grid expects KEY=V1,V2 or KEY=START:STOP:STEP, got {item!r}")
        key = key.strip()
        try:
            grid[key] = [parse_params(cls, [f"{key}={value}"])[key] for value in _values(key, text)]
        except ValueError as exc:
            raise UsageError(f"--grid {item}: {exc}") from None
    if not grid:
        raise UsageError("give at least one --grid KEY=VALUES")
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
            raise UsageError(f"--lookbacks: {part!r} is neither a bar count nor 'all'")
    return out


def _frames(args: argparse.Namespace, strategy: str) -> list[tuple[str, pd.DataFrame]]:
    from btedge.feeds import sample_data
    from btedge.feeds.resolve import pick_single, resolve_datas
    from btedge.strategies.registry import datas_needed

    if args.sample == bool(args.data):
        raise UsageError("give either --sample or --data PATH (not both, not neither)")
    if args.sample:
        frames = [("BTCUSD", sample_data())]
    else:
        frames = resolve_datas(args.data, load_options(args))
        if datas_needed(strategy)[1] == 1:
            frames = pick_single(frames, strategy)
    if args.bars is not None:
        frames = [(name, df.iloc[: args.bars]) for name, df in frames]
    return frames


def check_scheduler(address: str | None, timeout: float = DASK_CONNECT_TIMEOUT) -> None:
    """Fail fast (one message, no traceback) when no Dask scheduler accepts a connection at ``address``."""
    if not address:
        raise UsageError("--mode dask needs --address tcp://HOST:PORT (a running dask scheduler)")
    url = urlparse(address if "://" in address else f"tcp://{address}")
    if not url.hostname or not url.port:
        raise UsageError(f"--address {address}: expected tcp://HOST:PORT, e.g. tcp://127.0.0.1:8786")
    try:
        with socket.create_connection((url.hostname, url.port), timeout=timeout):
            pass
    except OSError as exc:
        raise UsageError(
            f"--address {address}: no Dask scheduler answers there ({exc.strerror or exc}). Fix: start one "
            "('dask scheduler', then 'dask worker ADDRESS'), or run with --mode local"
        ) from None


def _valid_combinations(cls: type, grid: dict[str, list[Any]], fixed: dict[str, Any],
                        frames: list[tuple[str, pd.DataFrame]], config: BacktestConfig) -> list[dict[str, Any]]:
    """The grid's combinations the strategy refuses (ValueError on a short probe run), reported."""
    from btedge.engine import build_cerebro
    from btedge.sweeps.grid import expand_grid

    probe = [(name, df.iloc[:300]) for name, df in frames]
    invalid = []
    for combo in expand_grid(grid):
        try:
            build_cerebro(cls, probe, {**fixed, **combo}, config).run()
        except ValueError as exc:
            invalid.append(combo)
            print(f"skipped invalid combination {combo}: {exc}")
    if len(invalid) == len(expand_grid(grid)):
        raise UsageError("every --grid combination is invalid (see above). Fix: change the --grid values")
    return invalid


def _run(args: argparse.Namespace) -> list[str]:
    from btedge.sweeps.analysis import analyse_sweep
    from btedge.sweeps.report import stat_lines, write_report
    from btedge.sweeps.runner import run_sweep

    cls, fixed = resolve_strategy(args.strategy, args.param)
    grid, lookbacks = _grid(cls, args.grid), _lookbacks(args.lookbacks)
    costs = {k: getattr(args, k) for k in ("cash", "commission", "slippage") if getattr(args, k) is not None}
    config = BacktestConfig(**costs, benchmark=False)
    if args.mode == "dask":
        check_scheduler(args.address)
    frames = _frames(args, args.strategy)
    invalid = _valid_combinations(cls, grid, fixed, frames, config)
    result = run_sweep(
        cls, frames, grid, fixed=fixed, lookbacks=lookbacks, n_offsets=args.offsets,
        seed=args.seed, max_offset_frac=args.max_offset_frac, config=config, mode=args.mode,
        workers=args.workers, address=args.address, progress=not args.no_progress,
        benchmark=not args.no_benchmark, exclude=invalid, engine=args.engine, verify_top=args.verify_top,
    )
    analysis = analyse_sweep(result, n_blocks=args.blocks, n_boot=args.bootstrap)
    paths = write_report(result, analysis, args.out)
    lines = [line.replace("**", "") for line in stat_lines(result, analysis)]
    skipped = [f"skipped {len(invalid)} invalid combination(s) of the grid"] if invalid else []
    return [*skipped, *_engine_lines(result), *lines, f"report: {paths['html']}"]


def _engine_lines(result: Any) -> list[str]:
    checks = result.settings.get("verified", [])
    if not checks:
        return [f"engine: {result.settings.get('engine')}"]
    agree = sum(c["agree"] for c in checks)
    worst = max(c["max_rel_diff"] for c in checks)
    return [f"engine: vector; the {len(checks)} best re-run in backtrader: {agree} of {len(checks)} agree "
            f"(largest relative difference {worst:.1e})"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``btedge-sweep``; returns the process exit code (2 for bad input)."""
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)

    def body() -> int:
        for line in _run(args):
            print(line)
        return 0

    return run_cli("btedge-sweep", body, FLAGS)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
