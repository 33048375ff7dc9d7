"""ML strategies over the walk-forward indicators: LagNet forecast, ensemble signal, anomaly breakout.

Every model is trained walk-forward inside the indicators (``train_bars``, ``retrain_every``,
``horizon``, ``cache_dir`` ... are strategy params passed through), so nothing trades before
the first trained fold and a re-run loads the cached fold models instead of retraining.
"""
from __future__ import annotations

import logging
import math
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from btedge.indicators.anomaly_ml import IsolationForestAnomaly
from btedge.indicators.ml import BarArrays, EnsembleSignal, LagNet, LagNetLag, WalkForwardIndicator, timeframe_text
from btedge.strategies.base import FLAT, LONG, SHORT, BaseStrategy
from btedge.strategies.registry import register

__all__ = ["LagNetForecast", "EnsembleStrategy", "AnomalyBreakout", "ForecastSignal"]
log = logging.getLogger(__name__)

#: Walk-forward params shared by the ML strategies and passed to their indicators: read from
#: :class:`WalkForwardIndicator`, the one owner of their names and defaults.
ML_PARAMS = tuple(WalkForwardIndicator.params._getitems())
_GATES = ("off", "skip", "only")


def own_params(indicator: type) -> tuple:
    """The params ``indicator`` adds to the walk-forward ones (names and defaults)."""
    shared = {name for name, _ in ML_PARAMS}
    return tuple((k, v) for k, v in indicator.params._getitems() if k not in shared)


def ml_kwargs(p, indicator: type = WalkForwardIndicator) -> dict:
    """The strategy's values of the walk-forward params and of ``indicator``'s own params."""
    return {name: getattr(p, name) for name, _ in ML_PARAMS + own_params(indicator)}


# -- the vector engine: the indicators' batch output as arrays --------------------------------------
def bar_arrays(bars: Any) -> BarArrays:
    """What a data feed of the vector engine's ``bars`` gives the walk-forward indicators: the
    OHLCV arrays as :class:`~btedge.feeds.FrameData` reads them, its date numbers, name and
    timeframe (memoised on the bars). The frame is the one :func:`btedge.vector.engine.frame_bars`
    attached."""

    def build() -> BarArrays:
        from btedge.engine import infer_timeframe
        from btedge.feeds.frame import index_to_num

        frame = bars.memo.get(("frame",))
        if frame is None:
            raise ValueError("the ML strategies' vector signals need the data's frame (volume, timestamps, name) "
                             "beside the bars: build them with btedge.vector.engine.frame_bars(name, df) or "
                             "attach_frame(bars, name, df) (run_vector does); btedge-sweep: --engine backtrader")
        name, df = frame
        lower = {str(c).lower(): c for c in df.columns}
        volume = df[lower["volume"]].to_numpy(dtype=float) if "volume" in lower else np.zeros(len(df))
        index = pd.DatetimeIndex(df.index)  # FrameData's timestamps: the index
        return BarArrays((bars.open, bars.high, bars.low, bars.close, volume), index_to_num(index), name,
                         timeframe_text(*infer_timeframe(index)))

    return bars.memoised(("ml_bars",), build)


def indicator_arrays(indicator: type, bars: Any, kwargs: dict) -> dict[str, np.ndarray]:
    """``indicator``'s lines over ``bars`` from its own batch computation (a detached indicator:
    the same fold cache, ``pretrained`` and warnings as ``once()``), memoised per params on the
    bars, so a sweep over strategy-only params trains (or loads) each model once."""
    key = ("ml", indicator.__name__, tuple(sorted(kwargs.items())))
    return bars.memoised(key, lambda: indicator.detached(bar_arrays(bars), **kwargs).compute())


def params_kwargs(params: dict, indicator: type = WalkForwardIndicator) -> dict:
    """:func:`ml_kwargs` from a params dict."""
    return {name: params[name] for name, _ in ML_PARAMS + own_params(indicator)}


