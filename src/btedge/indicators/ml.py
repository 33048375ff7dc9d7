"""Walk-forward ML indicators: ensemble direction signal and LagNet forecast.

Each fold's model is trained on bars strictly before the fold boundary (see
``btedge.training.Schedule``) through a disk cache keyed by the exact training data, so a
``runonce`` backtest (one batch of predictions per fold), a ``next()`` run and a live feed (the
latest fold's model scores the newest window) use identical models and give identical lines.
Lines are NaN before the first trained fold.

Backtest, then live with the models the backtest trained::

    sig = EnsembleSignal(data, members="lstm,cnn,tcn,xgb", train_bars=5000, retrain_every=2500,
                         window="sliding", cache_dir="models")        # trains / loads per fold
    # live, same params and cache_dir: the newest fold from the run's manifest, no training
    sig = EnsembleSignal(data, members="lstm,cnn,tcn,xgb", train_bars=5000, retrain_every=2500,
                         window="sliding", cache_dir="models", pretrained=True)
"""
from __future__ import annotations

import logging

import backtrader as bt
import numpy as np
from tqdm.auto import tqdm

from btedge.models.features import FEATURES, FeatureSpec, FeatureStream, build_features, sequence_windows
from btedge.models.labels import CLASS_SIDE, LabelSpec, forward_return, make_labels
from btedge.models.spec import ModelSpec, parse_members
from btedge.training.cache import ModelCache
from btedge.training.schedule import Schedule
from btedge.training.walkforward import FittedFold, WalkForward

__all__ = ["WalkForwardIndicator", "EnsembleSignal", "LagNet"]
log = logging.getLogger(__name__)
_OHLCV = ("open", "high", "low", "close", "volume")


