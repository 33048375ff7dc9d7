"""How good a direction signal is, against the labels it was trained for and its baselines."""
from __future__ import annotations

import logging
from typing import Any

import backtrader as bt
import numpy as np

from btedge.metrics.signal import (
    balanced_accuracy,
    causal_prior,
    forward_open_return,
    information_coefficient,
    log_loss,
)
from btedge.models.labels import CLASS_NAMES, LabelSpec, make_labels

log = logging.getLogger(__name__)


def _per_class(conf: np.ndarray) -> dict[str, dict[str, float | None]]:
    out = {}
    for k, name in enumerate(CLASS_NAMES):
        tp, pred, true = conf[k, k], conf[:, k].sum(), conf[k, :].sum()
        precision = tp / pred if pred else None
        recall = tp / true if true else None
        f1 = (2 * precision * recall / (precision + recall)
              if precision is not None and recall is not None and precision + recall > 0 else None)
        out[name] = {"precision": precision, "recall": recall, "f1": f1, "support": int(true)}
    return out


def _empty() -> dict[str, Any]:
    return {"n_scored": 0, "accuracy": None, "balanced_accuracy": None, "majority_accuracy": None,
            "persistence_accuracy": None, "persistence_balanced_accuracy": None, "log_loss": None,
            "prior_log_loss": None, "log_loss_gain": None, "ic": None,
            "per_class": _per_class(np.zeros((3, 3))), "confusion": np.zeros((3, 3), int).tolist(),
            "classes": list(CLASS_NAMES)}


def _probability_scores(labels: np.ndarray, proba: np.ndarray | None, ok: np.ndarray, horizon: int) -> dict:
    """Log-loss of ``proba`` and of the causal class prior on the scored bars (None without proba)."""
    if proba is None:
        return {"log_loss": None, "prior_log_loss": None, "log_loss_gain": None}
    good = ok & np.isfinite(proba).all(axis=1)
    if not good.any():
        return {"log_loss": None, "prior_log_loss": None, "log_loss_gain": None}
    y = labels[good].astype(int)
    model = log_loss(y, proba[good])
    prior = log_loss(y, causal_prior(labels, horizon)[good])
    return {"log_loss": model, "prior_log_loss": prior, "log_loss_gain": prior - model}


def signal_quality(pred: np.ndarray, labels: np.ndarray, horizon: int, proba: np.ndarray | None = None,
                   score: np.ndarray | None = None, realised: np.ndarray | None = None) -> dict[str, Any]:
    """Scores of predicted classes against labels (0 short, 1 neutral, 2 long; NaN = none).

    Bars are scored where both are known. Baselines on the same bars: ``majority`` always
    predicts the most frequent label of the scored bars (hindsight: an upper bound for any
    constant guess); ``persistence`` predicts the label of ``horizon`` bars earlier, the
    latest one already known at the bar. With ``proba`` ((n, 3): short, neutral, long) the
    log-loss is compared with the causal class prior (frequencies of the labels known at each
    bar, :func:`btedge.metrics.signal.causal_prior`); ``log_loss_gain`` > 0 means better than
    the prior. With ``score`` and ``realised`` (the return from the next bar's open over the
    horizon) the information coefficient is their Spearman correlation on the scored bars.
    """
    pred, labels = np.asarray(pred, float), np.asarray(labels, float)
    persist = np.full(labels.shape, np.nan)
    persist[horizon:] = labels[:-horizon] if horizon else labels
    ok = np.isfinite(pred) & np.isfinite(labels)
    n = int(ok.sum())
    if n == 0:
        return _empty()
    y, p = labels[ok].astype(int), pred[ok].astype(int)
    conf = np.zeros((3, 3), dtype=int)
    np.add.at(conf, (y, p), 1)
    majority = np.bincount(y, minlength=3).argmax()
    pk = ok & np.isfinite(persist)
    ic = None
    if score is not None and realised is not None:
        sel = ok & np.isfinite(score) & np.isfinite(realised)
        value = information_coefficient(np.asarray(score)[sel], np.asarray(realised)[sel]) if sel.any() else np.nan
        ic = None if np.isnan(value) else value
    return {
        "n_scored": n,
        "accuracy": float((y == p).mean()),
        "balanced_accuracy": balanced_accuracy(y, p),
        "majority_class": CLASS_NAMES[majority],
        "majority_accuracy": float((y == majority).mean()),
        "persistence_accuracy": float((persist[pk] == labels[pk]).mean()) if pk.any() else None,
        "persistence_balanced_accuracy": balanced_accuracy(labels[pk], persist[pk]) if pk.any() else None,
        **_probability_scores(labels, proba, ok, horizon),
        "ic": ic,
        "per_class": _per_class(conf),
        "confusion": conf.tolist(),
        "classes": list(CLASS_NAMES),
    }


