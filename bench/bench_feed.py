"""Feed load benchmark: FrameData vs backtrader's PandasData on 1,000,000 one-minute bars.

The bars are real: the nautilus BTC-perp 1-minute file (../shared/data/repos/intraday), tiled
end to end (each copy scaled so its first open continues the previous copy's last close) on a
fresh 1-minute index. Each timing is a full ``cerebro.run()`` with an empty strategy,
``stdstats=False``, ``runonce=True, preload=True``. Runs alternate between the two feeds; the
script prints every run, the medians and the ratio PandasData / FrameData.

    .venv/bin/python bench/bench_feed.py [--bars 1000000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd

from btedge.feeds import FrameData, load_csv, sample_data

SHARED_1MIN = (Path(__file__).resolve().parents[2] / "shared" / "data" / "repos" / "intraday"
               / "nautilus_btc-perp_1m_20211231-20220201.csv.gz")


def source_bars() -> tuple[pd.DataFrame, str]:
    """The real 1-minute file, or the embedded hourly sample when ../shared is absent."""
    if SHARED_1MIN.is_file():
        return load_csv(SHARED_1MIN), SHARED_1MIN.name
    return sample_data(), "embedded BTC-USD 1 h sample (../shared absent)"


def tiled(base: pd.DataFrame, bars: int) -> pd.DataFrame:
    """``bars`` one-minute bars: copies of ``base`` chained by price, on a fresh index."""
    prices = base[["open", "high", "low", "close"]].to_numpy()
    volume = base["volume"].to_numpy()
    copies = -(-bars // len(base))
    blocks, scale = [], 1.0
    for _ in range(copies):
        blocks.append(prices * scale)
        scale *= prices[-1, 3] / prices[0, 0]
    ohlc = np.concatenate(blocks)[:bars]
    index = pd.date_range("2010-01-01", periods=bars, freq="1min", name="datetime")
    return pd.DataFrame({"open": ohlc[:, 0], "high": ohlc[:, 1], "low": ohlc[:, 2], "close": ohlc[:, 3],
                         "volume": np.tile(volume, copies)[:bars]}, index=index)


def run_once(feed_cls: type, df: pd.DataFrame) -> tuple[float, int]:
    cerebro = bt.Cerebro(stdstats=False, runonce=True, preload=True)
    data = feed_cls(dataname=df, timeframe=bt.TimeFrame.Minutes, compression=1)
    cerebro.adddata(data)
    cerebro.addstrategy(bt.Strategy)
    start = time.perf_counter()
    cerebro.run()
    return time.perf_counter() - start, len(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    base, name = source_bars()
    df = tiled(base, args.bars)
    print(f"source: {name} ({len(base):,} bars), tiled to {len(df):,} one-minute bars")
    print(f"python {sys.version.split()[0]}, backtrader {bt.__version__}, pandas {pd.__version__}, numpy {np.__version__}")
    feeds = {"FrameData": FrameData, "PandasData": bt.feeds.PandasData}
    times: dict[str, list[float]] = {k: [] for k in feeds}
    for r in range(args.repeats):
        for label, cls in feeds.items():
            seconds, loaded = run_once(cls, df)
            if loaded != len(df):
                raise SystemExit(f"{label} loaded {loaded:,} bars, expected {len(df):,}")
            times[label].append(seconds)
            print(f"run {r + 1}: {label:10s} {seconds:8.2f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    for label, value in med.items():
        print(f"median {label:10s} {value:8.2f} s  ({len(df) / value:,.0f} bars/s)")
    print(f"ratio PandasData / FrameData: {med['PandasData'] / med['FrameData']:.2f}x (target >= 3x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
