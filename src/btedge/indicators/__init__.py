"""btedge indicators: drop-in backtrader Indicators."""
from btedge.indicators.anomaly import LorentzianDistance, LorentzianScore
from btedge.indicators.laguerre import AdaptiveLaguerreFilter, LaguerreChannel, LaguerreFilter, LaguerreRSI, RollingStd
from btedge.indicators.levels import SupportResistance

__all__ = [
    "AdaptiveLaguerreFilter",
    "LaguerreChannel",
    "LaguerreFilter",
    "LaguerreRSI",
    "LorentzianDistance",
    "LorentzianScore",
    "RollingStd",
    "SupportResistance",
]
