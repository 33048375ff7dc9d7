"""LaguerreFilter inside a runonce backtest of 1,000,000 one-minute bars, against backtrader's own
``bt.ind.LaguerreFilter`` (the 20x target) and ``bt.ind.EMA`` (the <= 1.2 ratio target).

Each run is a full ``cerebro.run()`` (FrameData feed, runonce, preload) whose strategy holds one
indicator; the time reported is that indicator's own batch computation (its ``_once`` call inside
the engine), so the per-bar strategy loop every run shares does not blur the ratio. Candidates
alternate run by run; the script prints each run, the medians and the ratios.

    .venv/bin/python bench/bench_laguerre.py [--bars 1000000] [--repeats 5]
"""
from __future__ import annotations

import argparse
import statistics
import time

import backtrader as bt
from bench_feed import source_bars, tiled

from btedge.feeds import FrameData
from btedge.indicators import LaguerreFilter, LaguerreRSI

CANDIDATES = {
    "btedge.LaguerreFilter": lambda d: LaguerreFilter(d, gamma=0.5),
    "btedge.LaguerreRSI": lambda d: LaguerreRSI(d, gamma=0.5),
    "bt.ind.LaguerreFilter": lambda d: bt.ind.LaguerreFilter(d, gamma=0.5),
    "bt.ind.LaguerreRSI": lambda d: bt.ind.LaguerreRSI(d, gamma=0.5),
    "bt.ind.EMA(20)": lambda d: bt.ind.EMA(d, period=20),
}


class Holder(bt.Strategy):
    params = (("make", None), ("timings", None))

    def __init__(self) -> None:
        ind = self.p.make(self.data)
        inner = ind._once

        def timed_once(*args, **kwargs):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            inner(*args, **kwargs)
            self.p.timings.append(time.perf_counter() - start)

        ind._once = timed_once


def indicator_seconds(make, df) -> float:
    timings: list[float] = []
    cerebro = bt.Cerebro(stdstats=False, runonce=True, preload=True)
    cerebro.adddata(FrameData(dataname=df))
    cerebro.addstrategy(Holder, make=make, timings=timings)
    cerebro.run()
    return sum(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    base, source = source_bars()
    df = tiled(base, args.bars)
    print(f"{len(df):,} one-minute bars tiled from {source}; indicator time inside a runonce backtest")
    runs: dict[str, list[float]] = {name: [] for name in CANDIDATES}
    for rep in range(args.repeats):
        for name, make in CANDIDATES.items():
            if name.startswith("bt.ind.Laguerre") and rep >= 3:
                continue  # seconds per run: three runs give a stable median
            runs[name].append(indicator_seconds(make, df))
            print(f"  run {rep + 1} {name:24s} {runs[name][-1]:8.3f} s")
    med = {name: statistics.median(values) for name, values in runs.items()}
    print(f"\nmedian seconds for {len(df):,} bars:")
    for name, value in med.items():
        print(f"  {name:24s} {value:8.3f} s  ({len(df) / value / 1e6:7.1f} M bars/s)")
    print("\nratios (medians):")
    print(f"  bt.ind.LaguerreFilter / btedge.LaguerreFilter = {med['bt.ind.LaguerreFilter'] / med['btedge.LaguerreFilter']:.1f}x  (target >= 20x)")
    print(f"  bt.ind.LaguerreRSI    / btedge.LaguerreRSI    = {med['bt.ind.LaguerreRSI'] / med['btedge.LaguerreRSI']:.1f}x")
    print(f"  btedge.LaguerreFilter / bt.ind.EMA(20)        = {med['btedge.LaguerreFilter'] / med['bt.ind.EMA(20)']:.2f}   (target <= 1.2)")


if __name__ == "__main__":
    main()
