"""ML inference benchmark: batched per-fold inference (runonce) vs per-bar inference (next).

Data: the first ``--bars`` bars of the real nautilus BTC-perp 1-minute file (../shared). The
indicator is :class:`btedge.indicators.ml.EnsembleSignal` with the design's members (2 LSTM,
2 CNN, 2 TCN, XGBoost), trained walk-forward once into a fresh cache (not timed); every timed run
then loads the same fold models from that cache. Three measurements, each repeated:

1. end to end: ``cerebro.run()`` of a do-nothing strategy holding the indicator, ``runonce=True``
   (one batch per fold) vs ``runonce=False`` (the newest window scored each bar); medians and
   the ratio next / runonce;
2. model inference only: the fold models scoring all windows of the folds in one batch vs one
   window at a time (the same windows); medians and the ratio;
3. per-bar latency of the whole indicator ``next()`` (features + 7 models + vote) after the
   first fold, p50 / p99, with 1 and 2 torch threads (fold-boundary bars, which load models,
   are listed apart).

    .venv/bin/python bench/bench_ml_inference.py [--bars 6000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd

from btedge.feeds import FrameData
from btedge.indicators.ml import EnsembleSignal
from btedge.models import torch_models
from btedge.models.features import build_features, sequence_windows

DATA = (Path(__file__).resolve().parents[2] / "shared" / "data" / "repos" / "intraday"
        / "nautilus_btc-perp_1m_20211231-20220201.csv.gz")
MEMBERS = "lstm,lstm,cnn,cnn,tcn,tcn,xgb"


class TimedEnsemble(EnsembleSignal):
    """EnsembleSignal recording the wall time of each ``next()``."""

    def __init__(self) -> None:
        super().__init__()
        self.latency: list[tuple[int, float]] = []

    def next(self) -> None:
        t0 = time.perf_counter()
        super().next()
        self.latency.append((len(self) - 1, time.perf_counter() - t0))


class Holder(bt.Strategy):
    params = (("kwargs", None), ("indicator", EnsembleSignal))

    def __init__(self) -> None:
        self.ind = self.p.indicator(self.data, **self.p.kwargs)


def run(df: pd.DataFrame, kwargs: dict, runonce: bool, cls=EnsembleSignal) -> tuple[float, bt.Strategy]:
    cerebro = bt.Cerebro(stdstats=False, runonce=runonce, preload=True)
    cerebro.adddata(FrameData(dataname=df))
    cerebro.addstrategy(Holder, kwargs=kwargs, indicator=cls)
    t0 = time.perf_counter()
    strat = cerebro.run()[0]
    return time.perf_counter() - t0, strat


def model_inference(df: pd.DataFrame, strat: bt.Strategy, repeats: int) -> tuple[float, float]:
    ind = strat.ind
    arrays = [df[c].to_numpy(float) for c in ("open", "high", "low", "close", "volume")]
    feats = build_features(*arrays, spec=ind.feature_spec)
    jobs = []
    for b in ind.schedule.boundaries(len(df)):
        rows = np.arange(b, min(b + ind.schedule.retrain_every, len(df)))
        for w in ind.walkers:
            jobs.append((w.fitted(b, feats, None), sequence_windows(feats, rows, w.spec.window)))
    batch, single = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for fitted, win in jobs:
            fitted.predict(win, 3)
        batch.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for fitted, win in jobs:
            for i in range(len(win)):
                fitted.predict(win[i : i + 1], 3)
        single.append(time.perf_counter() - t0)
    return statistics.median(batch), statistics.median(single)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=6000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--train-bars", type=int, default=2000)
    ap.add_argument("--retrain-every", type=int, default=1000)
    args = ap.parse_args()
    df = pd.read_csv(DATA, index_col="timestamp", parse_dates=True).iloc[: args.bars]
    cache = tempfile.mkdtemp(prefix="btedge-bench-")
    kwargs = dict(members=MEMBERS, train_bars=args.train_bars, retrain_every=args.retrain_every,
                  seq_len=32, hidden=16, epochs=3, max_samples=4000, cache_dir=cache)
    print(f"data: {DATA.name}, first {len(df)} bars; members {MEMBERS}; {kwargs}")
    t_train, strat = run(df, kwargs, True)
    print(f"walk-forward training into a fresh cache (not part of the ratio): {t_train:.1f} s")

    once = [run(df, kwargs, True)[0] for _ in range(args.repeats)]
    nxt = [run(df, kwargs, False)[0] for _ in range(args.repeats)]
    m_once, m_next = statistics.median(once), statistics.median(nxt)
    print(f"end to end runonce: {[f'{x:.2f}' for x in once]} s, median {m_once:.2f} s")
    print(f"end to end next:    {[f'{x:.2f}' for x in nxt]} s, median {m_next:.2f} s")
    print(f"ratio next / runonce (end to end): {m_next / m_once:.1f}x")

    batch, single = model_inference(df, strat, args.repeats)
    print(f"model inference only: batch per fold {batch:.3f} s, one window at a time {single:.2f} s, "
          f"ratio {single / batch:.1f}x")

    for threads in (1, 2):
        torch_models.INFERENCE_THREADS = threads
        _, timed = run(df, kwargs, False, cls=TimedEnsemble)
        lat = timed.ind.latency
        boundaries = set(timed.ind.schedule.boundaries(len(df)))
        steady = np.array([dt for bar, dt in lat if bar >= args.train_bars and bar not in boundaries]) * 1e3
        at_b = [f"{dt * 1e3:.0f}" for bar, dt in lat if bar in boundaries]
        print(f"per-bar next() latency, {threads} torch thread(s): p50 {np.percentile(steady, 50):.2f} ms, "
              f"p99 {np.percentile(steady, 99):.2f} ms over {steady.size} bars; fold-boundary bars (load) ms: {at_b}")
    torch_models.INFERENCE_THREADS = 1


if __name__ == "__main__":
    main()
