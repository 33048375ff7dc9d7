"""Vectorised next-open trading of a per-bar side, after costs (no backtrader import).

The rule mirrors :class:`btedge.strategies.base.BaseStrategy` with a confidence gate as in
``EnsembleStrategy``: at bar t's close the wanted side is known; if it differs from the held
side, the position is closed and, when the wanted side is not flat and the confidence clears
``min_confidence``, the new side is entered. Orders fill at bar t + 1's open. The whole equity
is long or short (no leverage, no sizing), and each side of a trade pays ``cost`` (commission +
slippage) of the traded value.

Per-bar returns are open to open: ``ret[j] = pos[j] * (open[j + 1] / open[j] - 1) - cost *
|pos[j] - pos[j - 1]|`` where ``pos[j]`` is the side held from open j to open j + 1. A trade is
a run of one non-zero side; its return is ``side * (open[exit] / open[entry] - 1) - 2 * cost``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from btedge.metrics.drawdown import drawdown_series

#: 5 bps commission + 1 bp slippage per side, as in the evaluation's brief.
COST_PER_SIDE = 0.0006


@dataclass(frozen=True)
class TradingResult:
    """Per-bar net returns (aligned with the input bars) and the closed trades' net returns."""

    returns: np.ndarray
    positions: np.ndarray
    trade_returns: np.ndarray

    @property
    def n_trades(self) -> int:
        return int(self.trade_returns.size)


def positions(side: np.ndarray, confidence: np.ndarray | None = None, min_confidence: float = 0.0) -> np.ndarray:
    """Side held from each bar's open: ``pos[t + 1]`` follows the decision at bar t (pos[0] = 0)."""
    side = np.nan_to_num(np.asarray(side, float), nan=0.0)
    conf = np.ones(side.size) if confidence is None else np.nan_to_num(np.asarray(confidence, float), nan=0.0)
    pos = np.zeros(side.size)
    have = 0.0
    for t in range(side.size - 1):
        want = side[t]
        if want != have:
            have = want if want != 0 and conf[t] >= min_confidence else 0.0
        pos[t + 1] = have
    return pos


def trade(open_: np.ndarray, side: np.ndarray, confidence: np.ndarray | None = None,
          min_confidence: float = 0.0, cost: float = COST_PER_SIDE) -> TradingResult:
    """Net per-bar returns and trades of trading ``side`` (NaN = flat) at the next open."""
    o = np.asarray(open_, float)
    pos = positions(side, confidence, min_confidence)
    gross = np.zeros(o.size)
    gross[:-1] = pos[:-1] * (o[1:] / o[:-1] - 1.0)
    turnover = np.abs(np.diff(np.concatenate([[0.0], pos])))
    returns = gross - cost * turnover
    return TradingResult(returns, pos, _trade_returns(o, pos, cost))


def _trade_returns(o: np.ndarray, pos: np.ndarray, cost: float) -> np.ndarray:
    change = np.flatnonzero(np.diff(np.concatenate([[0.0], pos, [0.0]])))
    out = []
    for a, b in zip(change[:-1], change[1:]):
        if pos[a] != 0 and b < o.size:  # an open trade at the end is not closed: left out
            out.append(pos[a] * (o[b] / o[a] - 1.0) - 2.0 * cost)
    return np.array(out)


def buy_and_hold(open_: np.ndarray, cost: float = COST_PER_SIDE) -> TradingResult:
    """Long from the first bar's open to the last, paying one entry and one exit."""
    o = np.asarray(open_, float)
    pos = np.ones(o.size)
    pos[-1] = 0.0
    gross = np.zeros(o.size)
    gross[:-1] = o[1:] / o[:-1] - 1.0
    returns = gross - cost * np.abs(np.diff(np.concatenate([[0.0], pos])))
    return TradingResult(returns, pos, np.array([o[-1] / o[0] - 1.0 - 2 * cost]))


def max_drawdown(returns: np.ndarray) -> float:
    """Largest fall of the compounded equity from its peak (positive fraction; btedge's definition)."""
    return float(drawdown_series(pd.Series(np.asarray(returns, float))).max())