class WalkForwardIndicator(bt.Indicator):
    """
    Base of the walk-forward ML indicators (not used directly).

    Subclasses build ``self.walkers`` (one :class:`~btedge.training.WalkForward` per model) in
    ``_setup()`` and turn the members' raw outputs for a run of bars into line values in
    ``_combine(fitted, outputs)``. ``_labels(arrays)`` gives the training targets (None for
    unsupervised models).

    Params (shared):
      - ``train_bars`` (default: ``2000``): bars before the first fold; sliding window length
      - ``retrain_every`` (default: ``500``): bars between refits
      - ``window`` (default: ``'expanding'``): or ``'sliding'``
      - ``horizon`` (default: ``5``): label horizon in bars
      - ``embargo`` (default: ``0``): bars dropped before each fold; 0 = ``horizon + 1``
      - ``cache_dir`` (default: ``''``): model cache; '' = ``.cache/btedge-models``
      - ``seed`` (default: ``0``), ``seq_len`` (default: ``32``), ``hidden`` (default: ``16``),
        ``epochs`` (default: ``5``): model size and training
      - ``min_samples`` (default: ``200``): folds with fewer samples are skipped (NaN)
      - ``max_samples`` (default: ``0``): train on the most recent samples only (0 = all)
      - ``gamma`` (default: ``0.5``): Laguerre gamma of the features
      - ``pretrained`` (default: ``False``): live use: score every bar (once its window is full)
        with the newest fold model that a backtest with the same params recorded in
        ``cache_dir``'s manifest; nothing is trained
    """

    params = (
        ("train_bars", 2000), ("retrain_every", 500), ("window", "expanding"), ("horizon", 5),
        ("embargo", 0), ("cache_dir", ""), ("seed", 0), ("seq_len", 32), ("hidden", 16),
        ("epochs", 5), ("min_samples", 200), ("max_samples", 0), ("gamma", 0.5), ("pretrained", False),
    )
    _feature_columns: tuple[str, ...] | None = None

    def __init__(self) -> None:
        missing = [f for f in _OHLCV if not hasattr(self.data, f)]
        if missing:
            raise ValueError(f"{type(self).__name__} needs an OHLCV data feed; the input has no {missing} line(s)")
        self.schedule = Schedule(
            int(self.p.train_bars), int(self.p.retrain_every), int(self.p.horizon), self.p.window, int(self.p.embargo)
        )
        self.feature_spec = FeatureSpec(self.p.gamma, self._feature_columns or FEATURES)
        self.cache = ModelCache(self.p.cache_dir or None)
        self.walkers: list[WalkForward] = []
        self._setup()
        need = max(w.spec.window for w in self.walkers)
        if self.p.train_bars < need:
            raise ValueError(f"train_bars must be >= the model window ({need} bars), got {self.p.train_bars}")
        self._window = need
        self._stream = FeatureStream(self.feature_spec)
        self._hist: list[list[float]] = [[] for _ in _OHLCV]
        self._rows: list[np.ndarray] = []
        self._batch: np.ndarray | None = None
        self._pinned = [w.latest() for w in self.walkers] if self.p.pretrained else None
        self._next_boundary: int | None = None
        self._next_fitted: list[FittedFold | None] = []

    # -- subclass hooks ----------------------------------------------------------------------
    def _setup(self) -> None:
        raise NotImplementedError

    def _labels(self, arrays: list[np.ndarray]) -> np.ndarray | None:
        return None

    def _combine(self, fitted: list[FittedFold | None], outputs: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def _model_spec(self, kind: str, seed: int, **extra) -> ModelSpec:
        p = self.p
        return ModelSpec(kind=kind, seed=seed, seq_len=p.seq_len, hidden=p.hidden, epochs=p.epochs, **extra)

    def _walker(self, spec: ModelSpec, label_key: dict | None) -> WalkForward:
        return WalkForward(self.schedule, spec, self.cache, self.feature_spec.key(), label_key,
                           min_samples=self.p.min_samples, max_samples=self.p.max_samples)

    # -- shared machinery --------------------------------------------------------------------
    def _models(self, boundary: int, features: np.ndarray, labels: np.ndarray | None) -> list[FittedFold | None]:
        if self._pinned is not None:
            return self._pinned
        return [w.fitted(boundary, features, labels if w.supervised else None) for w in self.walkers]

    def _score(self, fitted: list[FittedFold | None], features: np.ndarray, rows: np.ndarray) -> np.ndarray:
        outputs = []
        for w, f in zip(self.walkers, fitted):
            n_out = self._n_out(w.spec)
            if f is None:
                outputs.append(np.full((rows.size, n_out), np.nan))
            else:
                outputs.append(f.predict(sequence_windows(features, rows, w.spec.window), n_out))
        return self._combine(fitted, outputs)

    def _n_out(self, spec: ModelSpec) -> int:
        return 3

    def _segments(self, n: int) -> list[tuple[int, np.ndarray]]:
        """(boundary, bar rows) scored by each fold; one segment from the first full window if pinned."""
        if self._pinned is not None:
            return [(-1, np.arange(self._window - 1, n))] if n >= self._window else []
        every = self.schedule.retrain_every
        return [(b, np.arange(b, min(b + every, n))) for b in self.schedule.boundaries(n)]

    def _current_boundary(self, t: int) -> int | None:
        if self._pinned is not None:
            return -1 if t >= self._window - 1 else None
        return self.schedule.boundary_at(t)

    # -- runonce: one batch of predictions per fold ---------------------------------------------
    def _compute_batch(self, n: int) -> np.ndarray:
        arrays = [np.asarray(getattr(self.data, f).array[:n], dtype=float) for f in _OHLCV]
        features = build_features(*arrays, spec=self.feature_spec)
        labels = self._labels(arrays)
        out = np.full((n, self.lines.size()), np.nan)
        for b, rows in tqdm(self._segments(n), desc=type(self).__name__, leave=False, disable=None):
            out[rows] = self._score(self._models(b, features, labels), features, rows)
        return out

    def once(self, start: int, end: int) -> None:
        if self._batch is None:
            self._batch = self._compute_batch(self.data.buflen())
        for i, line in enumerate(self.lines):
            arr = line.array
            for t in range(start, end):
                arr[t] = self._batch[t, i]

    # -- next / live: the latest fold's model scores the newest window ------------------------------
    def _take_bar(self) -> int | None:
        """Record the newest bar and its feature row; return the fold boundary in force, if any."""
        bar = [float(getattr(self.data, f)[0]) for f in _OHLCV]
        for hist, x in zip(self._hist, bar):
            hist.append(x)
        self._rows.append(self._stream.update(*bar))
        return self._current_boundary(len(self._rows) - 1)

    def next(self) -> None:
        b = self._take_bar()
        values = np.full(self.lines.size(), np.nan)
        if b is not None:
            fitted = self._models_for_next(b)
            window = np.array(self._rows[-self._window:])
            values = self._score(fitted, window, np.array([len(window) - 1]))[0]
        for line, v in zip(self.lines, values):
            line[0] = v

    def _models_for_next(self, boundary: int) -> list[FittedFold | None]:
        if self._pinned is not None:
            return self._pinned
        if self._next_boundary != boundary:
            arrays = [np.asarray(h[:boundary]) for h in self._hist]
            features = build_features(*arrays, spec=self.feature_spec)
            self._next_fitted = self._models(boundary, features, self._labels(arrays))
            self._next_boundary = boundary
        return self._next_fitted


def _weights(text: str, n: int) -> np.ndarray | str:
    if text in ("learned", "equal"):
        return text
    try:
        w = np.array([float(x) for x in text.split(",")])
    except ValueError:
        w = np.array([])
    if w.size != n or (w < 0).any() or not w.sum() > 0:
        raise ValueError(
            f"weights must be 'learned', 'equal' or {n} non-negative comma-separated numbers, got {text!r}"
        )
    return w


class EnsembleSignal(WalkForwardIndicator):
    """
    Soft vote of walk-forward direction classifiers (1-D CNN, LSTM, TCN, CNN-LSTM, XGBoost)
    over 3 classes: long / neutral / short from the forward return over ``horizon`` bars with a
    volatility-scaled neutral band (or triple-barrier labels).

    Formula:
      - p_k = sum_i w_i * p_k^(i) / sum_i w_i over members i with a model for the fold
      - signal = +1 / 0 / -1 for argmax long / neutral / short; confidence = max_k p_k
      - learned weights: w_i = max(acc_i - acc_majority_i, 0) + 0.01 on the fold's purged
        validation tail (last 20 % of the training samples)

    Params (plus :class:`WalkForwardIndicator`'s):
      - ``members`` (default: ``'lstm,lstm,cnn,cnn,tcn,tcn,xgb'``): model kinds, ``kind:seed``
        allowed; a repeated kind gets the next seed
      - ``weights`` (default: ``'learned'``): ``'learned'``, ``'equal'`` or one number per member
      - ``band`` (default: ``0.5``): neutral half-width in sigma * sqrt(horizon)
      - ``labels`` (default: ``'fixed'``): ``'fixed'`` or ``'barrier'`` (triple barrier)

    See:
      - Bai, Kolter & Koltun (2018), arXiv:1803.01271 (TCN)
      - Lopez de Prado (2018), *Advances in Financial Machine Learning*, ch. 3 and 7
    """

    alias = ("Ensemble",)
    lines = ("p_long", "p_neutral", "p_short", "signal", "confidence")
    params = (("members", "lstm,lstm,cnn,cnn,tcn,tcn,xgb"), ("weights", "learned"), ("band", 0.5), ("labels", "fixed"))
    plotinfo = dict(subplot=True, plotymargin=0.05)
    plotlines = dict(signal=dict(_plotskip=True))

    def _setup(self) -> None:
        self.label_spec = LabelSpec(int(self.p.horizon), float(self.p.band), self.p.labels)
        kinds = parse_members(self.p.members)
        self._w = _weights(self.p.weights, len(kinds))
        for spec in kinds:
            if spec.kind in ("iforest", "lagnet"):
                raise ValueError(f"members must be direction classifiers, got {spec.kind!r}")
            member = self._model_spec(spec.kind, self.p.seed + spec.seed)
            self.walkers.append(self._walker(member, self.label_spec.key()))

    def _labels(self, arrays: list[np.ndarray]) -> np.ndarray:
        return make_labels(arrays[1], arrays[2], arrays[3], self.label_spec)

    def member_weights(self, fitted: list[FittedFold | None]) -> np.ndarray:
        """Weight of each member for one fold (0 where the member has no model)."""
        if isinstance(self._w, np.ndarray):
            w = self._w.copy()
        elif self._w == "equal":
            w = np.ones(len(fitted))
        else:
            w = np.array([
                1.0 if f is None or f.meta.get("val_acc") is None
                else max(f.meta["val_acc"] - f.meta["val_majority_acc"], 0.0) + 0.01
                for f in fitted
            ])
        return np.where([f is not None for f in fitted], w, 0.0)

    def _combine(self, fitted, outputs) -> np.ndarray:
        w = self.member_weights(fitted)
        out = np.full((len(outputs[0]), 5), np.nan)
        if not w.sum() > 0:
            return out
        probs = sum(wi * o for wi, o in zip(w, outputs) if wi > 0) / w.sum()
        ok = np.isfinite(probs).all(axis=1)
        out[:, 0], out[:, 1], out[:, 2] = probs[:, 2], probs[:, 1], probs[:, 0]
        out[ok, 3] = CLASS_SIDE[probs[ok].argmax(axis=1)]
        out[:, 4] = probs.max(axis=1)
        return out


class LagNet(WalkForwardIndicator):
    """
    LagNet: a lag-length network picks how many recent bars an LSTM forecaster sees; the
    forecaster predicts the forward return over ``horizon`` bars. Both are trained
    walk-forward (see :class:`WalkForwardIndicator`).

    Formula:
      - raw_lag_t = 1 + (max_lag - 1) * sigmoid(LSTM(x_{t-seq_len+1..t}))
      - lag_t = smoothing * raw_lag_t + (1 - smoothing) * lag_{t-1}  (EMA; no jitter)
      - forecast_t = LSTM(last round(lag_t) feature rows) * std of training targets

    Params (plus :class:`WalkForwardIndicator`'s):
      - ``max_lag`` (default: ``0``): longest history, in [2, ``seq_len``]; 0 = ``seq_len``
      - ``smoothing`` (default: ``0.2``): EMA factor of the lag, in (0, 1]

    See:
      - Hochreiter & Schmidhuber (1997), "Long Short-Term Memory"
    """

    alias = ("LagNetForecaster",)
    lines = ("lag", "forecast")
    params = (("max_lag", 0), ("smoothing", 0.2))
    plotinfo = dict(subplot=True)

    def _setup(self) -> None:
        max_lag = int(self.p.max_lag) or int(self.p.seq_len)
        spec = self._model_spec("lagnet", self.p.seed, max_lag=max_lag, smoothing=float(self.p.smoothing))
        self.walkers.append(self._walker(spec, {"target": "forward_return", "horizon": int(self.p.horizon)}))
        self._lag_state = np.nan

    def _labels(self, arrays: list[np.ndarray]) -> np.ndarray:
        return forward_return(arrays[3], int(self.p.horizon))

    def _n_out(self, spec: ModelSpec) -> int:
        return 1

    def _smooth(self, raw: float) -> float:
        if np.isfinite(raw):
            a = self.p.smoothing
            self._lag_state = raw if np.isnan(self._lag_state) else a * raw + (1.0 - a) * self._lag_state
            return self._lag_state
        return np.nan

    def _forecast(self, fitted: FittedFold | None, windows: np.ndarray, lags: np.ndarray) -> np.ndarray:
        out = np.full(len(windows), np.nan)
        ok = np.isfinite(lags) & np.isfinite(windows).all(axis=(1, 2))
        if fitted is not None and ok.any():
            out[ok] = fitted.model.forecast(fitted.scale(windows[ok]), np.round(lags[ok]))
        return out

    def _compute_batch(self, n: int) -> np.ndarray:
        arrays = [np.asarray(getattr(self.data, f).array[:n], dtype=float) for f in _OHLCV]
        features = build_features(*arrays, spec=self.feature_spec)
        labels = self._labels(arrays)
        win = self._window
        out = np.full((n, 2), np.nan)
        folds = []
        for b, rows in tqdm(self._segments(n), desc="LagNet", leave=False, disable=None):
            fitted = self._models(b, features, labels)[0]
            windows = sequence_windows(features, rows, win)
            raw = fitted.predict(windows, 1)[:, 0] if fitted is not None else np.full(rows.size, np.nan)
            out[rows, 0] = [self._smooth(x) for x in raw]  # the EMA runs bar by bar, as in next()
            folds.append((fitted, rows, windows))
        for fitted, rows, windows in folds:
            out[rows, 1] = self._forecast(fitted, windows, out[rows, 0])
        return out

    def next(self) -> None:
        b = self._take_bar()
        lag = forecast = np.nan
        if b is not None:
            fitted = self._models_for_next(b)[0]
            window = np.array(self._rows[-self._window:])[None]
            raw = fitted.predict(window, 1)[0, 0] if fitted is not None else np.nan
            lag = self._smooth(raw)
            forecast = self._forecast(fitted, window, np.array([lag]))[0]
        self.lines.lag[0], self.lines.forecast[0] = lag, forecast
