"""Analyzers: performance figures that agree with quantstats, closed-trade statistics and signal
quality. Imported lazily: ``import btedge.analyzers`` loads nothing more until a name is used.

The statistics themselves live in :mod:`btedge.metrics` (no backtrader), periods per year in
:func:`btedge.feeds.timestamps.infer_spacing`.
"""
from btedge._lazy import lazy_surface

_EXPORTS = {
    "Performance": "btedge.analyzers.performance",
    "TradeStats": "btedge.analyzers.tradestats",
    "SignalQuality": "btedge.analyzers.signal_quality",
    "signal_quality": "btedge.analyzers.signal_quality",
    "performance_stats": "btedge.metrics",
    "trade_stats": "btedge.metrics",
    "infer_periods_per_year": "btedge.feeds.timestamps",
    "infer_spacing": "btedge.feeds.timestamps",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_surface(__name__, _EXPORTS)
