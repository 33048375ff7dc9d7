"""Robustness sweeps: a strategy over a parameter grid, lookbacks and random start offsets.

``run_sweep`` backtests every configuration serially, on all local cores or on a Dask cluster
(identical results), ``analyse_sweep`` ranks the parameter sets and reports the deflated Sharpe
ratio, the probability of backtest overfitting (CSCV) and a bootstrap of trade returns, and
``write_report`` saves parquet/CSV, a heatmap PNG and a markdown/HTML summary.
"""
