"""LaguerreCross full backtest on 1,000,000 one-minute bars: bars per second, and the ratio to an
EMA-crossover baseline on the same engine (same base strategy, feed, broker costs and analyzers).

Both are ``btedge.engine.run_backtest`` without the buy-and-hold benchmark run: FrameData feed,
runonce, 5 bps commission, 1 bp slippage, Performance and TradeStats analyzers. Strategies
alternate; the script prints each run, the medians and the ratio (target <= 1.3).

    .venv/bin/python bench/bench_strategy.py [--bars 1000000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

import backtrader as bt
from bench_feed import source_bars, tiled

from btedge.engine import BacktestConfig, run_backtest
from btedge.strategies import LONG, SHORT, BaseStrategy, get_strategy


class EMACross(BaseStrategy):
    """The baseline: long while EMA(fast) > EMA(slow), on btedge's own base strategy."""

    params = (("fast", 10), ("slow", 40))

    def __init__(self) -> None:
        super().__init__()
        self.fast = bt.ind.EMA(self.data, period=self.p.fast)
        self.slow = bt.ind.EMA(self.data, period=self.p.slow)

    def target(self) -> int:
        return LONG if self.fast[0] > self.slow[0] else SHORT


def timed(strategy, df) -> tuple[float, int]:
    config = BacktestConfig(benchmark=False, periods_per_year=525_600)
    start = time.perf_counter()
    result = run_backtest(strategy, [("BTC", df)], {"integer": False}, config)
    return time.perf_counter() - start, result.trades["trades"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    base, source = source_bars()
    df = tiled(base, args.bars)
    print(f"{len(df):,} one-minute bars tiled from {source}")
    candidates = {"LaguerreCross": get_strategy("laguerre_cross"), "EMACross (baseline)": EMACross}
    runs: dict[str, list[float]] = {name: [] for name in candidates}
    for rep in range(args.repeats):
        for name, cls in candidates.items():
            seconds, trades = timed(cls, df)
            runs[name].append(seconds)
            print(f"  run {rep + 1} {name:20s} {seconds:7.2f} s  {len(df) / seconds:9,.0f} bars/s  {trades} trades")
    med = {name: statistics.median(v) for name, v in runs.items()}
    for name, value in med.items():
        print(f"median {name:20s} {value:7.2f} s  {len(df) / value:9,.0f} bars/s")
    ratio = med["LaguerreCross"] / med["EMACross (baseline)"]
    print(f"ratio LaguerreCross / EMACross = {ratio:.2f}  (target <= 1.3)")


if __name__ == "__main__":
    main()
