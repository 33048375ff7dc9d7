"""Evaluate the walk-forward ensemble on one data set: seeds, variants, controls, trading.

For each seed the ensemble runs twice through the library's indicator: on the real labels and
on labels permuted inside each fold's training window (the label-shuffled control, cached in
its own folder). From the recorded member probabilities the evaluation also scores the
ensemble with equal weights, with the design's fixed weights, and each member kind alone, on
the same trained models. Controls that need no training: the class prior of each fold's
training window, persistence (the label known at the bar) and the training majority class.
Nothing is tuned: every setting is fixed before the run, and every figure is out of sample.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from btedge.evaluation.bootstrap import weighted_sharpe
from btedge.evaluation.datasets import DataSet, load
from btedge.evaluation.scoring import ConfigScore, Prediction, Scorer, Truth, fold_priors
from btedge.evaluation.signals import EnsembleForecast, ensemble_forecast
from btedge.evaluation.trading import buy_and_hold, max_drawdown
from btedge.feeds.timestamps import infer_periods_per_year
from btedge.metrics.signal import forward_open_return
from btedge.models.labels import LabelSpec, make_labels
from btedge.sweeps.stats import deflated_sharpe_for_grid, pbo_cscv
from btedge.training.schedule import Schedule

log = logging.getLogger(__name__)

#: The design's six members and their fixed weights (LSTM 0.1, CNN 0.15, TCN 0.25 each).
DESIGN_WEIGHTS = {"lstm": 0.1, "cnn": 0.15, "tcn": 0.25}
ENSEMBLE = "ensemble (learned weights)"
SHUFFLED = "label-shuffled ensemble"
CONTROLS = ("class prior", "persistence", "majority")


@dataclass(frozen=True)
class Settings:
    """Model and evaluation settings, fixed before any data is seen (nothing is tuned)."""

    members: str = "lstm,lstm,cnn,cnn,tcn,tcn,xgb"
    seeds: int = 5
    seq_len: int = 32
    hidden: int = 16
    epochs: int = 8
    max_samples: int = 1500
    min_samples: int = 200
    band: float = 0.5
    n_boot: int = 500
    cache: str = ".cache/btedge-eval"

    def ml_params(self, ds: DataSet) -> dict[str, Any]:
        return dict(train_bars=ds.train_bars, retrain_every=ds.retrain_every, window="sliding",
                    horizon=ds.horizon, band=self.band, seq_len=self.seq_len, hidden=self.hidden,
                    epochs=self.epochs, max_samples=self.max_samples, min_samples=self.min_samples)

    def seed_values(self) -> list[int]:
        """Seeds 1000 apart: member seeds (seed + index) never coincide across runs."""
        return [1000 * k for k in range(self.seeds)]


@dataclass
class DatasetResult:
    """Everything measured on one data set."""

    ds: DataSet
    bars: int
    oos_bars: int
    scored_bars: int
    configs: list[ConfigScore]
    differences: dict[str, Any]
    buy_and_hold: dict[str, Any]
    dsr: Any
    pbo: Any
    n_configs_tried: int
    wall_s: float
    train_wall_s: float
    folds: int
    forecasts: dict[str, list[EnsembleForecast]] = field(repr=False, default_factory=dict)
    truth: Truth | None = field(repr=False, default=None)

    def config(self, name: str) -> ConfigScore:
        return next(c for c in self.configs if c.name == name)


def make_truth(df: pd.DataFrame, ds: DataSet, band: float) -> tuple[Truth, Schedule]:
    o, h, low, c = (df[k].to_numpy(float) for k in ("open", "high", "low", "close"))
    labels = make_labels(h, low, c, LabelSpec(ds.horizon, band, "fixed"))
    schedule = Schedule(ds.train_bars, ds.retrain_every, ds.horizon, "sliding")
    bounds = schedule.boundaries(len(df))
    folds = [(schedule.fold(b).train_start, schedule.fold(b).train_stop) for b in bounds]
    prior, weight = fold_priors(labels, bounds, folds, len(df), ds.retrain_every)
    oos = np.zeros(len(df), bool)
    oos[ds.train_bars:] = True
    truth = Truth(labels, forward_open_return(o, ds.horizon), o, prior, weight, oos,
                  infer_periods_per_year(df.index), ds.horizon)
    return truth, schedule


def member_variants(kinds: list[str]) -> dict[str, np.ndarray]:
    """Weight vectors of the variants scored from one run's members."""
    out = {"ensemble (equal weights)": np.ones(len(kinds))}
    design = [DESIGN_WEIGHTS.get(k, 0.0) for k in kinds]
    if all(kinds.count(k) >= 2 for k in DESIGN_WEIGHTS):
        w = np.zeros(len(kinds))
        for kind in DESIGN_WEIGHTS:
            for i in [i for i, k in enumerate(kinds) if k == kind][:2]:
                w[i] = design[i]
        out["ensemble (design's fixed weights)"] = w
    for kind in dict.fromkeys(kinds):
        w = np.zeros(len(kinds))
        w[kinds.index(kind)] = 1.0
        out[f"{kind} alone"] = w
    return out


