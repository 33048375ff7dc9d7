"""Rank a sweep's parameter sets and measure how much of the best one is selection luck.

- ranking: per parameter set, the median / worst / spread of the annualised Sharpe across windows,
  the median max drawdown and turnover; ranked by Sharpe (high), drawdown (low) and turnover
  (low), and sorted by the mean of the three ranks.
- deflated Sharpe ratio of the best parameter set on the base window (window 0), with N = the
  number of parameter sets tried and V[SR_n] their per-period Sharpe variance (ML_RIGOR §1.4).
- PBO via CSCV on the base window's T×N return matrix (and per window, for the spread).
- a seeded bootstrap of the best parameter set's trade returns on the base window.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from btedge.sweeps.runner import SweepResult
from btedge.sweeps.stats import (
    DeflatedSharpe,
    PBOResult,
    TradeBootstrap,
    bootstrap_trade_returns,
    deflated_sharpe_for_grid,
    pbo_cscv,
)

log = logging.getLogger(__name__)

#: A CSCV block should hold at least this many bars.
MIN_BLOCK_BARS = 10


@dataclass
class SweepAnalysis:
    """The ranking table and the overfitting statistics of a sweep."""

    ranking: pd.DataFrame
    best_params: dict[str, Any]
    dsr: DeflatedSharpe | None
    pbo: PBOResult | None
    pbo_by_window: pd.Series
    bootstrap: TradeBootstrap
    n_configs: int
    n_backtests: int
    n_windows: int


def ranking_table(result: SweepResult) -> pd.DataFrame:
    """One row per parameter set: Sharpe/drawdown/turnover across windows, ranks, sorted best first."""
    runs = result.runs.assign(abs_drawdown=result.runs["max_drawdown"].abs())
    grouped = runs.groupby("param_id")
    base = runs[runs["window_id"] == 0].set_index("param_id")
    table = pd.DataFrame({
        "sharpe_base": base["sharpe"],
        "sharpe_median": grouped["sharpe"].median(),
        "sharpe_min": grouped["sharpe"].min(),
        "sharpe_std": grouped["sharpe"].std(ddof=0),
        "max_drawdown_median": grouped["abs_drawdown"].median(),
        "turnover_median": grouped["turnover"].median(),
        "n_trades_median": grouped["n_trades"].median(),
    })
    table["rank_sharpe"] = table["sharpe_median"].rank(ascending=False, method="min", na_option="bottom")
    table["rank_drawdown"] = table["max_drawdown_median"].rank(ascending=True, method="min", na_option="bottom")
    table["rank_turnover"] = table["turnover_median"].rank(ascending=True, method="min", na_option="bottom")
    table["rank_mean"] = table[["rank_sharpe", "rank_drawdown", "rank_turnover"]].mean(axis=1)
    params = base[result.param_names] if result.param_names else pd.DataFrame(index=base.index)
    table = params.join(table)
    return table.sort_values(["rank_mean", "rank_sharpe"], kind="mergesort")


def _window_block(result: SweepResult, window_id: int) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray] | None:
    """(index, param ids, N×T returns in param id order) of one window when the sweep keeps them
    as one array (the vector engine), else None."""
    rows = result.runs[result.runs["window_id"] == window_id]
    param_ids = rows["param_id"].to_numpy()
    order = np.argsort(param_ids, kind="stable")
    block = result.returns.matrix(rows.index.to_numpy()[order]) if hasattr(result.returns, "matrix") else None
    if block is None:
        return None
    return block[0], param_ids[order], block[1]


def window_returns(result: SweepResult, window_id: int) -> pd.DataFrame:
    """T×N matrix of per-bar returns of every parameter set on one window (missing bars = 0, flat)."""
    block = _window_block(result, window_id)
    if block is not None:
        index, param_ids, rows = block
        return pd.DataFrame(rows.T, index=index, columns=pd.Index(param_ids.astype(int))).fillna(0.0)
    ids = result.runs.index[result.runs["window_id"] == window_id]
    columns = {int(result.runs.at[t, "param_id"]): result.returns[t] for t in ids}
    return pd.DataFrame(columns).sort_index(axis=1).fillna(0.0)


def window_matrix(result: SweepResult, window_id: int) -> np.ndarray:
    """:func:`window_returns` as a T×N numpy array, without a copy when the sweep keeps the
    window's returns as one array (the vector engine): what DSR and PBO read."""
    block = _window_block(result, window_id)
    if block is None:
        return window_returns(result, window_id).to_numpy(dtype=float)
    matrix = block[2].T
    gaps = np.isnan(matrix)
    return np.where(gaps, 0.0, matrix) if gaps.any() else matrix


def _blocks_for(n_obs: int, wanted: int) -> int:
    blocks = min(wanted, n_obs // MIN_BLOCK_BARS)
    return blocks - blocks % 2


def _dsr(matrix: np.ndarray) -> DeflatedSharpe | None:
    if len(matrix) < 3:
        log.warning("DSR not computed: the base window has %d bars", len(matrix))
        return None
    try:
        return deflated_sharpe_for_grid(matrix)
    except ValueError as exc:  # every configuration flat: no Sharpe to deflate
        log.warning("DSR not computed: %s", exc)
        return None


def _pbo(matrix: np.ndarray, n_blocks: int) -> PBOResult | None:
    blocks = _blocks_for(len(matrix), n_blocks)
    if matrix.shape[1] < 2 or blocks < 2:
        return None
    return pbo_cscv(matrix, blocks)


def analyse_sweep(
    result: SweepResult, n_blocks: int = 16, n_boot: int = 2000, seed: int | None = None
) -> SweepAnalysis:
    """Ranking, DSR, PBO and trade bootstrap of a sweep (see the module doc)."""
    seed = result.seed if seed is None else seed
    ranking = ranking_table(result)
    base = window_matrix(result, 0)
    dsr = _dsr(base)
    pbo = _pbo(base, n_blocks)
    by_window = {0: pbo.pbo if pbo else math.nan}
    for w in sorted(result.runs["window_id"].unique()):
        if int(w) != 0:
            by_window[int(w)] = p.pbo if (p := _pbo(window_matrix(result, int(w)), n_blocks)) else math.nan
    best_id = int(ranking.index[0])
    base_runs = result.runs[result.runs["window_id"] == 0]
    best_task = int(base_runs.index[base_runs["param_id"] == best_id][0])
    boot = bootstrap_trade_returns(result.trade_returns[best_task], n_boot=n_boot, seed=seed)
    best_params = {k: _plain(v) for k, v in ranking.loc[best_id, result.param_names].items()}
    return SweepAnalysis(
        ranking, best_params, dsr, pbo, pd.Series(by_window, name="pbo"), boot,
        result.n_configs, len(result.runs), int(result.runs["window_id"].nunique()),
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
