"""Backtrader-free statistics: performance, drawdown, trades, signal quality.

Pure numpy/pandas, like :mod:`btedge.kernels`: the analyzers, the report, the sweeps and the
evaluation all compute their figures here, so a number has one definition.

- :mod:`btedge.metrics.performance`: :func:`performance_stats` (quantstats' conventions),
  :func:`performance_arrays` (the same figures of many series at once: sweeps) and
  :func:`period_returns` (backtrader's ``TimeReturn`` on an equity array)
- :mod:`btedge.metrics.drawdown`: :func:`drawdown_series`, :func:`drawdown_episodes`
- :mod:`btedge.metrics.trades`: :func:`trade_stats`, :func:`trade_summary` (its win/loss figures alone)
- :mod:`btedge.metrics.signal`: signal quality of a direction forecast

Periods per year are an input here; :func:`btedge.feeds.timestamps.infer_spacing` infers them.
"""
from btedge.metrics.drawdown import drawdown_array, drawdown_episodes, drawdown_series, longest_underwater
from btedge.metrics.performance import per_period_rate, performance_arrays, performance_stats, period_returns
from btedge.metrics.trades import trade_stats, trade_summary

__all__ = [
    "drawdown_array", "drawdown_episodes", "drawdown_series", "longest_underwater", "per_period_rate",
    "performance_arrays", "performance_stats", "period_returns", "trade_stats", "trade_summary",
]
