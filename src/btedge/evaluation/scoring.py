"""Scores of forecasts on the out-of-sample bars, with block-bootstrap intervals and seed spread.

A *configuration* (the ensemble with learned weights, one member alone, the label-shuffled
control, the class prior ...) is scored from one :class:`Prediction` per seed. Every figure is
the mean over seeds; its interval is the circular block bootstrap of that mean (all seeds and
all configurations of a data set are resampled with the same replicates, so differences are
paired), and ``spread`` is the standard deviation over seeds.

The bars scored are the same for every configuration: after the first fold boundary, with a
known label and a known next-open forward return, and with a forecast from every model run.
Trading figures use every out-of-sample bar (from the first boundary to the end).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps

from btedge.evaluation.bootstrap import (
    BlockBootstrap,
    Interval,
    difference,
    mean_of,
    weighted_balanced_accuracy,
    weighted_correlation,
    weighted_mean,
    weighted_sharpe,
)
from btedge.evaluation.trading import TradingResult, max_drawdown, trade
from btedge.metrics import signal as sig
from btedge.models.labels import CLASS_SIDE
from btedge.sweeps.stats import bootstrap_trade_returns

#: Entries need this top probability, as ``EnsembleStrategy``'s default ``min_confidence``.
MIN_CONFIDENCE = 0.45


@dataclass
class Truth:
    """What happened, per bar of one data set.

    ``prior`` and ``class_weight`` are those of the training window of the fold scoring each
    bar (known before the fold starts); ``oos`` marks the bars from the first fold boundary.
    """

    labels: np.ndarray
    realised: np.ndarray
    open: np.ndarray
    prior: np.ndarray
    class_weight: np.ndarray
    oos: np.ndarray
    periods_per_year: float
    horizon: int


def fold_priors(labels: np.ndarray, boundaries: list[int], folds: list[tuple[int, int]], n: int,
                every: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) training-window class frequencies (Laplace +1) and inverse-frequency weights per bar."""
    prior = np.full((n, 3), np.nan)
    weight = np.full((n, 3), np.nan)
    for b, (start, stop) in zip(boundaries, folds):
        lab = labels[start:stop]
        lab = lab[np.isfinite(lab)]
        counts = np.bincount(lab.astype(int), minlength=3) + 1.0
        rows = slice(b, min(b + every, n))
        prior[rows] = counts / counts.sum()
        weight[rows] = sig.balanced_weights(lab) if lab.size else 1.0
    return prior, weight


@dataclass
class Prediction:
    """One seed's forecast of one configuration, per bar (NaN = no forecast)."""

    side: np.ndarray
    confidence: np.ndarray
    score: np.ndarray
    proba: np.ndarray | None = None
    min_confidence: float = MIN_CONFIDENCE
    class_weighted: bool = True  # trained with inverse-frequency class weights (the members are)

    @classmethod
    def from_proba(cls, proba: np.ndarray, min_confidence: float = MIN_CONFIDENCE,
                   class_weighted: bool = True) -> Prediction:
        ok = np.isfinite(proba).all(axis=1)
        side = np.full(len(proba), np.nan)
        side[ok] = CLASS_SIDE[proba[ok].argmax(axis=1)]
        return cls(side, proba.max(axis=1), proba[:, 2] - proba[:, 0], proba, min_confidence, class_weighted)


@dataclass
class ConfigScore:
    """Figures of one configuration on one data set."""

    name: str
    n_seeds: int
    intervals: dict[str, Interval]
    points: dict[str, float]
    spread: dict[str, float]
    quintiles: list[dict[str, float]]
    returns: list[np.ndarray] = field(repr=False, default_factory=list)
    trades: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))


