"""Cost of btedge's analyzers per bar: LaguerreCross in cerebro on tiled real 1-minute bars with
no analyzers (the baseline), with backtrader's own ``TimeReturn`` + ``TradeAnalyzer``, and with
btedge's ``Performance`` + ``TradeStats`` (values appended to arrays, figures at ``stop()``).
Runs alternate; the script prints each run, the medians and the ratios to the baseline.

    .venv/bin/python bench/bench_analyzers.py [--bars 200000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import gc
import statistics
import time

import backtrader as bt
from bench_feed import source_bars, tiled

from btedge.analyzers import Performance, TradeStats
from btedge.feeds import FrameData
from btedge.strategies import LaguerreCross

KINDS = {
    "no analyzers (baseline)": (),
    "backtrader TimeReturn + TradeAnalyzer": ((bt.analyzers.TimeReturn, {}), (bt.analyzers.TradeAnalyzer, {})),
    "btedge Performance + TradeStats": ((Performance, {"periods_per_year": 525_600}), (TradeStats, {})),
}


def run(df, analyzers) -> float:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(FrameData(dataname=df, timeframe=bt.TimeFrame.Minutes, compression=1))
    cerebro.broker.setcash(1e7)
    cerebro.broker.setcommission(commission=0.0005)
    cerebro.addstrategy(LaguerreCross, integer=False)
    for cls, kw in analyzers:
        cerebro.addanalyzer(cls, **kw)
    gc.collect()
    start = time.perf_counter()
    cerebro.run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    base, source = source_bars()
    df = tiled(base, args.bars)
    print(f"{args.bars:,} bars tiled from {source}")
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for repeat in range(args.repeats):
        for kind, analyzers in KINDS.items():
            times[kind].append(run(df, analyzers))
            print(f"  run {repeat + 1} {kind}: {times[kind][-1]:.2f} s")
    baseline = statistics.median(times["no analyzers (baseline)"])
    for kind, values in times.items():
        median = statistics.median(values)
        print(f"{kind:40s} median {median:6.2f} s  ratio {median / baseline:.3f}  "
              f"overhead {(median - baseline) / args.bars * 1e6:.1f} us/bar")


if __name__ == "__main__":
    main()
