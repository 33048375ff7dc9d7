"""Strategies on a shared risk/sizing base, each registered under a CLI name.

Every strategy imports from here, lazily: ``import btedge.strategies`` loads none of them (the
machine-learning ones pull in torch and xgboost); ``available()`` loads them all.
"""
from btedge._lazy import lazy_surface

_EXPORTS = {
    "BaseStrategy": "btedge.strategies.base",
    "LONG": "btedge.strategies.base",
    "FLAT": "btedge.strategies.base",
    "SHORT": "btedge.strategies.base",
    "BuyAndHold": "btedge.strategies.benchmark",
    "LaguerreChannelBreakout": "btedge.strategies.laguerre",
    "LaguerreCross": "btedge.strategies.laguerre",
    "LaguerreTrend": "btedge.strategies.laguerre",
    "LagNetForecast": "btedge.strategies.ml",
    "EnsembleStrategy": "btedge.strategies.ml",
    "AnomalyBreakout": "btedge.strategies.ml",
    "PairsTrading": "btedge.strategies.pairs",
    "DualMomentum": "btedge.strategies.momentum",
    "available": "btedge.strategies.registry",
    "get_strategy": "btedge.strategies.registry",
    "parse_params": "btedge.strategies.registry",
    "register": "btedge.strategies.registry",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_surface(__name__, _EXPORTS)
