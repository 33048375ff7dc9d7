"""Regime indicators: Gaussian HMM (hmmlearn) or Markov-switching (statsmodels) fitted walk-forward
on log returns, read by the causal forward filter (see :mod:`btedge.models.regimes`)."""
from __future__ import annotations

import logging

import backtrader as bt
import numpy as np

from btedge.models.regimes import METHODS, RegimeFilter, RegimeModel, fit_regimes
from btedge.training.schedule import Schedule

__all__ = ["HMMRegime", "MarkovRegime"]
log = logging.getLogger(__name__)


def log_returns(close: np.ndarray) -> np.ndarray:
    r = np.full(len(close), np.nan)
    r[1:] = np.log(close[1:] / close[:-1])
    return r


class HMMRegime(bt.Indicator):
    """
    Market regime from a Gaussian hidden Markov model of one-bar log returns, refitted
    walk-forward and read with the forward filter only (never Viterbi or smoothed
    probabilities, which use later bars).

    Formula:
      - fold at bar b (``train_bars + k * retrain_every``): fit on the returns of bars
        ``[start, b)`` divided by their std s (``start`` 0, or ``b - train_bars`` when sliding);
        states sorted by variance, so state 0 is the calmest in every fold
      - alpha_t ∝ (alpha_{t-1} A) ⊙ N(r_t / s; mu, sigma^2), run from ``start``;
        the fold's lines are alpha_t for t in [b, b + retrain_every)
      - regime = argmax alpha_t; p_calm = alpha_t[0]; p_volatile = alpha_t[k - 1]

    Params:
      - ``n_states`` (default: ``2``): hidden states (2 or more)
      - ``train_bars`` (default: ``1000``): bars before the first fit; sliding window length
      - ``retrain_every`` (default: ``500``): bars between refits
      - ``window`` (default: ``'expanding'``): or ``'sliding'``
      - ``seed`` (default: ``0``): hmmlearn's random state

    See:
      - Hamilton (1989); Rabiner (1989), the forward algorithm
      - hmmlearn ``GaussianHMM``; :class:`MarkovRegime` for statsmodels' Markov switching
    """

    alias = ("RegimeHMM",)
    lines = ("regime", "p_calm", "p_volatile")
    params = (("n_states", 2), ("train_bars", 1000), ("retrain_every", 500), ("window", "expanding"), ("seed", 0))
    plotinfo = dict(subplot=True)
    method = "hmm"

    def __init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if int(self.p.n_states) < 2:
            raise ValueError(f"n_states must be >= 2, got {self.p.n_states!r}")
        self.schedule = Schedule(int(self.p.train_bars), int(self.p.retrain_every), 1, self.p.window)
        self._models: dict[int, tuple[RegimeModel, float] | None] = {}
        self._closes: list[float] = []
        self._filter: RegimeFilter | None = None
        self._filter_boundary: int | None = None
        self._scale = 1.0
        self._batch: np.ndarray | None = None

    # -- fold models ----------------------------------------------------------------------------
    def _start(self, boundary: int) -> int:
        return self.schedule.fold(boundary).train_start

    def fold_model(self, boundary: int, r: np.ndarray) -> tuple[RegimeModel, float] | None:
        """(model, scale) fitted on the finite returns of bars [start, boundary); None if too few."""
        if boundary not in self._models:
            x = r[self._start(boundary) : boundary]
            x = x[np.isfinite(x)]
            scale = float(x.std()) if len(x) else 0.0
            if len(x) < 10 * int(self.p.n_states) or not scale > 0:
                log.warning("%s: fold at bar %d has %d usable returns; no regimes until the next fold",
                            type(self).__name__, boundary, len(x))
                self._models[boundary] = None
            else:
                model = fit_regimes((x / scale)[:, None], self.method, int(self.p.n_states), int(self.p.seed))
                self._models[boundary] = (model, scale)
        return self._models[boundary]

    def _lines(self, alpha: np.ndarray) -> np.ndarray:
        return np.array([float(alpha.argmax()), alpha[0], alpha[-1]])

    # -- runonce --------------------------------------------------------------------------------
    def _compute_batch(self, n: int) -> np.ndarray:
        r = log_returns(np.asarray(self.data.close.array[:n], dtype=float))
        out = np.full((n, 3), np.nan)
        every = self.schedule.retrain_every
        for b in self.schedule.boundaries(n):
            fitted = self.fold_model(b, r)
            if fitted is None:
                continue
            model, scale = fitted
            f = RegimeFilter(model)
            for t in range(self._start(b), min(b + every, n)):
                if np.isfinite(r[t]):
                    alpha = f.update(np.array([r[t] / scale]))
                    if t >= b:
                        out[t] = self._lines(alpha)
        return out

    def once(self, start: int, end: int) -> None:
        if self._batch is None:
            self._batch = self._compute_batch(self.data.buflen())
        for i, line in enumerate(self.lines):
            arr = line.array
            for t in range(start, end):
                arr[t] = self._batch[t, i]

    # -- next / live ----------------------------------------------------------------------------
    def next(self) -> None:
        self._closes.append(float(self.data.close[0]))
        t = len(self._closes) - 1
        b = self.schedule.boundary_at(t)
        values = np.full(3, np.nan)
        if b is not None and self._switch_to(b, t):
            r_t = np.log(self._closes[t] / self._closes[t - 1]) if t else np.nan
            if np.isfinite(r_t):
                values = self._lines(self._filter.update(np.array([r_t / self._scale])))
        for line, v in zip(self.lines, values):
            line[0] = v

    def _switch_to(self, b: int, t: int) -> bool:
        """Make the filter of fold b current: fit it and run it over [start, t) in one pass."""
        if self._filter_boundary != b:
            r = log_returns(np.array(self._closes))
            fitted = self.fold_model(b, r)
            self._filter_boundary, self._filter = b, None
            if fitted is not None:
                model, self._scale = fitted
                self._filter = RegimeFilter(model)
                for x in r[self._start(b) : t]:
                    if np.isfinite(x):
                        self._filter.update(np.array([x / self._scale]))
        return self._filter is not None


class MarkovRegime(HMMRegime):
    """
    :class:`HMMRegime` with statsmodels' ``MarkovRegression`` (switching mean and variance)
    as the fold model; its filtered probabilities (the Hamilton filter) are the same forward
    recursion. Params as :class:`HMMRegime` (``seed`` unused).

    See:
      - Hamilton (1989); statsmodels ``MarkovRegression``
    """

    alias = ("RegimeMarkov",)
    method = "markov"
