"""Buy-and-hold in closed form: the benchmark beside every result, without a second engine run.

Equal (to rounding) to a backtrader run of :class:`~btedge.strategies.BuyAndHold` with the same
costs and sizing: on bar 0 the strategy sizes ``fraction * cash / close[0]`` units (rounded down
with ``integer=True``); the market order is checked against cash at its created price and fills at
the next open moved up by the slippage (capped at the high), paying ``commission`` on the traded
value; a fill the cash cannot pay is rejected and the order is placed again from the next close.
From the fill on, the value is ``cash + units * close``, computed as ``BackBroker`` computes it.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from btedge.vector.bars import Bars, bars_from_frame
from btedge.vector.returns import performance


def _fill(bars: Bars, cash: float, fraction: float, integer: bool, comm: float, slip: float) -> tuple[int, float, float]:
    """(fill bar, units, price) of the first accepted order; (-1, 0, 0) if none fills."""
    o, h, c = bars.open, bars.high, bars.close
    for signal in range(len(c) - 1):
        price = float(c[signal])
        if not price > 0.0:
            continue
        size = fraction * cash / price
        size = math.floor(size) if integer else size
        if size <= 0:
            continue
        pseudo = cash - size * price - abs(size) * comm * price
        if pseudo < 0.0:
            continue
        fill = signal + 1
        p = float(o[fill])
        if slip:
            pslip = p * (1 + slip)
            p = pslip if pslip <= h[fill] else float(h[fill])
        if cash - size * p - abs(size) * comm * p >= 0.0:
            return fill, float(size), p
    return -1, 0.0, 0.0


def hold_values(bars: Bars, cash: float, fraction: float = 0.95, integer: bool = False,
                commission: float = 0.0, slippage: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(value, position) at each bar's close of buy-and-hold (see the module docstring)."""
    n = len(bars.close)
    value = np.full(n, float(cash))
    position = np.zeros(n)
    fill, size, price = _fill(bars, float(cash), fraction, integer, commission, slippage)
    if fill < 0:
        return value, position
    left = cash - size * price
    left -= abs(size) * commission * price
    close = bars.close[fill:]
    dvalue = size * close
    unreal = size * (close - price) * 1.0
    held = left + ((0.0 + (dvalue - unreal) / 1.0) + unreal)
    value[fill:] = np.where(dvalue > 0.0, held, left + (0.0 + dvalue))
    position[fill:] = size
    return value, position


def buy_and_hold(df: pd.DataFrame, config: Any, fraction: float = 0.95,
                 integer: bool = False) -> tuple[dict[str, Any], pd.Series]:
    """(metrics, returns) of buy-and-hold of ``df`` under ``config`` (a
    :class:`~btedge.engine.BacktestConfig`), as the Performance analyzer reports them."""
    bars = bars_from_frame(df)
    value, position = hold_values(bars, config.cash, fraction, integer, config.commission, config.slippage)
    return performance(value, position, df.index, config.cash, config.periods_per_year)
