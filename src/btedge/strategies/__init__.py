"""Strategies on a shared risk/sizing base, each registered under a CLI name."""
from btedge.strategies.base import LONG, FLAT, SHORT, BaseStrategy
from btedge.strategies.registry import available, get_strategy, parse_params, register

__all__ = ["BaseStrategy", "LONG", "FLAT", "SHORT", "available", "get_strategy", "parse_params", "register"]
