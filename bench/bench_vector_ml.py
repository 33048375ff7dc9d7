"""One ML backtest in backtrader and in the vector engine, cold (fresh fold cache: both train) and
warm (both load the folds), interleaved; prints medians of wall and CPU seconds and the load.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_vector_ml.py --bars 5000 --repeats 3
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time

import pandas as pd

from btedge.engine import BacktestConfig, run_backtest
from btedge.strategies import get_strategy
from btedge.vector.engine import vector_backtest

BTC = "../shared/data/repos/intraday/nautilus_btc-perp_1m_20211231-20220201.csv.gz"


def _timed(fn) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--members", default="cnn,xgb")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    df = pd.read_csv(BTC, index_col="timestamp", parse_dates=True, nrows=args.bars)
    params = dict(members=args.members, train_bars=2000, retrain_every=500, seq_len=16, hidden=8, epochs=5,
                  direction="both", integer=False, min_confidence=0.0, stop_loss=0.003)
    config = BacktestConfig(periods_per_year=525_600)
    cls = get_strategy("ensemble")
    engines = {"backtrader": run_backtest, "vector": vector_backtest}
    rows: dict[str, list[tuple[float, float]]] = {}
    print(f"{args.bars} bars, ensemble {params}; load {os.getloadavg()}")
    for rep in range(args.repeats):
        caches = {e: tempfile.mkdtemp(prefix=f"bench-ml-{e}-") for e in engines}
        for phase in ("cold", "warm"):
            for engine, run in engines.items():
                p = {**params, "cache_dir": caches[engine]}
                wall, cpu, result = _timed(lambda: run(cls, [("BTC", df)], p, config))
                rows.setdefault(f"{engine} {phase}", []).append((wall, cpu))
                print(f"repeat {rep} {engine:10s} {phase}: wall {wall:7.2f} s  cpu {cpu:7.2f} s  trades "
                      f"{result.trades['trades']}  return {result.metrics['total_return']:.12g}  "
                      f"load {os.getloadavg()[0]:.2f}", flush=True)
    print("medians (wall s, CPU s):")
    for name, values in rows.items():
        print(f"  {name:18s} {statistics.median(v[0] for v in values):7.2f} {statistics.median(v[1] for v in values):7.2f}")
    for phase in ("cold", "warm"):
        bt_cpu = statistics.median(v[1] for v in rows[f"backtrader {phase}"])
        vec_cpu = statistics.median(v[1] for v in rows[f"vector {phase}"])
        print(f"  vector / backtrader CPU, {phase}: {vec_cpu / bt_cpu:.3f}")
    print(f"load at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
