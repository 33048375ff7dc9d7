"""Strategies on a shared risk/sizing base, each registered under a CLI name."""
from btedge.strategies.base import FLAT, LONG, SHORT, BaseStrategy
from btedge.strategies.benchmark import BuyAndHold
from btedge.strategies.laguerre import LaguerreChannelBreakout, LaguerreCross, LaguerreTrend
from btedge.strategies.registry import available, get_strategy, parse_params, register

__all__ = [
    "BaseStrategy", "BuyAndHold", "LaguerreChannelBreakout", "LaguerreCross", "LaguerreTrend",
    "LONG", "FLAT", "SHORT", "available", "get_strategy", "parse_params", "register",
]
