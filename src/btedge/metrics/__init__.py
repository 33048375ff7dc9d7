"""Backtrader-free statistics: performance, drawdown, trades, signal quality.

Pure numpy/pandas, like :mod:`btedge.kernels`: the analyzers, the report, the sweeps and the
evaluation all compute their figures here, so a number has one definition.
"""
