"""Out-of-sample forecasts of the library's walk-forward ML indicators, as arrays.

The indicators run unchanged inside a one-indicator backtrader run (``runonce``), so the
evaluation scores exactly the code a backtest trades. Subclasses only *record* what passes
through the indicator's hooks:

- :class:`RecordingEnsemble` keeps every member's class probabilities and the weights the
  indicator gave them, per fold, so equal, fixed and single-member variants are scored on the
  same trained models; with ``shuffle_seed >= 0`` it permutes the labels inside each fold's
  training window before training (the label-shuffled control).
- :class:`RecordingLagNet` keeps the dynamic-lag forecast and adds a static-lag forecast from
  the same fold model: the one lag of the model's candidate grid with the smallest forecast
  error on the fold's own training rows (never on the bars it scores).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import backtrader as bt
import numpy as np
import pandas as pd

from btedge.engine import make_feed
from btedge.indicators.ml import EnsembleSignal, LagNet
from btedge.models.features import build_features, sequence_windows

log = logging.getLogger(__name__)
_OHLCV = ("open", "high", "low", "close", "volume")


def shuffle_fold_labels(labels: np.ndarray, train_start: int, train_stop: int, seed: int | list[int]) -> np.ndarray:
    """A copy of ``labels`` with the finite ones in ``[train_start, train_stop)`` permuted."""
    out = np.array(labels, dtype=float)
    idx = np.arange(train_start, train_stop)
    idx = idx[np.isfinite(out[idx])]
    out[idx] = out[np.random.default_rng(seed).permutation(idx)]
    return out


class RecordingEnsemble(EnsembleSignal):
    """:class:`EnsembleSignal` that records member probabilities; optional label shuffling.

    Params (plus :class:`EnsembleSignal`'s):
      - ``shuffle_seed`` (default: ``-1``): >= 0 permutes each fold's training labels with
        the seed (seed, boundary); -1 trains on the real labels
    """

    params = (("shuffle_seed", -1),)

    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._rows_now = np.empty(0, int)

    def _models(self, boundary, features, labels, *args):
        if self.p.shuffle_seed >= 0 and labels is not None and boundary >= 0:
            fold = self.schedule.fold(boundary)
            labels = shuffle_fold_labels(labels, fold.train_start, fold.train_stop,
                                         [int(self.p.shuffle_seed), int(boundary)])
        return super()._models(boundary, features, labels, *args)

    def _score(self, fitted, features, rows):
        self._rows_now = np.asarray(rows)
        return super()._score(fitted, features, rows)

    def _combine(self, fitted, outputs):
        self.records.append((self._rows_now, np.stack(outputs, axis=1), self.member_weights(fitted)))
        return super()._combine(fitted, outputs)


class RecordingLagNet(LagNet):
    """:class:`LagNet` that also forecasts with a static lag chosen on each fold's training rows.

    Params (plus :class:`LagNet`'s):
      - ``static_rows`` (default: ``2000``): most recent training samples used to choose the lag
    """

    params = (("static_rows", 2000),)

    def __init__(self) -> None:
        super().__init__()
        self.static_records: list[tuple[int, np.ndarray]] = []
        self.static_lags: dict[int, int] = {}
        self._all_features: np.ndarray | None = None
        self._all_targets: np.ndarray | None = None

    def _static_inputs(self) -> tuple[np.ndarray, np.ndarray]:
        if self._all_features is None:
            n = self.data.buflen()
            arrays = [np.asarray(getattr(self.data, f).array[:n], dtype=float) for f in _OHLCV]
            self._all_features = build_features(*arrays, spec=self.feature_spec)
            self._all_targets = self._labels(arrays)
        return self._all_features, self._all_targets

    def static_lag(self, fitted) -> int:
        """The candidate lag with the least squared forecast error on the fold's training rows."""
        b = fitted.fold.boundary
        if b not in self.static_lags:
            features, targets = self._static_inputs()
            walker = self.walkers[0]
            known = walker.known_labels(b, targets)
            rows = walker.sample_rows(fitted.fold, features[:b], known)[-int(self.p.static_rows):]
            X = fitted.scale(sequence_windows(features[:b], rows, walker.spec.window))
            grid = fitted.model.candidate_lags()
            errors = [np.mean((fitted.model.forecast(X, np.full(len(X), g)) - known[rows]) ** 2) for g in grid]
            self.static_lags[b] = int(grid[int(np.argmin(errors))])
        return self.static_lags[b]

    def _forecast(self, fitted, windows, lags):
        out = super()._forecast(fitted, windows, lags)
        if fitted is not None and len(windows):
            static = np.full(len(windows), float(self.static_lag(fitted)))
            self.static_records.append((fitted.fold.boundary, super()._forecast(fitted, windows, static)))
        return out


class _Host(bt.Strategy):
    """Holds one indicator; trades nothing."""

    params = (("indicator", None), ("kwargs", None))

    def __init__(self) -> None:
        self.ind = self.p.indicator(self.data, **(self.p.kwargs or {}))


def run_indicator(indicator: type[bt.Indicator], df: pd.DataFrame, **kwargs) -> tuple[bt.Indicator, float]:
    """Run ``indicator`` over ``df`` in runonce mode; return it and the wall time in seconds."""
    cerebro = bt.Cerebro(stdstats=False, runonce=True, preload=True)
    cerebro.adddata(make_feed("data", df))
    cerebro.addstrategy(_Host, indicator=indicator, kwargs=kwargs)
    t0 = time.perf_counter()
    strat = cerebro.run()[0]
    return strat.ind, time.perf_counter() - t0


@dataclass
class EnsembleForecast:
    """Per-bar outputs of one ensemble run (NaN before the first fold or without a model)."""

    members: list[str]
    member_proba: np.ndarray  # (n, M, 3): short, neutral, long
    learned_weights: np.ndarray  # (n, M): the indicator's weights (its ``weights`` param)
    proba: np.ndarray  # (n, 3) the indicator's own soft vote
    wall_s: float
    info: dict = field(default_factory=dict)


def ensemble_forecast(df: pd.DataFrame, members: str, **params) -> EnsembleForecast:
    """Run :class:`RecordingEnsemble` over ``df``; params as EnsembleSignal's (+ shuffle_seed)."""
    ind, wall = run_indicator(RecordingEnsemble, df, members=members, **params)
    n, m = len(df), len(ind.walkers)
    member_proba = np.full((n, m, 3), np.nan)
    weights = np.full((n, m), np.nan)
    for rows, outputs, w in ind.records:
        member_proba[rows] = outputs
        weights[rows] = w
    lines = ind.lines
    proba = np.column_stack([np.asarray(lines.p_short.array[:n]), np.asarray(lines.p_neutral.array[:n]),
                             np.asarray(lines.p_long.array[:n])])
    kinds = [w.spec.kind for w in ind.walkers]
    return EnsembleForecast(kinds, member_proba, weights, proba, wall, {"folds": len(ind.records)})


@dataclass
class LagForecast:
    """Dynamic-lag and static-lag forecasts of one LagNet run."""

    lag: np.ndarray
    dynamic: np.ndarray
    static: np.ndarray
    static_lags: dict[int, int]
    wall_s: float


def lagnet_forecast(df: pd.DataFrame, **params) -> LagForecast:
    """Run :class:`RecordingLagNet` over ``df``; the static forecast is placed fold by fold."""
    ind, wall = run_indicator(RecordingLagNet, df, **params)
    n = len(df)
    static = np.full(n, np.nan)
    every = ind.schedule.retrain_every
    for boundary, values in ind.static_records:
        rows = np.arange(boundary, min(boundary + every, n))
        static[rows[: len(values)]] = values
    return LagForecast(np.asarray(ind.lines.lag.array[:n]), np.asarray(ind.lines.forecast.array[:n]), static,
                       dict(ind.static_lags), wall)
