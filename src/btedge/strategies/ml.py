"""ML strategies over the walk-forward indicators: LagNet forecast, ensemble signal, anomaly breakout.

Every model is trained walk-forward inside the indicators (``train_bars``, ``retrain_every``,
``horizon``, ``cache_dir`` ... are strategy params passed through), so nothing trades before
the first trained fold and a re-run loads the cached fold models instead of retraining.
"""
from __future__ import annotations

import logging
import math

import backtrader as bt

from btedge.indicators.anomaly_ml import IsolationForestAnomaly
from btedge.indicators.ml import EnsembleSignal, LagNet, LagNetLag, WalkForwardIndicator
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
        if not self.p.cost >= 0.0 or not self.p.cost_mult >= 0.0:
            raise ValueError(f"cost and cost_mult must be >= 0, got {self.p.cost!r}, {self.p.cost_mult!r}")
        self.lagnet = LagNet(self.data, **ml_kwargs(self.p, LagNet))
        self.lag_plot = LagNetLag(self.lagnet.lag)
        self.ml_signal = ForecastSignal(self.lagnet.forecast, threshold=self.p.cost * self.p.cost_mult)

    def start(self) -> None:
        super().start()
        actual = _round_trip_cost(self.broker, self.data)
        if actual is not None and abs(actual - self.p.cost) > 1e-12:
            log.warning("lagnet_forecast: cost=%g, but this run's commission and slippage make a round trip "
                        "cost %g, so the forecast must clear %g instead of %g. Fix: --param cost=%g (cost is "
                        "2 x (commission + slippage))", self.p.cost, actual, self.p.cost_mult * self.p.cost,
                        self.p.cost_mult * actual, actual)

    def target(self) -> int:
        return _side(self.ml_signal[0])


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
        if not 0.0 <= p.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {p.min_confidence!r}")
        if p.iforest_gate not in _GATES:
            raise ValueError(f"iforest_gate must be one of {_GATES}, got {p.iforest_gate!r}")
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
        if int(self.p.hold) < 1:
            raise ValueError(f"hold must be >= 1, got {self.p.hold!r}")
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
