"""A sweep's extra measurements: per-trade returns (for the bootstrap) and turnover."""
from __future__ import annotations

import math
from typing import Any

import backtrader as bt
import numpy as np


class SweepTradeLog(bt.Analyzer):
    """Per-trade returns and traded notional of a run, for bootstrap resampling and turnover.

    A trade's return is its net PnL (commission included) over the largest absolute value it
    held (``|size| · price`` at the fills that opened or grew it), so a scaled-in trade is measured
    against its full exposure. Turnover is the traded notional (every completed fill,
    ``|size| · price``) divided by the mean portfolio value, annualised.

    Formula:
        trade_return = pnlcomm / max |size · price| over the trade's life
        turnover = Σ |fill size · fill price| / mean(portfolio value) · periods_per_year / bars

    Params:
        - ``periods_per_year`` (default: ``None``): bars per year for the annualisation; ``None``
          reports ``turnover`` as ``nan`` and leaves ``traded_notional``/``mean_value``/``bars``
          for the caller.

    Methods:
        - ``get_analysis()``: dict with ``trade_returns`` (numpy array, in closing order),
          ``traded_notional``, ``mean_value``, ``bars`` and ``turnover``.

    See:
        backtrader ``Trade`` (``pnlcomm``, ``justopened``, ``isclosed``) and ``Order.executed``.
    """

    params = (("periods_per_year", None),)

    def __init__(self) -> None:
        ppy = self.p.periods_per_year
        if ppy is not None and not ppy > 0:
            raise ValueError(f"periods_per_year must be positive or None, got {ppy!r}")
        self._exposure: dict[int, float] = {}
        self._returns: list[float] = []
        self._traded = 0.0
        self._value_sum = 0.0
        self._bars = 0

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            self._traded += abs(order.executed.size * order.executed.price)

    def notify_trade(self, trade: bt.Trade) -> None:
        if trade.isopen:
            held = abs(trade.size * trade.price)
            self._exposure[trade.ref] = max(self._exposure.get(trade.ref, 0.0), held)
        if trade.isclosed:
            held = self._exposure.pop(trade.ref, 0.0)
            self._returns.append(trade.pnlcomm / held if held > 0 else math.nan)

    def next(self) -> None:
        self._value_sum += self.strategy.broker.getvalue()
        self._bars += 1

    def get_analysis(self) -> dict[str, Any]:
        mean_value = self._value_sum / self._bars if self._bars else math.nan
        ppy = self.p.periods_per_year
        turnover = math.nan
        if ppy is not None and self._bars and mean_value > 0:
            turnover = self._traded / mean_value * ppy / self._bars
        return {
            "trade_returns": np.asarray(self._returns, dtype=float),
            "traded_notional": self._traded,
            "mean_value": mean_value,
            "bars": self._bars,
            "turnover": turnover,
        }
