"""A vectorised engine with backtrader's semantics, for sweeps of thousands of variations.

- :mod:`btedge.vector.signals`: what a strategy wants, as arrays (each built-in single-asset
  strategy declares ``vector_signals``), with BaseStrategy's anomaly gate and ATR
- :mod:`btedge.vector.simulate`: one numba loop doing what ``BackBroker`` and ``BaseStrategy`` do
- :mod:`btedge.vector.engine`: :func:`run_vector`, and :func:`unsupported` for the fallback
- :mod:`btedge.vector.buyhold`: buy-and-hold in closed form (the benchmark of every run)
- :mod:`btedge.vector.sweep`: a whole grid × windows at once

Equality with backtrader (fills, trades, equity to 1e-9) is tested in ``tests/vector``. Names load
lazily: the closed-form buy-and-hold that every backtest uses does not import numba.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Bars": "bars", "bars_from_frame": "bars",
    "buy_and_hold": "buyhold", "hold_values": "buyhold",
    "VectorRun": "engine", "run_vector": "engine", "unsupported": "engine", "vector_backtest": "engine",
    "KEEP": "signals", "Signals": "signals",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'btedge.vector' has no attribute {name!r}")
    return getattr(importlib.import_module(f"btedge.vector.{_EXPORTS[name]}"), name)