def side_of(values: np.ndarray) -> np.ndarray:
    """``_side`` of every bar: NaN -> flat, else the value as an int (int8)."""
    out = np.zeros(len(values), dtype=np.int8)
    ok = np.isfinite(values)
    out[ok] = values[ok].astype(np.int8)
    return out


class MLStrategy(BaseStrategy):
    """Base of the ML strategies: at the end of the run each walk-forward indicator reports (a
    WARNING when no fold could train, or when pretrained left bars unscored)."""

    def stop(self) -> None:
        super().stop()
        for ind in self.getindicators():
            if isinstance(ind, WalkForwardIndicator):
                ind.report()


class ForecastSignal(bt.Indicator):
    """
    Side of a return forecast: +1 above ``threshold``, -1 below ``-threshold``, else 0; NaN
    while the forecast is NaN.

    Formula:
      - signal = sign(forecast) if abs(forecast) > threshold else 0

    Params:
      - ``threshold`` (default: ``0.0``): dead band (a return fraction), >= 0

    See:
      - :class:`btedge.indicators.ml.LagNet`
    """

    lines = ("signal",)
    params = (("threshold", 0.0),)
    plotinfo = dict(plot=False)

    def __init__(self) -> None:
        if not self.p.threshold >= 0.0:
            raise ValueError(f"threshold must be >= 0, got {self.p.threshold!r}")

    def next(self) -> None:
        f = self.data[0]
        if math.isnan(f):
            self.lines.signal[0] = math.nan
        else:
            self.lines.signal[0] = LONG if f > self.p.threshold else SHORT if f < -self.p.threshold else FLAT


def _side(value: float) -> int:
    return FLAT if math.isnan(value) else int(value)


@register("lagnet_forecast")
class LagNetForecast(MLStrategy):
    """
    Trade the LagNet forecast of the return over ``horizon`` bars when it clears the
    round-trip cost: long above ``cost_mult * cost``, short below its negative, else flat.

    Params (plus :class:`BaseStrategy`'s and the walk-forward params of
    :class:`~btedge.indicators.ml.WalkForwardIndicator`, same names and defaults: ``train_bars``,
    ``retrain_every``, ``window``, ``horizon``, ``embargo``, ``cache_dir``, ``seed``, ``seq_len``,
    ``hidden``, ``epochs``, ``min_samples``, ``max_samples``, ``gamma``, ``pretrained`` (score
    with the newest fold models a backtest on this data cached; only bars after their training
    data), ``max_age_days``):
      - ``cost`` (default: ``0.0012``): round-trip cost as a fraction (2 x (commission + slippage))
      - ``cost_mult`` (default: ``1.5``): how many round-trip costs the forecast must clear
      - ``max_lag`` (default: ``0`` = ``seq_len``), ``smoothing`` (default: ``0.2``): as :class:`LagNet`
    """

    params = ML_PARAMS + own_params(LagNet) + (("cost", 0.0012), ("cost_mult", 1.5))

    def __init__(self) -> None:
        super().__init__()
        _check_cost(self.p.cost, self.p.cost_mult)
        self.lagnet = LagNet(self.data, **ml_kwargs(self.p, LagNet))
        self.lag_plot = LagNetLag(self.lagnet.lag)
        self.ml_signal = ForecastSignal(self.lagnet.forecast, threshold=self.p.cost * self.p.cost_mult)

    def start(self) -> None:
        super().start()
        _warn_cost(self.p.cost, self.p.cost_mult, _round_trip_cost(self.broker, self.data))

    def target(self) -> int:
        return _side(self.ml_signal[0])

    @classmethod
    def vector_start(cls, params: dict, config: Any) -> None:
        """``start()``'s cost warning for the vector engine (its costs are always percentages)."""
        _warn_cost(params["cost"], params["cost_mult"], 2.0 * (float(config.commission) + float(config.slippage)))

    @classmethod
    def vector_signals(cls, bars: Any, params: dict):
        """``target()`` as arrays for :mod:`btedge.vector`: :class:`ForecastSignal` of the LagNet
        forecast from the indicator's own batch output."""
        from btedge.vector.signals import Signals

        _check_cost(params["cost"], params["cost_mult"])
        forecast = indicator_arrays(LagNet, bars, params_kwargs(params, LagNet))["forecast"]
        threshold = params["cost"] * params["cost_mult"]
        side = np.zeros(len(forecast), dtype=np.int8)
        with np.errstate(invalid="ignore"):
            side[forecast > threshold] = LONG
            side[forecast < -threshold] = SHORT
        return Signals(side, first=0)


