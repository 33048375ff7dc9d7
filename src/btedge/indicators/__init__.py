"""btedge indicators: drop-in backtrader Indicators.

Every indicator imports from here, lazily: ``import btedge.indicators`` loads none of them, and
the machine-learning ones (torch, xgboost, scikit-learn) load only when asked for by name.
"""
from btedge._lazy import lazy_surface

_EXPORTS = {
    "AdaptiveLaguerreFilter": "btedge.indicators.laguerre",
    "LaguerreChannel": "btedge.indicators.laguerre",
    "LaguerreFilter": "btedge.indicators.laguerre",
    "LaguerreRSI": "btedge.indicators.laguerre",
    "RollingStd": "btedge.indicators.laguerre",
    "LorentzianDistance": "btedge.indicators.anomaly",
    "LorentzianScore": "btedge.indicators.anomaly",
    "SupportResistance": "btedge.indicators.levels",
    "HedgeRatio": "btedge.indicators.pairs",
    "Spread": "btedge.indicators.pairs",
    "ZScore": "btedge.indicators.pairs",
    "Cointegration": "btedge.indicators.pairs",
    "WalkForwardIndicator": "btedge.indicators.ml",
    "EnsembleSignal": "btedge.indicators.ml",
    "LagNet": "btedge.indicators.ml",
    "IsolationForestAnomaly": "btedge.indicators.anomaly_ml",
    "OnlineSignal": "btedge.indicators.online",
    "OnlineForecast": "btedge.indicators.online",
    "HMMRegime": "btedge.indicators.regime",
    "MarkovRegime": "btedge.indicators.regime",
    "StackedSignal": "btedge.indicators.stacked",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_surface(__name__, _EXPORTS)
