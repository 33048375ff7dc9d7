"""Return, risk and drawdown figures of a return series, computed the way quantstats does.

Conventions, matching ``quantstats.stats`` 0.0.86 (see its ``stats.py``):

- volatility: sample standard deviation (``ddof=1``) times ``sqrt(periods_per_year)``
- Sharpe: mean excess return over the sample standard deviation, times
  ``sqrt(periods_per_year)``; the annual risk-free rate is turned into a per-period rate as
  ``(1 + riskfree) ** (1 / periods_per_year) - 1``
- Sortino: mean excess return over the downside deviation ``sqrt(sum(r[r < 0] ** 2) / n)``
  (all ``n`` periods in the denominator), times ``sqrt(periods_per_year)``
- CAGR: ``(1 + total_return) ** (1 / years) - 1`` with ``years = n / periods_per_year``, i.e.
  quantstats counts years in *periods*, not calendar time; the risk-free rate is not subtracted
- max drawdown: from the compounded equity curve, with a starting equity of 1 before the first
  return, so a loss on the first period counts. btedge reports it as a **positive fraction**
  (0.12 is a 12% drawdown); quantstats returns it negative (-0.12) and backtrader's
  ``DrawDown`` in percent (12.0)
- Calmar: CAGR over max drawdown

Periods per year come from :func:`btedge.feeds.timestamps.infer_spacing` (sessions, not
calendar spacing) or from the user; this module only uses the figure it is given.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from btedge.metrics.drawdown import drawdown_array, longest_underwater


def per_period_rate(riskfree: float, periods_per_year: float) -> float:
    """The per-period rate of an annual rate, compounded: ``(1 + rf) ** (1 / P) - 1``."""
    return (1.0 + riskfree) ** (1.0 / periods_per_year) - 1.0


def _cagr(total_return: float, count: int, periods_per_year: float) -> float:
    wealth = 1.0 + total_return
    if count == 0 or wealth < 0.0:
        return math.nan
    return wealth ** (periods_per_year / count) - 1.0


def period_returns(values: np.ndarray, start_value: float, ends: np.ndarray | None = None) -> np.ndarray:
    """Returns of an equity curve per period, as backtrader's ``TimeReturn`` computes them:
    the value at the last bar of each period over the value at the last bar of the previous one
    (``start_value`` before the first), minus 1.

    Args:
      values: portfolio value at each bar
      start_value: the value before the first bar (the starting cash)
      ends: position of the last bar of each period (ascending); ``None`` = every bar
    """
    closing = np.asarray(values, dtype=float) if ends is None else np.asarray(values, dtype=float)[ends]
    previous = np.concatenate([[float(start_value)], closing[:-1]])
    return closing / previous - 1.0


#: The figures :func:`performance_arrays` gives, one value per row each.
ARRAY_FIGURES = ("total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "periods")


def _ratios(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator where the denominator is positive and finite, else NaN."""
    ok = (denominator > 0.0) & np.isfinite(denominator)
    return np.where(ok, numerator / np.where(ok, denominator, 1.0), math.nan)


def _row_figures(rows: np.ndarray, periods_per_year: float, riskfree: float,
                 keep_drawdown: bool = False) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """(figures, drawdown or None) of every row of a 2-D array without NaN (the formulas of the
    module doc; np.std's own steps, written out so that its mean is also the Sharpe's)."""
    n, count = rows.shape
    if count == 0:
        nan = np.full(n, math.nan)
        return {"total_return": np.zeros(n), "cagr": nan, "volatility": nan, "sharpe": nan, "sortino": nan,
                "max_drawdown": np.zeros(n), "calmar": nan, "periods": np.zeros(n, dtype=np.int64)}, rows
    growth = 1.0 + rows
    total = np.prod(growth, axis=1) - 1.0
    rate = per_period_rate(riskfree, periods_per_year)
    excess = rows - rate if rate else rows
    root = math.sqrt(periods_per_year)
    mean = np.add.reduce(rows, axis=1, keepdims=True) / count  # np.mean, and np.std's first step
    mean_excess = (np.add.reduce(excess, axis=1) / count) if rate else mean[:, 0]
    std = np.full(n, math.nan)
    if count > 1:
        deviation = rows - mean
        np.multiply(deviation, deviation, out=deviation)
        std = np.sqrt(np.add.reduce(deviation, axis=1) / (count - 1))
    below = np.minimum(excess, 0.0)
    downside = np.sqrt(np.add.reduce(np.multiply(below, below, out=below), axis=1) / count)
    drawdown = drawdown_array(rows, growth)
    max_dd = np.max(drawdown, axis=1)
    cagr = np.array([_cagr(float(t), count, periods_per_year) for t in total])
    return {
        "total_return": total,
        "cagr": cagr,
        "volatility": std * root,
        "sharpe": _ratios(mean_excess, std) * root,
        "sortino": _ratios(mean_excess, downside) * root,
        "max_drawdown": max_dd,
        "calmar": _ratios(cagr, max_dd),
        "periods": np.full(n, count, dtype=np.int64),
    }, drawdown if keep_drawdown else None


