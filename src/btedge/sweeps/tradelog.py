"""A sweep's extra measurements: per-trade returns (for the bootstrap) and turnover."""
from __future__ import annotations

import math
from collections import deque
from typing import Any

import backtrader as bt
import numpy as np


class SweepTradeLog(bt.Analyzer):
    """Per-trade returns and traded notional of a run, for bootstrap resampling and turnover.

    A trade's return is its net PnL (commission included) over the largest cost basis it held
    (``Σ |size| · fill price`` of the fills that opened or grew it, scaled down by partial exits),
    so a scaled-in trade is measured against its full exposure. Positions are followed per data
    from completed orders (one trade per data at a time, i.e. no ``tradeid`` juggling). Turnover is the traded notional (every completed fill,
    ``|size| · price``) divided by the mean portfolio value, annualised.

    Formula:
        trade_return = pnlcomm / max cost basis over the trade's life
        turnover = Σ |fill size · fill price| / mean(portfolio value) · periods_per_year / bars

    Params:
        - ``periods_per_year`` (default: ``None``): bars per year for the annualisation; ``None``
          reports ``turnover`` as ``nan`` and leaves ``traded_notional``/``mean_value``/``bars``
          for the caller.

    Methods:
        - ``get_analysis()``: dict with ``trade_returns`` (numpy array, in closing order),
          ``traded_notional``, ``mean_value``, ``bars`` and ``turnover``.

    See:
        backtrader ``Trade`` (``pnlcomm``, ``isclosed``) and ``Order.executed`` (size, price).
    """

    params = (("periods_per_year", None),)

    def __init__(self) -> None:
        ppy = self.p.periods_per_year
        if ppy is not None and not ppy > 0:
            raise ValueError(f"periods_per_year must be positive or None, got {ppy!r}")
        self._size: dict[int, float] = {}  # signed position per data, from our own fills
        self._basis: dict[int, float] = {}  # |size| * average price of the open trade
        self._peak: dict[int, float] = {}  # largest basis of the open trade
        self._closing: dict[int, deque[float]] = {}  # peaks of trades closed, awaiting notify_trade
        self._returns: list[float] = []
        self._traded = 0.0
        self._value_sum = 0.0
        self._bars = 0

    def notify_order(self, order: bt.Order) -> None:
        if order.status != order.Completed or not order.executed.size:
            return
        size, price = float(order.executed.size), float(order.executed.price)
        self._traded += abs(size * price)
        key = id(order.data)
        before = self._size.get(key, 0.0)
        after = before + size
        self._size[key] = after
        if before and (after == 0 or (before > 0) != (after > 0)):  # closed, or reversed through zero
            self._closing.setdefault(key, deque()).append(self._peak.pop(key, 0.0))
            self._basis[key] = abs(after) * price
        elif abs(after) > abs(before):  # opened or grown
            self._basis[key] = self._basis.get(key, 0.0) + abs(size) * price
        else:  # reduced
            self._basis[key] = self._basis.get(key, 0.0) * abs(after) / abs(before)
        if after:
            self._peak[key] = max(self._peak.get(key, 0.0), self._basis[key])

    def notify_trade(self, trade: bt.Trade) -> None:
        if not trade.isclosed:
            return
        pending = self._closing.get(id(trade.data))
        held = pending.popleft() if pending else 0.0
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
