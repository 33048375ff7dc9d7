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
from dataclasses import dataclass
from typing import Any

import backtrader as bt
import numpy as np
from tqdm.auto import tqdm

from btedge.models.features import FEATURES, FeatureSpec, FeatureStream, build_features, sequence_windows
from btedge.models.labels import CLASS_SIDE, LabelSpec, forward_return, make_labels
from btedge.models.spec import ModelSpec, member_seed, parse_members
from btedge.training.cache import DataIdentity, ModelCache, ModelCacheError, fingerprint
from btedge.training.schedule import Schedule
from btedge.training.walkforward import FittedFold, WalkForward

__all__ = ["WalkForwardIndicator", "EnsembleSignal", "LagNet", "LagNetLag", "BarArrays", "timeframe_text"]
log = logging.getLogger(__name__)
_OHLCV = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class BarArrays:
    """One instrument's bars as a data feed gives them to a walk-forward indicator: the OHLCV
    arrays (float64, a missing volume as 0), the backtrader date numbers of the bars, the data's
    name and timeframe (``timeframe_text``): what ``once()`` reads, for a detached indicator."""

    ohlcv: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    times: np.ndarray
    name: str
    timeframe: str


def timeframe_text(timeframe: int, compression: int) -> str:
    """A data's bar size as its manifest records it, e.g. ``'5 Minutes'``."""
    return f"{compression} {bt.TimeFrame.getname(timeframe, compression)}"