def performance_arrays(returns: np.ndarray, periods_per_year: float, riskfree: float = 0.0) -> dict[str, np.ndarray]:
    """
    :func:`performance_stats`' figures of many return series at once, on numpy arrays with no
    pandas object per series (what a sweep of thousands of backtests needs). One value per row
    of each of :data:`ARRAY_FIGURES`; :func:`performance_stats` is this computation on one row,
    so the two agree exactly.

    Args:
      returns: 2-D array, one return series per row (the last axis is time); a row's NaN returns
        are skipped, as :func:`performance_stats` skips them
      periods_per_year: periods in a year, for annualising
      riskfree: annual risk-free rate, used by ``sharpe`` and ``sortino``
    """
    if not periods_per_year > 0.0:
        raise ValueError(f"periods_per_year must be > 0, got {periods_per_year!r}")
    rows = np.ascontiguousarray(returns, dtype=float)
    if rows.ndim != 2:
        raise ValueError(f"returns must be 2-D (one series per row), got shape {rows.shape}; "
                         "use performance_stats for one series")
    figures = _row_figures(rows, periods_per_year, riskfree)[0]
    for i in np.flatnonzero(np.isnan(figures["total_return"])):  # a NaN return makes the product NaN
        gaps = np.isnan(rows[i])
        if gaps.any():  # that row's other returns
            for key, value in _row_figures(rows[i][~gaps][None, :], periods_per_year, riskfree)[0].items():
                figures[key][i] = value[0]
    return figures


def performance_stats(returns: pd.Series, periods_per_year: float, riskfree: float = 0.0) -> dict[str, Any]:
    """
    Return and risk figures of a period-return series, with quantstats' conventions
    (module docstring). NaN returns are skipped, as quantstats skips them.

    Args:
      returns: simple returns per period, indexed by timestamp
      periods_per_year: periods in a year, for annualising
      riskfree: annual risk-free rate, used by ``sharpe`` and ``sortino``

    Returns:
      dict with ``total_return``, ``cagr``, ``volatility``, ``sharpe``, ``sortino``,
      ``max_drawdown`` (positive fraction), ``max_drawdown_duration`` (periods),
      ``max_drawdown_timedelta``, ``calmar`` and ``periods``; a figure that is undefined
      (zero deviation, zero drawdown, fewer than two returns) is NaN.
    """
    if not periods_per_year > 0.0:
        raise ValueError(f"periods_per_year must be > 0, got {periods_per_year!r}")
    clean = returns.dropna()
    figures, drawdown = _row_figures(clean.to_numpy(dtype=float)[None, :], periods_per_year, riskfree, True)
    one = {key: float(value[0]) for key, value in figures.items()}
    duration, timedelta = longest_underwater(pd.Series(drawdown[0], index=clean.index))
    return {
        "total_return": one["total_return"],
        "cagr": one["cagr"],
        "volatility": one["volatility"],
        "sharpe": one["sharpe"],
        "sortino": one["sortino"],
        "max_drawdown": one["max_drawdown"],
        "max_drawdown_duration": duration,
        "max_drawdown_timedelta": timedelta,
        "calmar": one["calmar"],
        "periods": len(clean),
    }