def combine(member_proba: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted soft vote of (n, M, 3) member probabilities; NaN where a used member is NaN."""
    used = weights > 0
    return np.einsum("nmk,m->nk", member_proba[:, used], weights[used]) / weights[used].sum()


def _controls(truth: Truth) -> dict[str, Prediction]:
    prior = truth.prior
    h = truth.horizon
    persist = np.full(truth.labels.shape, np.nan)
    persist[h:] = truth.labels[:-h] - 1.0
    majority = Prediction.from_proba(prior)
    return {
        "class prior": Prediction.from_proba(prior, class_weighted=False),
        "persistence": Prediction(persist, np.ones(persist.size), persist),
        "majority": Prediction(majority.side, np.ones(persist.size), majority.side),
    }


def evaluate_dataset(ds: DataSet, settings: Settings, progress: bool = True) -> DatasetResult:
    """Train (or load from the cache) and score everything on ``ds``."""
    t0 = time.perf_counter()
    df = load(ds)
    truth, schedule = make_truth(df, ds, settings.band)
    params = settings.ml_params(ds)
    cache = Path(settings.cache)
    real, shuffled = [], []
    bar = tqdm(settings.seed_values(), desc=f"{ds.key} seeds", leave=False, disable=not progress or None)
    train_wall = 0.0
    for seed in bar:
        real.append(ensemble_forecast(df, settings.members, seed=seed, cache_dir=str(cache / "real"), **params))
        shuffled.append(ensemble_forecast(df, settings.members, seed=seed, shuffle_seed=seed,
                                          cache_dir=str(cache / "shuffled"), **params))
        train_wall += real[-1].wall_s + shuffled[-1].wall_s
    scored = truth.oos & np.isfinite(truth.labels) & np.isfinite(truth.realised)
    for f in real + shuffled:
        scored &= np.isfinite(f.proba).all(axis=1)
    if scored.sum() < 10:
        raise ValueError(f"{ds.key}: only {int(scored.sum())} out-of-sample bars with a forecast; "
                         f"the data set is too short for train_bars={ds.train_bars}")
    scorer = Scorer(truth, scored, settings.n_boot)
    configs = [scorer.add(ENSEMBLE, [Prediction.from_proba(f.proba) for f in real])]
    for name, w in member_variants(real[0].members).items():
        configs.append(scorer.add(name, [Prediction.from_proba(combine(f.member_proba, w)) for f in real]))
    configs.append(scorer.add(SHUFFLED, [Prediction.from_proba(f.proba) for f in shuffled]))
    for name, pred in _controls(truth).items():
        configs.append(scorer.add(name, [pred]))
    for a, b in _pairs([c.name for c in configs]):
        scorer.paired(a, b)
    bh = buy_and_hold(truth.open[truth.oos])
    scorer.trade_stats["buy and hold|sharpe"] = weighted_sharpe(bh.returns, truth.periods_per_year)
    intervals = scorer.finish(configs)
    differences: dict[str, dict[str, Any]] = {}
    for key, iv in intervals.items():
        pair, metric = key.split("|", 1)
        if " - " in pair:
            differences.setdefault(pair, {})[metric] = iv
    model_cols = {f"{c.name} #{i}": r for c in configs if c.name not in CONTROLS and c.name != SHUFFLED
                  for i, r in enumerate(c.returns)}
    dsr, pbo = _overfitting(model_cols)
    return DatasetResult(
        ds, len(df), int(truth.oos.sum()), int(scored.sum()), configs, differences,
        {"sharpe": intervals["buy and hold|sharpe"], "total_return": float(np.prod(1 + bh.returns) - 1),
         "max_dd": max_drawdown(bh.returns)},
        dsr, pbo, len(model_cols), time.perf_counter() - t0, train_wall, len(schedule.boundaries(len(df))),
        {"real": real, "shuffled": shuffled}, truth,
    )


def _pairs(names: list[str]) -> list[tuple[str, str]]:
    """The paired comparisons: against the shuffled control, between weightings, against members."""
    pairs = [(ENSEMBLE, SHUFFLED), (ENSEMBLE, "ensemble (equal weights)")]
    fixed = "ensemble (design's fixed weights)"
    if fixed in names:
        pairs.append((ENSEMBLE, fixed))
        pairs += [(fixed, n) for n in names if n.endswith(" alone") and n.split()[0] in DESIGN_WEIGHTS]
    else:
        pairs += [(ENSEMBLE, n) for n in names if n.endswith(" alone")]
    return pairs


def _overfitting(columns: dict[str, np.ndarray]) -> tuple[Any, Any]:
    """Deflated Sharpe of the best configuration and PBO over all of them (None if undefined)."""
    matrix = pd.DataFrame(columns)
    try:
        dsr = deflated_sharpe_for_grid(matrix)
    except ValueError as exc:
        log.warning("deflated Sharpe undefined: %s", exc)
        dsr = None
    blocks = min(16, 2 * (len(matrix) // 4))
    try:
        pbo = pbo_cscv(matrix, n_blocks=blocks) if blocks >= 2 and matrix.shape[1] >= 2 else None
    except ValueError as exc:
        log.warning("PBO undefined: %s", exc)
        pbo = None
    return dsr, pbo