class SignalQuality(bt.Analyzer):
    """
    Accuracy, balanced accuracy, per-class precision / recall / F1 and the confusion matrix
    (rows: realised class, columns: predicted) of a +1 / 0 / -1 direction signal, beside the
    majority-class and persistence baselines; with class probabilities also the log-loss
    against the class prior, and the information coefficient of a score. A bar is scored only
    once its label's horizon has passed (the last ``horizon`` bars of a run are never scored)
    and only where the signal exists.

    Formula:
      - realised class at t: long / neutral / short from close[t + h] / close[t] - 1 against
        the volatility-scaled band (``btedge.models.labels.make_labels``)
      - accuracy = mean(predicted == realised); balanced accuracy = mean per-class recall
        (chance 1/3)
      - log_loss_gain = log-loss of the causal class prior - log-loss of the probabilities
        (> 0: better than the prior)
      - ic = Spearman(score_t, open[t + 1 + h] / open[t + 1] - 1)

    Params:
      - ``signal`` (default: ``None``): a line of +1 / 0 / -1 (NaN = no opinion); None uses
        the strategy's ``ml_signal``
      - ``proba`` (default: ``None``): three lines (p_short, p_neutral, p_long); None uses the
        strategy's ``ensemble`` indicator when it has one, else no probability scores
      - ``score`` (default: ``None``): line ranked for the IC; None uses p_long - p_short
        with probabilities, else the signal
      - ``horizon`` (default: ``0``), ``band`` (default: ``-1.0``), ``labels`` (default:
        ``''``): label definition; 0 / negative / '' take the strategy's own ``horizon``,
        ``band`` and ``labels`` params (else 5, 0.5, 'fixed')

    See:
      - ``btedge.models.labels``; ``btedge.metrics.signal``; ML_RIGOR.md section 5 (baselines)
    """

    params = (("signal", None), ("proba", None), ("score", None), ("horizon", 0), ("band", -1.0), ("labels", ""))

    def start(self) -> None:
        sp = self.strategy.p
        self.spec = LabelSpec(
            horizon=int(self.p.horizon or getattr(sp, "horizon", 5)),
            band=float(self.p.band if self.p.band >= 0 else getattr(sp, "band", 0.5)),
            method=self.p.labels or getattr(sp, "labels", "fixed"),
        )
        line = self.p.signal if self.p.signal is not None else getattr(self.strategy, "ml_signal", None)
        if line is None:
            raise ValueError("SignalQuality needs signal=<line> or a strategy with an ml_signal line")
        self._line = line
        self._proba = self._proba_lines()
        self._score = self.p.score
        self._rows: list[tuple[float, ...]] = []

    def _proba_lines(self) -> tuple | None:
        if self.p.proba is not None:
            if len(self.p.proba) != 3:
                raise ValueError(f"proba must be three lines (p_short, p_neutral, p_long), got {len(self.p.proba)}")
            return tuple(self.p.proba)
        ens = getattr(self.strategy, "ensemble", None)
        if ens is not None and all(hasattr(ens.lines, n) for n in ("p_short", "p_neutral", "p_long")):
            return ens.lines.p_short, ens.lines.p_neutral, ens.lines.p_long
        return None

    def next(self) -> None:
        d = self.strategy.data
        probs = tuple(float(x[0]) for x in self._proba) if self._proba else (np.nan,) * 3
        score = float(self._score[0]) if self._score is not None else np.nan
        self._rows.append((float(self._line[0]), d.open[0], d.high[0], d.low[0], d.close[0], *probs, score))

    def stop(self) -> None:
        arr = np.array(self._rows, dtype=float).reshape(-1, 9)
        labels = make_labels(arr[:, 2], arr[:, 3], arr[:, 4], self.spec)
        proba = arr[:, 5:8] if self._proba else None
        if self._score is not None:
            score = arr[:, 8]
        else:
            score = proba[:, 2] - proba[:, 0] if proba is not None else arr[:, 0]
        realised = forward_open_return(arr[:, 1], self.spec.horizon)
        self.rets = signal_quality(arr[:, 0] + 1.0, labels, self.spec.horizon, proba, score, realised)
        log.info("signal quality: %s",
                 {k: self.rets[k] for k in ("n_scored", "balanced_accuracy", "log_loss_gain", "ic")})

    def get_analysis(self) -> dict[str, Any]:
        return self.rets
