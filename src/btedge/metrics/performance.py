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

from btedge.metrics.drawdown import drawdown_series, longest_underwater


def per_period_rate(riskfree: float, periods_per_year: float) -> float:
    """The per-period rate of an annual rate, compounded: ``(1 + rf) ** (1 / P) - 1``."""
    return (1.0 + riskfree) ** (1.0 / periods_per_year) - 1.0


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0.0 and math.isfinite(denominator) else math.nan


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
    values = clean.to_numpy(dtype=float)
    count = len(values)
    total = float(np.prod(1.0 + values) - 1.0) if count else 0.0
    excess = values - per_period_rate(riskfree, periods_per_year)
    root = math.sqrt(periods_per_year)
    std = float(np.std(values, ddof=1)) if count > 1 else math.nan
    downside = math.sqrt(float(np.sum(excess[excess < 0.0] ** 2)) / count) if count else math.nan
    mean_excess = float(np.mean(excess)) if count else math.nan
    drawdown = drawdown_series(clean)
    max_dd = float(drawdown.max()) if count else 0.0
    duration, timedelta = longest_underwater(drawdown)
    cagr = _cagr(total, count, periods_per_year)
    return {
        "total_return": total,
        "cagr": cagr,
        "volatility": std * root,
        "sharpe": _ratio(mean_excess, std) * root,
        "sortino": _ratio(mean_excess, downside) * root,
        "max_drawdown": max_dd,
        "max_drawdown_duration": duration,
        "max_drawdown_timedelta": timedelta,
        "calmar": _ratio(cagr, max_dd),
        "periods": count,
    }