def _check_cost(cost: float, cost_mult: float) -> None:
    if not cost >= 0.0 or not cost_mult >= 0.0:
        raise ValueError(f"cost and cost_mult must be >= 0, got {cost!r}, {cost_mult!r}")


def _warn_cost(cost: float, cost_mult: float, actual: float | None) -> None:
    """WARN when ``cost`` is not this run's round-trip cost (``actual``; None: unknown)."""
    if actual is not None and abs(actual - cost) > 1e-12:
        log.warning("lagnet_forecast: cost=%g, but this run's commission and slippage make a round trip "
                    "cost %g, so the forecast must clear %g instead of %g. Fix: --param cost=%g (cost is "
                    "2 x (commission + slippage))", cost, actual, cost_mult * cost, cost_mult * actual, actual)


def _round_trip_cost(broker: bt.BrokerBase, data: bt.AbstractDataBase) -> float | None:
    """2 x (commission + slippage) of a backtest broker with percentage costs; None otherwise
    (a live broker's costs are the exchange's)."""
    if not isinstance(broker, bt.brokers.BackBroker):
        return None
    info = broker.getcommissioninfo(data)
    if info._commtype != bt.CommInfoBase.COMM_PERC or broker.p.slip_fixed:
        return None
    return 2.0 * (float(info.p.commission) + float(broker.p.slip_perc or 0.0))


@register("ensemble")
class EnsembleStrategy(MLStrategy):
    """
    Trade the ensemble's signal; new entries need ``confidence >= min_confidence`` and pass the
    optional isolation-forest gate. A neutral signal (or no model yet) means flat.

    Params (plus :class:`BaseStrategy`'s and the walk-forward params):
      - ``members`` (default: ``'lstm,lstm,cnn,cnn,tcn,tcn,xgb'``), ``weights`` (default:
        ``'learned'``), ``band`` (default: ``0.5``), ``labels`` (default: ``'fixed'``): as
        :class:`~btedge.indicators.ml.EnsembleSignal`
      - ``min_confidence`` (default: ``0.45``): in [0, 1]
      - ``iforest_gate`` (default: ``'off'``): ``'skip'`` anomalous bars or trade ``'only'`` them
      - ``contamination`` (default: ``0.02``): isolation-forest share of flagged training bars
    """

    params = ML_PARAMS + own_params(EnsembleSignal) + (
        ("min_confidence", 0.45), ("iforest_gate", "off"), ("contamination", 0.02),
    )

    def __init__(self) -> None:
        super().__init__()
        p = self.p
        self._check_gates(p.min_confidence, p.iforest_gate)
        self.ensemble = EnsembleSignal(self.data, **ml_kwargs(p, EnsembleSignal))
        self.ml_signal = self.ensemble.signal
        self.iforest = None
        if p.iforest_gate != "off":
            self.iforest = IsolationForestAnomaly(self.data, contamination=p.contamination, **ml_kwargs(p))

    def target(self) -> int:
        return _side(self.ensemble.signal[0])

    def entry_allowed(self, side: int) -> bool:
        if not super().entry_allowed(side) or not self.ensemble.confidence[0] >= self.p.min_confidence:
            return False
        if self.iforest is None:
            return True
        anomalous = self.iforest.flag[0] > 0.0
        return anomalous if self.p.iforest_gate == "only" else not anomalous

    @staticmethod
    def _check_gates(min_confidence: float, iforest_gate: str) -> None:
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence!r}")
        if iforest_gate not in _GATES:
            raise ValueError(f"iforest_gate must be one of {_GATES}, got {iforest_gate!r}")

    @classmethod
    def vector_signals(cls, bars: Any, params: dict):
        """``target()`` and ``entry_allowed()`` as arrays for :mod:`btedge.vector`, from the
        ensemble's (and the isolation forest's) own batch output."""
        from btedge.vector.signals import Signals

        cls._check_gates(params["min_confidence"], params["iforest_gate"])
        lines = indicator_arrays(EnsembleSignal, bars, params_kwargs(params, EnsembleSignal))
        with np.errstate(invalid="ignore"):
            allowed = lines["confidence"] >= params["min_confidence"]
            if params["iforest_gate"] != "off":
                kwargs = {**params_kwargs(params), "contamination": params["contamination"]}
                anomalous = indicator_arrays(IsolationForestAnomaly, bars, kwargs)["flag"] > 0.0
                allowed &= anomalous if params["iforest_gate"] == "only" else ~anomalous
        return Signals(side_of(lines["signal"]), first=0, allowed=allowed)


