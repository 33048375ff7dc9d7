"""A vectorised engine with backtrader's semantics, for sweeps of thousands of variations.

- :mod:`btedge.vector.signals`: what a strategy wants, as arrays (each built-in single-asset
  strategy declares ``vector_signals``), with BaseStrategy's anomaly gate and ATR
- :mod:`btedge.vector.simulate`: one numba loop doing what ``BackBroker`` and ``BaseStrategy`` do
- :mod:`btedge.vector.engine`: :func:`run_vector`, and :func:`unsupported` for the fallback
- :mod:`btedge.vector.buyhold`: buy-and-hold in closed form (the benchmark of every run)
- :mod:`btedge.vector.sweep`: a whole grid × windows at once

Equality with backtrader (fills, trades, equity to 1e-9) is tested in ``tests/vector``.
"""
from btedge.vector.bars import Bars, bars_from_frame
from btedge.vector.buyhold import buy_and_hold, hold_values
from btedge.vector.engine import VectorRun, run_vector, unsupported
from btedge.vector.signals import KEEP, Signals

__all__ = ["Bars", "bars_from_frame", "buy_and_hold", "hold_values", "VectorRun", "run_vector", "unsupported",
           "KEEP", "Signals"]