def bar_time(num: float) -> str:
    """A backtrader date number as ``YYYY-MM-DD HH:MM:SS``."""
    return bt.num2date(num).isoformat(sep=" ") if np.isfinite(num) else "unknown"


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
      - ``cache_dir`` (default: ``''``): model cache folder; '' = ``.cache/btedge-models``
      - ``seed`` (default: ``0``), ``seq_len`` (default: ``32``), ``hidden`` (default: ``16``):
        model seed and size
      - ``epochs`` (default: ``40``): most training epochs (xgboost: ``n_estimators`` rounds);
        early stopping on the purged validation tail picks the number, then each fold's model
        is refit on its whole training window
      - ``min_samples`` (default: ``200``): folds with fewer samples are skipped (NaN)
      - ``max_samples`` (default: ``0``): train on the most recent samples only (0 = all)
      - ``gamma`` (default: ``0.5``): Laguerre gamma of the features
      - ``pretrained`` (default: ``False``): score with the newest fold model that a backtest
        with the same params recorded in ``cache_dir`` for this data (symbol and timeframe;
        an unnamed data by its first bar); nothing is trained. Only bars after that fold's
        training data end are scored (a model never scores the bars it was trained on); the
        others are NaN, with a warning
      - ``max_age_days`` (default: ``30``): with ``pretrained``, refuse to score a bar more than
        this many days after the fold's training data end (0 = no limit)

    A run in which no fold can train (too few bars or samples) logs a WARNING saying why, rather
    than returning NaN silently.
    """

    params = (
        ("train_bars", 2000), ("retrain_every", 500), ("window", "expanding"), ("horizon", 5),
        ("embargo", 0), ("cache_dir", ""), ("seed", 0), ("seq_len", 32), ("hidden", 16),
        ("epochs", 40), ("min_samples", 200), ("max_samples", 0), ("gamma", 0.5), ("pretrained", False),
        ("max_age_days", 30.0),
    )
    _feature_columns: tuple[str, ...] | None = None
    #: Params shown in the plot legend.
    _label_params: tuple[str, ...] = ("horizon",)

    def __init__(self) -> None:
        missing = [f for f in _OHLCV if not hasattr(self.data, f)]
        if missing:
            raise ValueError(f"{type(self).__name__} needs an OHLCV data feed; the input has no {missing} line(s)")
        self._given: BarArrays | None = None
        self._prepare()

    @classmethod
    def detached(cls, bars: BarArrays, **params: Any) -> WalkForwardIndicator:
        """The indicator without a data feed, on ``bars`` (the vector engine): the same params,
        validation, fold cache, ``pretrained`` pinning and warnings; :meth:`compute` gives the
        lines ``once()`` would give a feed with these bars, bit for bit."""
        unknown = sorted(set(params) - {name for name, _ in cls.params._getitems()})
        if unknown:
            raise ValueError(f"unknown param(s) {unknown} for {cls.__name__}")
        obj = object.__new__(cls)
        obj.params = obj.p = cls.params()
        for name, default in cls.params._getitems():
            setattr(obj.p, name, params.get(name, default))
        obj.lines = cls.lines()
        obj._given = bars
        obj._prepare()
        return obj

    def compute(self) -> dict[str, np.ndarray]:
        """A detached indicator's lines over its bars (name -> array), as ``once()`` computes
        them, with the same end-of-run warnings (:meth:`report`)."""
        if self._given is None:
            raise ValueError(f"{type(self).__name__}.compute() needs a detached indicator (see detached())")
        if self._batch is None:
            self._run_batch(len(self._given.times))
        return {name: self._batch[:, i] for i, name in enumerate(self.lines.getlinealiases())}

    def _run_batch(self, n: int) -> None:
        """Every bar's lines in one batch (the one computation of ``once()`` and :meth:`compute`)."""
        self._batch = self._compute_batch(n)
        self.report()

    def _prepare(self) -> None:
        """Everything that needs only the params: schedule, cache, walkers (validated)."""
        self.schedule = Schedule(
            int(self.p.train_bars), int(self.p.retrain_every), int(self.p.horizon), self.p.window, int(self.p.embargo)
        )
        if not self.p.max_age_days >= 0:
            raise ValueError(f"max_age_days must be >= 0 (0 = no limit), got {self.p.max_age_days!r}")
        self.feature_spec = FeatureSpec(self.p.gamma, self._feature_columns or FEATURES)
        self.cache = ModelCache(self.p.cache_dir)
        self.walkers: list[WalkForward] = []
        self._setup()
        need = max(w.spec.window for w in self.walkers)
        if self.p.train_bars < need:
            raise ValueError(f"train_bars must be >= the model window ({need} bars), got {self.p.train_bars}")
        self._window = need
        self._stream = FeatureStream(self.feature_spec)
        self._hist: list[list[float]] = [[] for _ in _OHLCV]
        self._times: list[float] = []
        self._rows: list[np.ndarray] = []
        self._batch: np.ndarray | None = None
        self._pinned: list[FittedFold] | None = None
        self._cutoff = np.nan  # pretrained: bars at or before this time are not scored
        self._unscored = self._scored = 0
        self._warned = self._bound = False
        self._next_boundary: int | None = None
        self._next_fitted: list[FittedFold | None] = []

    def _plotlabel(self) -> list[str]:
        return [f"{name}={getattr(self.p, name)}" for name in self._label_params]

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

    # -- data identity and pretrained folds ----------------------------------------------------
    def data_identity(self, first_bar: np.ndarray) -> DataIdentity:
        """Symbol and timeframe of the data; an unnamed data is told apart by its first bar
        (time and OHLCV)."""
        if self._given is not None:
            name, timeframe = self._given.name, self._given.timeframe
        else:
            d = self.data
            timeframe = timeframe_text(d._timeframe, d._compression)
            name = getattr(d, "_name", "") or ""
        return DataIdentity(name, timeframe, "" if name else fingerprint(np.asarray(first_bar, dtype=float)))

    def _bind(self, first_bar: np.ndarray) -> None:
        """Once, at the first bar: tie the walkers' manifests to this data; pin the folds if pretrained."""
        if self._bound:
            return
        self._bound = True
        identity = self.data_identity(first_bar)
        for w in self.walkers:
            w.bind(identity)
        if self.p.pretrained:
            self._pinned = [w.latest() for w in self.walkers]
            ends = [f.meta.get("train_end_time") for f in self._pinned]
            if any(e is None for e in ends):
                raise ModelCacheError(f"{self.walkers[0].manifest.path}: the newest fold has no recorded training end, so "
                                      f"pretrained cannot tell which bars it saw; retrain with a backtest (same "
                                      f"params and cache_dir) or pass another cache_dir")
            self._cutoff = max(ends)

    def _check_age(self, now: float) -> None:
        age = now - self._cutoff
        if self.p.max_age_days and age > self.p.max_age_days:
            raise ValueError(
                f"{type(self).__name__} pretrained: the newest fold was trained on data up to "
                f"{bar_time(self._cutoff)}, {age:.1f} days before the bar at {bar_time(now)}, older than "
                f"max_age_days={self.p.max_age_days}: retrain (a backtest over recent data, same params and "
                f"cache_dir) or raise max_age_days"
            )

    def _report_unscored(self) -> None:
        if not self._unscored:
            return
        log.warning(
            "%s pretrained: %d bars at or before the end of the pinned fold's training data (%s) are not "
            "scored (NaN): a model never scores the bars it was trained on%s",
            type(self).__name__, self._unscored, bar_time(self._cutoff),
            "" if self._scored else "; no bar is after it, so nothing is scored: run without pretrained "
            "to walk forward over this data",
        )
        self._unscored = 0

    def report(self) -> None:
        """At the end of a run (``once``, or the strategy's ``stop``): WARN about bars that
        pretrained did not score, and (once) when no fold could train, with the reason and fix."""
        self._report_unscored()
        if self._warned or self.p.pretrained or any(w.trained_any for w in self.walkers):
            return
        self._warned = True
        n = len(self._rows) if self._batch is None else len(self._batch)
        if n <= self.p.train_bars:
            why = f"the first fold starts at bar train_bars={self.p.train_bars} and the data has {n} bars"
        else:
            skipped = sorted({b for w in self.walkers for b in w.skipped()})
            why = (f"every fold (bars {', '.join(map(str, skipped[:6]))}) had fewer than "
                   f"min_samples={self.p.min_samples} labelled training samples")
        log.warning("%s: no fold could train: %s; every value is NaN and nothing trades. Give more data, or "
                    "lower train_bars / min_samples (btedge-backtest: --train-bars N, --param min_samples=N)",
                    type(self).__name__, why)

    # -- shared machinery --------------------------------------------------------------------
    def _models(self, boundary: int, features: np.ndarray, labels: np.ndarray | None,
                times: np.ndarray) -> list[FittedFold | None]:
        if self._pinned is not None:
            return self._pinned
        return [w.fitted(boundary, features, labels if w.supervised else None, times) for w in self.walkers]

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

    def _segments(self, times: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """(boundary, bar rows) scored by each fold; pretrained: one segment of the bars after the
        pinned fold's training end (from the first full window)."""
        n = len(times)
        if self._pinned is not None:
            rows = np.arange(self._window - 1, n)
            rows = rows[times[rows] > self._cutoff]
            self._unscored, self._scored = int((times <= self._cutoff).sum()), rows.size
            if rows.size:
                self._check_age(float(times[rows[-1]]))
            return [(-1, rows)] if rows.size else []
        every = self.schedule.retrain_every
        return [(b, np.arange(b, min(b + every, n))) for b in self.schedule.boundaries(n)]

    def _current_boundary(self, t: int) -> int | None:
        if self._pinned is not None:
            if not self._times[t] > self._cutoff:
                self._unscored += 1
                return None
            if t < self._window - 1:  # warm-up: the first window is not full yet
                return None
            self._scored += 1
            self._report_unscored()
            self._check_age(self._times[t])
            return -1
        return self.schedule.boundary_at(t)

    # -- runonce: one batch of predictions per fold ---------------------------------------------
    def _arrays(self, n: int) -> tuple[list[np.ndarray], np.ndarray]:
        """The first ``n`` bars (OHLCV, date numbers): from the feed, or a detached indicator's bars."""
        if self._given is not None:
            arrays = [np.asarray(a[:n], dtype=float) for a in self._given.ohlcv]
            times = np.asarray(self._given.times[:n], dtype=float)
        else:
            arrays = [np.asarray(getattr(self.data, f).array[:n], dtype=float) for f in _OHLCV]
            times = np.asarray(self.data.datetime.array[:n], dtype=float)
        if n:
            self._bind(np.array([times[0]] + [a[0] for a in arrays]))
        return arrays, times

    def _compute_batch(self, n: int) -> np.ndarray:
        arrays, times = self._arrays(n)
        features = build_features(*arrays, spec=self.feature_spec)
        labels = self._labels(arrays)
        out = np.full((n, self.lines.size()), np.nan)
        for b, rows in tqdm(self._segments(times), desc=type(self).__name__, leave=False, disable=None):
            out[rows] = self._score(self._models(b, features, labels, times), features, rows)
        return out

    def once(self, start: int, end: int) -> None:
        if self._batch is None:
            self._run_batch(self.data.buflen())
        for i, line in enumerate(self.lines):
            arr = line.array
            for t in range(start, end):
                arr[t] = self._batch[t, i]

    # -- next / live: the latest fold's model scores the newest window ------------------------------
    def _take_bar(self) -> int | None:
        """Record the newest bar and its feature row; return the fold boundary in force, if any."""
        bar = [float(getattr(self.data, f)[0]) for f in _OHLCV]
        now = float(self.data.datetime[0])
        if not self._times:
            self._bind(np.array([now] + bar))
        for hist, x in zip(self._hist, bar):
            hist.append(x)
        self._times.append(now)
        self._rows.append(self._stream.update(*bar))
        return self._current_boundary(len(self._rows) - 1)

    def next(self) -> None:
        b = self._take_bar()
        values = np.full(self.lines.size(), np.nan)
        if b is not None:
            values = self._score_newest(self._models_for_next(b), np.array(self._rows[-self._window:]))[0]
        for line, v in zip(self.lines, values):
            line[0] = v

    def _score_newest(self, fitted: list[FittedFold | None], window: np.ndarray) -> np.ndarray:
        """``_score`` of the newest bar alone (``window``: the last rows, oldest first): each member
        scores its scaled last ``spec.window`` rows, with the arithmetic of ``FittedFold.predict``
        but no index windows or masks (a live step)."""
        outputs = []
        for w, f in zip(self.walkers, fitted):
            x = window[len(window) - w.spec.window:][None]
            if f is None or not np.isfinite(x).all():
                outputs.append(np.full((1, self._n_out(w.spec)), np.nan))
            else:
                outputs.append(np.asarray(f.model.predict(f.scale(x)), dtype=np.float64))
        return self._combine(fitted, outputs)

    def _models_for_next(self, boundary: int) -> list[FittedFold | None]:
        if self._pinned is not None:
            return self._pinned
        if self._next_boundary != boundary:
            arrays = [np.asarray(h[:boundary]) for h in self._hist]
            features = build_features(*arrays, spec=self.feature_spec)
            times = np.asarray(self._times[:boundary])
            self._next_fitted = self._models(boundary, features, self._labels(arrays), times)
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


#: Weight of a member that is no better than the class prior on its validation tail.
WEIGHT_FLOOR = 1e-3


def learned_weight(gain: float | None) -> float:
    """max(gain, 0) + WEIGHT_FLOOR; a member without a validation score gets the floor."""
    return max(gain, 0.0) + WEIGHT_FLOOR if gain is not None and np.isfinite(gain) else WEIGHT_FLOOR


class EnsembleSignal(WalkForwardIndicator):
    """
    Soft vote of walk-forward direction classifiers (1-D CNN, LSTM, TCN, CNN-LSTM, XGBoost)
    over 3 classes: long / neutral / short from the forward return over ``horizon`` bars with a
    volatility-scaled neutral band (or triple-barrier labels).

    Formula:
      - p_k = sum_i w_i * p_k^(i) / sum_i w_i over members i with a model for the fold
      - signal = +1 / 0 / -1 for argmax long / neutral / short; confidence = max_k p_k
      - learned weights: w_i = max(g_i, 0) + 0.001, g_i = the member's log-loss gain over the
        class prior on the fold's purged validation tail (last 20 % of the training samples;
        class-weighted, see ``btedge.training.validation``); a member no better than the prior
        keeps only the floor
      - member i's seed is a hash of (``seed``, i, kind, its ``kind:seed``): independent members,
        and no member shared between two values of ``seed``

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
    _label_params = ("members", "horizon")

    def _setup(self) -> None:
        self.label_spec = LabelSpec(int(self.p.horizon), float(self.p.band), self.p.labels)
        kinds = parse_members(self.p.members)
        self._w = _weights(self.p.weights, len(kinds))
        for i, spec in enumerate(kinds):
            if spec.kind in ("iforest", "lagnet"):
                raise ValueError(f"members must be direction classifiers, got {spec.kind!r}")
            member = self._model_spec(spec.kind, member_seed(self.p.seed, i, spec.kind, spec.seed))
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
            w = np.array([learned_weight(None if f is None else f.meta.get("val_gain")) for f in fitted])
        return np.where([f is not None for f in fitted], w, 0.0)

    def _weights_of(self, fitted: list[FittedFold | None]) -> np.ndarray:
        """``member_weights``, kept for the fold list that ``next()`` reuses bar after bar."""
        cached = getattr(self, "_weights_cache", None)
        if cached is None or cached[0] is not fitted:
            self._weights_cache = cached = (fitted, self.member_weights(fitted))
        return cached[1]

    def _combine(self, fitted, outputs) -> np.ndarray:
        w = self._weights_of(fitted)
        out = np.full((len(outputs[0]), 5), np.nan)
        if not w.sum() > 0:
            return out
        probs = sum(wi * o for wi, o in zip(w, outputs) if wi > 0) / w.sum()
        if len(probs) == 1:  # a live step: the same values without the row masks
            p = probs[0]
            side = CLASS_SIDE[p.argmax()] if np.isfinite(p).all() else np.nan
            return np.array([[p[2], p[1], p[0], side, p.max()]])
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
    plotlines = dict(lag=dict(_plotskip=True))  # bars, not a return: plotted on its own axis by LagNetLag

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
        arrays, times = self._arrays(n)
        features = build_features(*arrays, spec=self.feature_spec)
        labels = self._labels(arrays)
        win = self._window
        out = np.full((n, 2), np.nan)
        folds = []
        for b, rows in tqdm(self._segments(times), desc="LagNet", leave=False, disable=None):
            fitted = self._models(b, features, labels, times)[0]
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


class LagNetLag(bt.Indicator):
    """
    LagNet's smoothed lag, in bars, on its own plot axis (the forecast, a return, has another
    scale). Create it on ``lagnet.lag``; it only copies the line.

    Formula:
      - lag = LagNet.lag

    See:
      - :class:`LagNet`
    """

    lines = ("lag",)
    plotinfo = dict(subplot=True, plotname="LagNet lag (bars)")

    def __init__(self) -> None:
        self.lines.lag = self.data