def _mean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _log_prob(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.log(np.clip(proba[np.arange(y.size), y], sig.EPS, 1.0))


class Scorer:
    """Scores configurations of one data set on shared bars and shared bootstrap replicates."""

    def __init__(self, truth: Truth, scored: np.ndarray, n_boot: int = 500, seed: int = 0) -> None:
        self.truth, self.scored = truth, scored
        self.y = truth.labels[scored].astype(int)
        self.realised_rank = sps.rankdata(truth.realised[scored])
        self.prior_logp = _log_prob(truth.prior[scored], self.y)
        n_oos = int(truth.oos.sum())
        self.boot = BlockBootstrap(int(scored.sum()), 0, n_boot, seed)
        self.trade_boot = BlockBootstrap(n_oos, 0, n_boot, seed + 1)
        self.stats: dict[str, object] = {}
        self.trade_stats: dict[str, object] = {}

    # -- per-configuration statistics (registered, evaluated together) ---------------------------
    def add(self, name: str, preds: list[Prediction]) -> ConfigScore:
        t, s = self.truth, self.scored
        bal, ll, llc, ic, sharpe = [], [], [], [], []
        points: dict[str, list[float]] = {k: [] for k in ("auc_long", "auc_short", "brier", "ece", "trades",
                                                         "max_dd", "total_return", "accuracy", "balanced_accuracy", "ic",
                                                         "sharpe")}
        returns, trades = [], []
        for p in preds:
            pred_class = (np.nan_to_num(p.side[s]) + 1).astype(int)
            bal.append(weighted_balanced_accuracy(self.y, pred_class))
            ic.append(weighted_correlation(sps.rankdata(np.nan_to_num(p.score[s])), self.realised_rank))
            points["balanced_accuracy"].append(sig.balanced_accuracy(self.y, pred_class))
            points["accuracy"].append(float((pred_class == self.y).mean()))
            points["ic"].append(sig.information_coefficient(np.nan_to_num(p.score[s]), t.realised[s]))
            if p.proba is not None:
                q = p.proba[s]
                ll.append(weighted_mean(_log_prob(q, self.y) - self.prior_logp))
                if p.class_weighted:
                    corrected = sig.prior_shift(q, t.class_weight[s])
                    llc.append(weighted_mean(_log_prob(corrected, self.y) - self.prior_logp))
                auc = sig.per_class_auc(self.y, q)
                points["auc_long"].append(auc[2])
                points["auc_short"].append(auc[0])
                points["brier"].append(sig.brier_score(self.y, q))
                points["ece"].append(sig.expected_calibration_error(self.y, q))
            result = self._trade(p)
            r = result.returns[t.oos]
            returns.append(r)
            trades.append(result.trade_returns)
            sharpe.append(weighted_sharpe(r, t.periods_per_year))
            points["sharpe"].append(weighted_sharpe(r, t.periods_per_year)(np.ones((1, r.size)))[0])
            points["trades"].append(result.n_trades)
            points["max_dd"].append(max_drawdown(r))
            points["total_return"].append(float(np.prod(1.0 + r) - 1.0))
        self.stats[f"{name}|balanced_accuracy"] = mean_of(bal)
        self.stats[f"{name}|ic"] = mean_of(ic)
        if ll:
            self.stats[f"{name}|ll_gain"] = mean_of(ll)
        if llc:
            self.stats[f"{name}|ll_gain_corrected"] = mean_of(llc)
        self.trade_stats[f"{name}|sharpe"] = mean_of(sharpe)
        spread = {k: float(np.std(v, ddof=1)) if len(v) > 1 else math.nan
                  for k, v in points.items() if k in ("balanced_accuracy", "ic", "sharpe")}
        quint = self._quintiles(preds)
        all_trades = np.concatenate(trades) if trades else np.empty(0)
        return ConfigScore(name, len(preds), {}, {k: _mean(v) for k, v in points.items()}, spread, quint, returns,
                           all_trades)

    def _trade(self, p: Prediction) -> TradingResult:
        t = self.truth
        side = np.where(t.oos, p.side, np.nan)
        return trade(t.open, side, p.confidence, p.min_confidence)

    def _quintiles(self, preds: list[Prediction]) -> list[dict[str, float]]:
        s = self.scored
        per_seed = [sig.confidence_quantiles(p.side[s], p.confidence[s], self.truth.realised[s]) for p in preds]
        per_seed = [q for q in per_seed if q]
        if not per_seed:
            return []
        return [{k: float(np.mean([q[i][k] for q in per_seed])) for k in per_seed[0][0]}
                for i in range(len(per_seed[0]))]

    def paired(self, a: str, b: str) -> None:
        """Register the paired differences ``a - b`` of every metric both configurations have."""
        for pool in (self.stats, self.trade_stats):
            for key in [k for k in pool if k.startswith(f"{a}|")]:
                metric = key.split("|", 1)[1]
                if f"{b}|{metric}" in pool:
                    pool[f"{a} - {b}|{metric}"] = difference(pool[key], pool[f"{b}|{metric}"])

    def finish(self, configs: list[ConfigScore]) -> dict[str, Interval]:
        """Evaluate every registered statistic; fill each config's intervals and trade bootstrap."""
        out = self.boot.intervals(self.stats)
        out.update(self.trade_boot.intervals(self.trade_stats))
        for c in configs:
            c.intervals = {k.split("|", 1)[1]: v for k, v in out.items() if k.split("|", 1)[0] == c.name}
            tb = bootstrap_trade_returns(c.trades, n_boot=1000, seed=0)
            c.intervals["bps_per_trade"] = Interval(1e4 * tb.mean, 1e4 * tb.ci_low, 1e4 * tb.ci_high, tb.n_trades)
        return out