@register("anomaly_breakout")
class AnomalyBreakout(MLStrategy):
    """
    On a bar the walk-forward isolation forest flags as anomalous, enter in the direction of
    that bar's close-to-close move (a volatility breakout) and hold for ``hold`` bars; a new
    flagged bar restarts the hold.

    Params (plus :class:`BaseStrategy`'s and the walk-forward params):
      - ``hold`` (default: ``10``): bars to hold, >= 1
      - ``contamination`` (default: ``0.02``), ``n_estimators`` (default: ``100``)
    """

    params = ML_PARAMS + own_params(IsolationForestAnomaly) + (("hold", 10),)

    def __init__(self) -> None:
        super().__init__()
        _check_hold(self.p.hold)
        self.iforest = IsolationForestAnomaly(self.data, **ml_kwargs(self.p, IsolationForestAnomaly))
        # declared as a line, so the one-bar lookback is kept even with exactbars=1
        self.move = self.data.close - self.data.close(-1)
        self._want, self._left = FLAT, 0

    def target(self) -> int:
        move = self.move[0]
        if self.iforest.flag[0] > 0.0 and (move > 0 or move < 0):
            self._want, self._left = (LONG if move > 0 else SHORT), int(self.p.hold)
        if self._left <= 0:
            self._want = FLAT
        self._left -= 1
        return self._want

    @classmethod
    def vector_signals(cls, bars: Any, params: dict):
        """``target()`` as arrays for :mod:`btedge.vector`. The hold counter depends only on the
        bars and the isolation forest's flag, and ``target()`` runs on every bar from the
        strategy's first ``next()`` (the close's one-bar move, BaseStrategy's ATR and anomaly
        gate set it), so it is counted over the same bars."""
        from btedge.vector.signals import Signals, entry_gate

        _check_hold(params["hold"])
        flag = indicator_arrays(IsolationForestAnomaly, bars, params_kwargs(params, IsolationForestAnomaly))["flag"]
        close = bars.close
        move = np.full(len(close), np.nan)
        move[1:] = close[1:] - close[:-1]
        first = entry_gate(bars, params, 1)[2]
        side = np.zeros(len(close), dtype=np.int8)
        side[first:] = hold_sides(flag[first:].tolist(), move[first:].tolist(), int(params["hold"]))
        return Signals(side, first=first)


def _check_hold(hold: int) -> None:
    if int(hold) < 1:
        raise ValueError(f"hold must be >= 1, got {hold!r}")


def hold_sides(flag: list[float], move: list[float], hold: int) -> list[int]:
    """:meth:`AnomalyBreakout.target` bar after bar from the first ``next()``: the side of the
    move on a flagged bar, held for ``hold`` bars (a new flagged bar restarts the hold)."""
    out, want, left = [], FLAT, 0
    for f, m in zip(flag, move):
        if f > 0.0 and (m > 0 or m < 0):
            want, left = (LONG if m > 0 else SHORT), hold
        if left <= 0:
            want = FLAT
        left -= 1
        out.append(want)
    return out
