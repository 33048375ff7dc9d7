"""How good a direction signal is, against the labels it was trained for and two baselines."""
from __future__ import annotations

import logging
from typing import Any

import backtrader as bt
import numpy as np

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


def signal_quality(pred: np.ndarray, labels: np.ndarray, horizon: int) -> dict[str, Any]:
    """Scores of predicted classes against labels (0 short, 1 neutral, 2 long; NaN = none).

    Bars are scored where both are known. Baselines on the same bars: ``majority`` always
    predicts the most frequent label of the scored bars (hindsight: an upper bound for any
    constant guess); ``persistence`` predicts the label of ``horizon`` bars earlier, the
    latest one already known at the bar.
    """
    pred, labels = np.asarray(pred, float), np.asarray(labels, float)
    persist = np.full(labels.shape, np.nan)
    persist[horizon:] = labels[:-horizon] if horizon else labels
    ok = np.isfinite(pred) & np.isfinite(labels)
    n = int(ok.sum())
    if n == 0:
        return {"n_scored": 0, "accuracy": None, "majority_accuracy": None, "persistence_accuracy": None,
                "per_class": _per_class(np.zeros((3, 3))), "confusion": np.zeros((3, 3), int).tolist(),
                "classes": list(CLASS_NAMES)}
    y, p = labels[ok].astype(int), pred[ok].astype(int)
    conf = np.zeros((3, 3), dtype=int)
    np.add.at(conf, (y, p), 1)
    majority = np.bincount(y, minlength=3).argmax()
    pk = ok & np.isfinite(persist)
    return {
        "n_scored": n,
        "accuracy": float((y == p).mean()),
        "majority_class": CLASS_NAMES[majority],
        "majority_accuracy": float((y == majority).mean()),
        "persistence_accuracy": float((persist[pk] == labels[pk]).mean()) if pk.any() else None,
        "per_class": _per_class(conf),
        "confusion": conf.tolist(),
        "classes": list(CLASS_NAMES),
    }


class SignalQuality(bt.Analyzer):
    """
    Accuracy, per-class precision / recall / F1 and the confusion matrix (rows: realised
    class, columns: predicted) of a +1 / 0 / -1 direction signal, beside the majority-class
    and persistence baselines. A bar is scored only once its label's horizon has passed
    (the last ``horizon`` bars of a run are never scored) and only where the signal exists.

    Formula:
      - realised class at t: long / neutral / short from close[t + h] / close[t] - 1 against
        the volatility-scaled band (``btedge.models.labels.make_labels``)
      - accuracy = mean(predicted == realised) over scored bars

    Params:
      - ``signal`` (default: ``None``): a line of +1 / 0 / -1 (NaN = no opinion); None uses
        the strategy's ``ml_signal``
      - ``horizon`` (default: ``0``), ``band`` (default: ``-1.0``), ``labels`` (default:
        ``''``): label definition; 0 / negative / '' take the strategy's own ``horizon``,
        ``band`` and ``labels`` params (else 5, 0.5, 'fixed')

    See:
      - ``btedge.models.labels``; ML_RIGOR.md section 5 (baselines)
    """

    params = (("signal", None), ("horizon", 0), ("band", -1.0), ("labels", ""))

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
        self._rows: list[tuple[float, float, float, float]] = []

    def next(self) -> None:
        d = self.strategy.data
        self._rows.append((float(self._line[0]), d.high[0], d.low[0], d.close[0]))

    def stop(self) -> None:
        arr = np.array(self._rows, dtype=float).reshape(-1, 4)
        labels = make_labels(arr[:, 1], arr[:, 2], arr[:, 3], self.spec)
        self.rets = signal_quality(arr[:, 0] + 1.0, labels, self.spec.horizon)
        log.info("signal quality: %s", {k: self.rets[k] for k in ("n_scored", "accuracy", "majority_accuracy")})

    def get_analysis(self) -> dict[str, Any]:
        return self.rets
