"""Wall time of a full walk-forward ensemble backtest on the 45k one-minute BTC bars.

``run_backtest`` of the registered ``ensemble`` strategy (members 2 LSTM, 2 CNN, 2 TCN, XGBoost)
over the whole nautilus BTC-perp 1-minute file (45,031 bars), with 5 bps commission and 1 bp
slippage, ``runonce=True``. First with a fresh (cold) model cache, so every fold of every member
is trained, then ``--repeats`` times with the warm cache (the models are loaded, nothing is
retrained); the warm runs' median is the backtest cost without training. Buy-and-hold is off.

    .venv/bin/python bench/bench_ml_walkforward.py [--repeats 2] [--bars 0]
"""
from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

from btedge.engine import BacktestConfig, run_backtest
from btedge.feeds import load_csv
from btedge.strategies import get_strategy

DATA = (Path(__file__).resolve().parents[2] / "shared" / "data" / "repos" / "intraday"
        / "nautilus_btc-perp_1m_20211231-20220201.csv.gz")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--bars", type=int, default=0, help="use the first N bars (0 = all)")
    ap.add_argument("--train-bars", type=int, default=5000)
    ap.add_argument("--retrain-every", type=int, default=2500)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    df = load_csv(DATA)
    if args.bars:
        df = df.iloc[: args.bars]
    cache = tempfile.mkdtemp(prefix="btedge-wf-")
    params = dict(members="lstm,lstm,cnn,cnn,tcn,tcn,xgb", train_bars=args.train_bars,
                  retrain_every=args.retrain_every, window="sliding", horizon=5, seq_len=32, hidden=16,
                  epochs=3, max_samples=4000, cache_dir=cache, direction="both", integer=False)
    cfg = BacktestConfig(commission=0.0005, slippage=0.0001, benchmark=False)
    cls = get_strategy("ensemble")
    print(f"data: {DATA.name}, {len(df)} bars; params {params}")
    t0 = time.perf_counter()
    res = run_backtest(cls, [("BTC", df)], params, cfg)
    cold = time.perf_counter() - t0
    folds = len(range(args.train_bars, len(df), args.retrain_every))
    print(f"cold cache (trains {folds} folds x 7 members): {cold:.1f} s; trades {res.trades['trades']}, "
          f"sharpe {res.metrics['sharpe']:.2f}, max drawdown {res.metrics['max_drawdown']:.3f}")
    warm = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        run_backtest(cls, [("BTC", df)], params, cfg)
        warm.append(time.perf_counter() - t0)
    print(f"warm cache runs: {[f'{x:.1f}' for x in warm]} s, median {statistics.median(warm):.1f} s; "
          f"ratio cold / warm {cold / statistics.median(warm):.1f}x")


if __name__ == "__main__":
    main()
