"""Second-generation models benchmark: training time per fold, live step latency, S4D batch
against recurrent cost, the full ensemble's live step, and strategies with and without the
regime gate.

Data: the real nautilus BTC-perp 1-minute file (../shared). Every timing is measured
interleaved across the models (round robin, ``--repeats`` rounds) on one torch thread and
printed as medians (latency: p50 / p99) with the ratio to a named baseline:

1. training time of one walk-forward fold (``--train`` bars) per member; baseline ``cnn``
2. live step of each member: its fold model scoring the newest window, bar after bar, as
   ``next()`` does (S4D streams: one recurrent step per bar); baseline ``cnn``. Then XGBoost's
   single-row paths on the same rows: ``inplace_predict`` on a fresh row (the member's path
   before the tree table; baseline), on a preallocated row without feature validation,
   ``predict`` of a ``DMatrix`` built per row (a DMatrix cannot be refilled, so it cannot be
   reused) and the member's ``TreeTable`` (bit-equal outputs checked); and the CNN's single
   window: the float64 torch net (baseline) against ``NumpyCNN`` (the member's path)
3. S4D, 4 layers, H = 16, over a 1000-bar context: one recurrent step; 1000 bars scored by one
   FFT pass (batch) against 1000 recurrent steps; baseline the FFT over one 1000-bar window
   (what a live step would cost without the recurrence)
4. HMM forward-filter update, online learn+predict and ``FeatureStream.update`` per bar, and
   the timer's own cost (an empty block; ``time.thread_time`` is a system call)
5. ``EnsembleSignal(members='s4d,kan,online,cnn,xgb')`` ``next()`` per bar after its first
   fold (fold-switch bars, which load models, are listed apart): the live path against the
   generic one (baseline: ``_score`` with index windows and ``FittedFold.predict``, XGBoost
   ``inplace_predict``, the torch CNN), whole runs alternated ``--repeats`` times, outputs
   checked equal (1e-12)
6. ``LaguerreCross`` with and without the HMM regime gate (calm regime only): trades, return,
   Sharpe per bar (annualised by sqrt(bars per year)), on the same data

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_models.py [--bars 8000] [--train 3000] [--repeats 3]
        [--sections 1,2,3,4,5,6]
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
import torch
import xgboost as xgb

from btedge.feeds import FrameData
from btedge.indicators.ml import EnsembleSignal
from btedge.models.features import FeatureSpec, FeatureStream, build_features, sequence_windows
from btedge.models.labels import LabelSpec, make_labels
from btedge.models.online import OnlineLearner
from btedge.models.regimes import RegimeFilter, fit_hmm
from btedge.models.s4d import S4DNet, S4DStream
from btedge.models.spec import ModelSpec
from btedge.models.torch_models import NumpyCNN, TorchClassifier, inference_threads
from btedge.models.xgb_model import TreeTable, XGBClassifierModel
from btedge.strategies.gates import regime_gated
from btedge.strategies.laguerre import LaguerreCross
from btedge.training.cache import ModelCache
from btedge.training.schedule import Schedule
from btedge.training.walkforward import WalkForward

DATA = (Path(__file__).resolve().parents[2] / "shared" / "data" / "repos" / "intraday"
        / "nautilus_btc-perp_1m_20211231-20220201.csv.gz")
MEMBERS = ("cnn", "xgb", "s4d", "kan", "online", "minmax_cnn", "mamba")
SPEC = dict(seq_len=32, hidden=16, epochs=10)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


class Clock:
    """Wall time and this thread's CPU time of a block (CPU time leaves out waits for a core,
    which dominate wall-time p99 on a shared 2-core machine)."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __enter__(self) -> Clock:
        self._w, self._c = time.perf_counter(), time.thread_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall.append(time.perf_counter() - self._w)
        self.cpu.append(time.thread_time() - self._c)

    def line(self) -> str:
        return (f"wall p50 {us(pct(self.wall, 50))}  p99 {us(pct(self.wall, 99))} | "
                f"cpu p50 {us(pct(self.cpu, 50))}  p99 {us(pct(self.cpu, 99))}")


def us(x: float) -> str:
    return f"{x * 1e6:9.1f} us"


