"""Analyzers: performance figures that agree with quantstats, and closed-trade statistics."""
from btedge.analyzers.performance import Performance, infer_periods_per_year, performance_stats
from btedge.analyzers.signal_quality import SignalQuality, signal_quality
from btedge.analyzers.tradestats import TradeStats, trade_stats

__all__ = ["Performance", "TradeStats", "infer_periods_per_year", "performance_stats", "trade_stats", "SignalQuality", "signal_quality"]
