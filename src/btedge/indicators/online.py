"""Online ML indicators: a River model that predicts every bar and learns every bar's label
once its horizon has passed (see :class:`btedge.models.online.OnlineLearner`).

There are no folds: the model starts empty and learns from the feed as it runs, so a backtest,
a ``next()`` run and a live feed call the same per-bar step in the same order and give the same
lines. Save the learned state with ``ind.learner.save(path)`` (a journal of the learned rows,
``numpy.save``, replayed by ``load``; nothing is unpickled).
"""
from __future__ import annotations

import logging

import backtrader as bt
import numpy as np

from btedge.models.features import FEATURES, FeatureSpec, FeatureStream, build_features
from btedge.models.labels import CLASS_SIDE, LabelSpec, make_labels
from btedge.models.online import LEARNING_RATE, OnlineLearner

__all__ = ["OnlineSignal", "OnlineForecast"]
log = logging.getLogger(__name__)
_OHLCV = ("open", "high", "low", "close", "volume")


class _OnlineIndicator(bt.Indicator):
    """Shared per-bar machinery of the online indicators (not used directly)."""

    params = (("horizon", 5), ("band", 0.5), ("vol_window", 60), ("gamma", 0.5), ("lr", LEARNING_RATE),
              ("min_learned", 50), ("model", "linear"))
    _target = ""

    def __init__(self) -> None:
        missing = [f for f in _OHLCV if not hasattr(self.data, f)]
        if missing:
            raise ValueError(f"{type(self).__name__} needs an OHLCV data feed; the input has no {missing} line(s)")
        if int(self.p.min_learned) < 1:
            raise ValueError(f"min_learned must be >= 1, got {self.p.min_learned!r}")
        self.label_spec = LabelSpec(int(self.p.horizon), float(self.p.band), "fixed", int(self.p.vol_window))
        self.feature_spec = FeatureSpec(float(self.p.gamma), FEATURES)
        self.learner = OnlineLearner(self._target, self.label_spec.horizon, len(FEATURES), float(self.p.lr),
                                     self.p.model)
        self._stream = FeatureStream(self.feature_spec)
        self._keep = self.label_spec.vol_window + self.label_spec.horizon + 2
        self._closes: list[float] = []  # the last ``_keep`` closes
        self._t = -1

    def _label_of(self, s: int) -> float:
        """Label of bar s (known at the current bar t = s + horizon), from the kept closes only."""
        h = self.label_spec.horizon
        tail = np.array(self._closes)
        i = len(tail) - 1 - (self._t - s)  # index of bar s in the tail
        if self._target == "return":
            return float(tail[i + h] / tail[i] - 1.0)
        window = tail[max(0, i - self.label_spec.vol_window - 1) : i + h + 1]
        return float(make_labels(window, window, window, self.label_spec)[-h - 1])

    def _bar(self, close: float, row: np.ndarray) -> np.ndarray:
        self._t += 1
        self._closes.append(close)
        if len(self._closes) > self._keep:
            del self._closes[0]
        out = np.full(self.lines.size(), np.nan)
        if not np.isfinite(row).all():
            return out
        pred = self.learner.step(self._t, row, self._label_of)
        return self._lines_of(pred) if self.learner.n_learned >= self.p.min_learned else out

    def _lines_of(self, pred: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def once(self, start: int, end: int) -> None:
        n = self.data.buflen()
        arrays = [np.asarray(getattr(self.data, f).array[:n], dtype=float) for f in _OHLCV]
        features = build_features(*arrays, spec=self.feature_spec)
        lines = [line.array for line in self.lines]
        for t in range(start, end):
            values = self._bar(arrays[3][t], features[t])
            for arr, v in zip(lines, values):
                arr[t] = v

    def next(self) -> None:
        bar = [float(getattr(self.data, f)[0]) for f in _OHLCV]
        values = self._bar(bar[3], self._stream.update(*bar))
        for line, v in zip(self.lines, values):
            line[0] = v


class OnlineSignal(_OnlineIndicator):
    """
    Online direction classifier (River ``StandardScaler | SoftmaxRegression``) over the ML
    feature set, three classes as :class:`~btedge.indicators.ml.EnsembleSignal`.

    Formula:
      - at bar t: queue x_t; learn (x_s, label_s) for every queued s <= t - horizon (the label
        needs close[s + horizon]); then p_t = model(x_t)
      - signal = +1 / 0 / -1 for argmax long / neutral / short; confidence = max p
      - NaN until ``min_learned`` labels were learned

    Params:
      - ``horizon`` (default: ``5``): label horizon in bars
      - ``band`` (default: ``0.5``): neutral half-width in sigma * sqrt(horizon)
      - ``vol_window`` (default: ``60``): bars in sigma
      - ``gamma`` (default: ``0.5``): Laguerre gamma of the features
      - ``lr`` (default: ``0.05``): SGD step
      - ``min_learned`` (default: ``50``): labels learned before the lines start
      - ``model`` (default: ``'linear'``): or ``'kan'``, a KAN partially fitted on each learned
        label (one Adam step; use ``lr=0.01``)

    See:
      - Montiel et al. (2021), "River: machine learning for streaming data in Python"
    """

    lines = ("p_long", "p_neutral", "p_short", "signal", "confidence")
    _target = "class"
    plotinfo = dict(subplot=True)
    plotlines = dict(signal=dict(_plotskip=True))

    def _lines_of(self, pred: np.ndarray) -> np.ndarray:
        return np.array([pred[2], pred[1], pred[0], CLASS_SIDE[int(pred.argmax())], pred.max()])


class OnlineForecast(_OnlineIndicator):
    """
    Online forecast of the forward return over ``horizon`` bars (River ``StandardScaler |
    LinearRegression``), learned as :class:`OnlineSignal` learns its classes.

    Formula:
      - forecast_t = model(x_t) after learning (x_s, close[s + h] / close[s] - 1) for every
        queued s <= t - horizon

    Params: as :class:`OnlineSignal` (``band`` and ``vol_window`` unused).

    See:
      - Montiel et al. (2021), "River: machine learning for streaming data in Python"
    """

    lines = ("forecast",)
    _target = "return"
    plotinfo = dict(subplot=True)

    def _lines_of(self, pred: np.ndarray) -> np.ndarray:
        return pred[:1]