def load(bars: int) -> pd.DataFrame:
    return pd.read_csv(DATA, nrows=bars, index_col="timestamp", parse_dates=True)


def features_labels(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    o, h, low, c, v = (df[k].to_numpy(float) for k in ("open", "high", "low", "close", "volume"))
    return build_features(o, h, low, c, v, FeatureSpec()), make_labels(h, low, c, LabelSpec())


def walker(kind: str, train: int, cache: str) -> WalkForward:
    return WalkForward(Schedule(train, 10**9, horizon=5), ModelSpec(kind=kind, **SPEC), ModelCache(cache),
                       FeatureSpec().key(), LabelSpec().key(), min_samples=100)


def training_times(feats, labels, train: int, repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in MEMBERS}
    for _ in range(repeats):
        for kind in MEMBERS:  # round robin, fresh cache each time
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                walker(kind, train, tmp).fitted(train, feats, labels)
                times[kind].append(time.perf_counter() - t0)
    return times


def step_latencies(feats, labels, train: int, repeats: int,
                   bars: int = 400) -> tuple[dict[str, Clock], dict[str, Clock]]:
    with tempfile.TemporaryDirectory() as tmp:
        fitted = {k: walker(k, train, tmp).fitted(train, feats, labels) for k in MEMBERS}
        lat = {k: Clock() for k in MEMBERS}
        for r in range(repeats):
            for kind in MEMBERS:
                f = fitted[kind]
                win = f.model.spec.window
                for t in range(train + r * bars, train + (r + 1) * bars):
                    window = feats[t - win + 1 : t + 1][None]
                    with lat[kind]:
                        f.predict(window, 3)
    return lat, {**xgb_paths(fitted["xgb"], feats, train, repeats, bars),
                 **cnn_paths(fitted["cnn"], feats, train, repeats, bars)}


def interleaved(paths: dict, inputs, repeats: int) -> dict[str, Clock]:
    """Time every path on every input, the paths interleaved ``repeats`` times: one Clock a path."""
    out = {k: Clock() for k in paths}
    for _ in range(repeats):
        for name, fn in paths.items():
            for x in inputs:
                with out[name]:
                    fn(x)
    return out


def xgb_paths(f, feats, train: int, repeats: int, bars: int) -> dict[str, Clock]:
    """XGBoost single-row prediction paths on the fold's scaled rows; all must give equal outputs."""
    booster = f.model.booster
    rows = f.scale(feats[train : train + bars][:, None, :])[:, 0, :]
    row = np.empty((1, rows.shape[1]))

    def prealloc(x: np.ndarray) -> np.ndarray:
        row[0] = x
        return booster.inplace_predict(row, validate_features=False)

    table = TreeTable.from_booster(booster, rows.shape[1])
    if table is None:
        raise AssertionError("the xgb member's TreeTable is not usable for this booster")
    paths = {
        "inplace_predict": lambda x: booster.inplace_predict(np.ascontiguousarray(x[None], dtype=np.float64)),
        "inplace_prealloc": prealloc,
        "dmatrix_per_row": lambda x: booster.predict(xgb.DMatrix(x[None], nthread=1)),
        "tree_table": lambda x: table.predict_row(x)[None],
    }
    for name, fn in paths.items():
        if not all(np.array_equal(fn(x), paths["inplace_predict"](x)) for x in rows[:50]):
            raise AssertionError(f"xgboost path {name} gives other outputs than inplace_predict")
    return interleaved(paths, rows, repeats)


def torch_cnn_predict(model: TorchClassifier, X: np.ndarray) -> np.ndarray:
    """The CNN member's single-window path before ``NumpyCNN``: the float64 torch net."""
    with torch.no_grad(), inference_threads():
        return torch.softmax(model._inference_net()(torch.as_tensor(X, dtype=torch.float64)), dim=1).numpy()


def cnn_paths(f, feats, train: int, repeats: int, bars: int) -> dict[str, Clock]:
    """The CNN member's one-window paths on the fold's scaled windows (equal to 1e-12 checked)."""
    win = f.model.spec.window
    windows = f.scale(sequence_windows(feats, np.arange(train, train + bars), win))
    numpy_net = NumpyCNN(f.model._inference_net())
    paths = {"cnn_torch_float64": lambda w: torch_cnn_predict(f.model, w[None]),
             "cnn_numpy": lambda w: numpy_net.logits(w)}
    for w in windows[:50]:
        z = numpy_net.logits(w)
        e = np.exp(z - z.max())
        if not np.allclose(e / e.sum(), paths["cnn_torch_float64"](w)[0], rtol=0, atol=1e-12):
            raise AssertionError("NumpyCNN differs from the torch CNN by more than 1e-12")
    return interleaved(paths, windows, repeats)


def s4d_costs(repeats: int, context: int = 1000, n_features: int = 18) -> dict[str, list[float]]:
    torch.manual_seed(0)
    net = S4DNet(n_features, 16, 4, context).double().eval()
    x = np.random.default_rng(0).standard_normal((2 * context, n_features))
    windows = torch.as_tensor(sequence_windows(x, np.arange(context - 1, 2 * context - 1), context))
    stream = S4DStream(net)
    out = {k: Clock() for k in ("step", "recurrent_1000", "batch_fft_1000", "one_window_fft")}
    with torch.no_grad():
        for _ in range(repeats):
            stream.reset(x[:context])
            with out["recurrent_1000"]:
                for t in range(context, 2 * context):
                    with out["step"]:
                        stream.step(x[t])
            with out["batch_fft_1000"]:
                net.forward_sliding(windows)
            with out["one_window_fft"]:
                net(windows[-1:])
    return out


def filter_and_online(df: pd.DataFrame, feats, labels) -> dict[str, Clock]:
    close = df["close"].to_numpy(float)
    r = np.diff(np.log(close))
    model = fit_hmm((r / r.std())[:3000, None], 2)
    f = RegimeFilter(model)
    out = {k: Clock() for k in ("timer_empty_block", "hmm_update", "online_learn_predict",
                                "online_kan_learn_predict", "feature_stream_update")}
    for _ in range(2000):
        with out["timer_empty_block"]:
            pass
    for x in r / r.std():
        with out["hmm_update"]:
            f.update(np.array([x]))
    learner = OnlineLearner("class", 5, feats.shape[1])
    for t in range(100, len(feats)):
        if np.isfinite(feats[t]).all():
            with out["online_learn_predict"]:
                learner.step(t, feats[t], lambda s: labels[s])
    kan = OnlineLearner("class", 5, feats.shape[1], lr=0.01, model="kan")
    for t in range(100, 2100):
        if np.isfinite(feats[t]).all():
            with out["online_kan_learn_predict"]:
                kan.step(t, feats[t], lambda s: labels[s])
    stream = FeatureStream(FeatureSpec())
    for bar in df[["open", "high", "low", "close", "volume"]].to_numpy(float):
        with out["feature_stream_update"]:
            stream.update(*bar)
    return out


class TimedEnsemble(EnsembleSignal):
    def __init__(self) -> None:
        super().__init__()
        self.latency: list[tuple[int, float, float]] = []

    def next(self) -> None:
        w, c = time.perf_counter(), time.thread_time()
        super().next()
        self.latency.append((len(self) - 1, time.perf_counter() - w, time.thread_time() - c))


class GenericEnsemble(TimedEnsemble):
    """The baseline live step: the generic ``_score`` (index windows, ``FittedFold.predict``),
    XGBoost ``inplace_predict`` and the torch CNN for every bar."""

    def _models_for_next(self, boundary: int):
        fitted = super()._models_for_next(boundary)
        for f in fitted:
            if f is not None and isinstance(f.model, XGBClassifierModel):
                f.model._table = None  # None: no table, inplace_predict
            elif f is not None and type(f.model) is TorchClassifier and f.model.spec.kind == "cnn":
                f.model.predict = lambda X, m=f.model: torch_cnn_predict(m, X)
        return fitted

    def _score_newest(self, fitted, window):
        return self._score(fitted, window, np.array([len(window) - 1]))


class Holder(bt.Strategy):
    params = (("kwargs", None), ("indicator", TimedEnsemble))

    def __init__(self) -> None:
        self.ind = self.p.indicator(self.data, **self.p.kwargs)


def run_ensemble(df: pd.DataFrame, kwargs: dict, runonce: bool, cls=TimedEnsemble):
    cerebro = bt.Cerebro(stdstats=False, runonce=runonce, preload=True)
    cerebro.adddata(FrameData(dataname=df))
    cerebro.addstrategy(Holder, kwargs=kwargs, indicator=cls)
    return cerebro.run()[0].ind


def lines_of(ind) -> np.ndarray:
    return np.column_stack([np.asarray(line.array) for line in ind.lines])


def ensemble_latency(df: pd.DataFrame, train: int, repeats: int) -> dict[str, tuple[Clock, list[float]]]:
    """Per variant (live, generic): steady bars' clock and the fold-switch bars' wall times."""
    out = {name: (Clock(), []) for name in ("live", "generic")}
    with tempfile.TemporaryDirectory() as tmp:
        kwargs = dict(members="s4d,kan,online,cnn,xgb", train_bars=train, retrain_every=(len(df) - train) // 2,
                      cache_dir=tmp, seq_len=SPEC["seq_len"], hidden=SPEC["hidden"], epochs=SPEC["epochs"])
        once = lines_of(run_ensemble(df, kwargs, True))  # trains into the cache; next() loads it
        for _ in range(repeats):
            for name, cls in (("live", TimedEnsemble), ("generic", GenericEnsemble)):
                ind = run_ensemble(df, kwargs, False, cls)
                if not np.allclose(lines_of(ind), once, rtol=0, atol=1e-12, equal_nan=True):
                    raise AssertionError(f"{name} next() lines differ from runonce by more than 1e-12")
                steady, switch = out[name]
                for t, w, c in ind.latency:
                    if ind.schedule.is_boundary(t):
                        switch.append(w)
                    elif t > train:
                        steady.wall.append(w)
                        steady.cpu.append(c)
    return out


class Values(bt.Analyzer):
    """Portfolio value at every bar."""

    def start(self) -> None:
        self.values: list[float] = []

    def next(self) -> None:
        self.values.append(self.strategy.broker.getvalue())


def gate_report(df: pd.DataFrame, feats, labels, args) -> None:
    train = args.train
    bars_per_year = 365 * 24 * 60
    rows = []
    for name, cls, params in (
        ("LaguerreCross", LaguerreCross, {"direction": "both"}),
        ("LaguerreCross + calm-regime gate", regime_gated(LaguerreCross),
         {"direction": "both", "regime_allowed": "0", "regime_train_bars": train, "regime_retrain_every": 1000}),
        ("LaguerreCross + volatile-regime gate", regime_gated(LaguerreCross),
         {"direction": "both", "regime_allowed": "1", "regime_train_bars": train, "regime_retrain_every": 1000}),
    ):
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.adddata(FrameData(dataname=df))
        cerebro.broker.setcash(100_000.0)
        cerebro.broker.setcommission(commission=0.0005)
        cerebro.addstrategy(cls, **params)
        cerebro.addanalyzer(Values, _name="values")
        cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
        strat = cerebro.run()[0]
        ret = pd.Series(strat.analyzers.values.values[train:]).pct_change().dropna()
        sharpe = ret.mean() / ret.std() * np.sqrt(bars_per_year) if ret.std() > 0 else float("nan")
        trades = strat.analyzers.trades.get_analysis().get("total", {}).get("closed", 0)
        rows.append((name, trades, float((1 + ret).prod() - 1), sharpe))
    print(f"\n6. strategies after bar {train} (5 bps per side), with and without the regime gate")
    for name, trades, total, sharpe in rows:
        print(f"   {name:38s} trades {trades:5d}  return {total:+8.2%}  Sharpe {sharpe:+6.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=8000)
    ap.add_argument("--train", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sections", default="1,2,3,4,5,6", help="which of the numbered sections to run")
    args = ap.parse_args()
    try:
        sections = {int(x) for x in args.sections.split(",") if x.strip()}
    except ValueError:
        sections = set()
    if not sections or not sections <= {1, 2, 3, 4, 5, 6}:
        ap.error(f"--sections takes numbers 1..6 separated by commas (e.g. --sections 2,5), got {args.sections!r}")
    torch.set_num_threads(1)
    df = load(args.bars)
    feats, labels = features_labels(df)
    print(f"data: {DATA.name}, {len(df)} bars; members {SPEC}; torch threads 1; sections {sorted(sections)}")
    for number, section in ((1, train_section), (2, step_section), (3, s4d_section), (4, update_section),
                            (5, ensemble_section), (6, gate_report)):
        if number in sections:
            section(df, feats, labels, args)


def train_section(df, feats, labels, args) -> None:
    times = training_times(feats, labels, args.train, args.repeats)
    base = statistics.median(times["cnn"])
    print(f"\n1. training time of one fold ({args.train} bars), median of {args.repeats}; baseline cnn")
    for k, v in times.items():
        print(f"   {k:12s} {statistics.median(v):8.3f} s   x{statistics.median(v) / base:6.2f}")


def step_section(df, feats, labels, args) -> None:
    lat, paths = step_latencies(feats, labels, args.train, args.repeats)
    print("\n2. live step (fold model scores the newest window), p50 / p99; baseline cnn")
    base = statistics.median(lat["cnn"].cpu)
    for k, v in lat.items():
        print(f"   {k:12s} {v.line()}   cpu p50 x{statistics.median(v.cpu) / base:5.2f}")
    for title, names in (("xgboost single-row paths (equal outputs); baseline inplace_predict",
                          ("inplace_predict", "inplace_prealloc", "dmatrix_per_row", "tree_table")),
                         ("cnn single-window paths (equal to 1e-12); baseline cnn_torch_float64",
                          ("cnn_torch_float64", "cnn_numpy"))):
        print(f"   {title}")
        base = statistics.median(paths[names[0]].cpu)
        for k in names:
            print(f"   {k:18s} {paths[k].line()}   cpu p50 x{statistics.median(paths[k].cpu) / base:5.2f}")


def s4d_section(df, feats, labels, args) -> None:
    s4d = s4d_costs(args.repeats)
    base = statistics.median(s4d["one_window_fft"].cpu)
    print("\n3. S4D, 4 layers, H=16, N=16, 1000-bar context; baseline: FFT over one 1000-bar window "
          f"(cpu {base * 1e3:.2f} ms)")
    print(f"   recurrent step     {s4d['step'].line()}   cpu p50 x{statistics.median(s4d['step'].cpu) / base:6.4f}")
    for k in ("batch_fft_1000", "recurrent_1000"):
        print(f"   {k:18s} cpu {statistics.median(s4d[k].cpu) * 1e3:8.2f} ms, wall {statistics.median(s4d[k].wall) * 1e3:8.2f} ms"
              f" (1000 bars)")


def update_section(df, feats, labels, args) -> None:
    other = filter_and_online(df, feats, labels)
    print("\n4. per-bar updates")
    for k, v in other.items():
        print(f"   {k:24s} {v.line()}")


def ensemble_section(df, feats, labels, args) -> None:
    with open("/proc/loadavg") as fh:
        load_before = fh.read().split()[:3]
    runs = ensemble_latency(df, args.train, args.repeats)
    with open("/proc/loadavg") as fh:
        load_after = fh.read().split()[:3]
    print("\n5. EnsembleSignal(s4d,kan,online,cnn,xgb).next() after the first fold (features + 5 members + vote); "
          f"{args.repeats} runs each, alternated; baseline generic")
    base = statistics.median(runs["generic"][0].cpu)
    for name, (steady, switch) in runs.items():
        cpu, wall = np.array(steady.cpu), np.array(steady.wall)
        print(f"   {name:8s} steady bars ({len(wall)})  {steady.line()}   cpu p50 x{np.median(cpu) / base:5.2f}")
        print(f"            over 2 ms: cpu {np.mean(cpu > 2e-3):.2%}, wall {np.mean(wall > 2e-3):.2%}; "
              f"fold-switch bars ({len(switch)}) median {statistics.median(switch) * 1e3:.1f} ms (load models)")
    print(f"   load average (1/5/15 min) before {' '.join(load_before)}, after {' '.join(load_after)}")


if __name__ == "__main__":
    main()
