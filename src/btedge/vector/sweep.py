"""A sweep's backtests with the vector engine: every parameter set of every window, in one process.

Per window the bars, the period ends of the returns and the periods per year are computed once;
per parameter set the strategy's signals and one simulation. The figures are those
:func:`btedge.sweeps.runner.run_task` reads from a cerebro run (Performance, TradeStats and
SweepTradeLog), from the same value, position and fill arrays the equality tests check, so the
two engines give the same table (the runner re-runs the best few in backtrader to show it).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from btedge.vector.bars import Bars, bars_from_frame
from btedge.vector.engine import attach_frame, signals_for, simulate_signals, strategy_params, trade_arrays
from btedge.vector.returns import bar_stamps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowContext:
    """What every backtest on one window shares."""

    bars: Bars
    stamps: pd.DatetimeIndex
    ends: np.ndarray
    periods_per_year: float


def window_context(df: pd.DataFrame, periods_per_year: float | None) -> WindowContext:
    """Bars, period ends (TimeReturn's periods) and periods per year of one window's frame."""
    from btedge.analyzers.performance import period_keys
    from btedge.engine import infer_timeframe
    from btedge.feeds.timestamps import infer_spacing

    stamps = bar_stamps(df.index)
    keys = period_keys(stamps, *infer_timeframe(stamps))
    ends = np.append(np.flatnonzero(np.diff(keys) > 0), len(keys) - 1) if len(keys) else np.array([], int)
    ppy = periods_per_year
    if ppy is None:
        period_stamps = stamps[ends]
        ppy = infer_spacing(period_stamps).periods_per_year if period_stamps.nunique() >= 3 else math.nan
    return WindowContext(bars_from_frame(df), stamps, ends, float(ppy))


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def task_figures(value: np.ndarray, position: np.ndarray, fills: np.ndarray, ctx: WindowContext,
                 cash: float) -> tuple[dict[str, float], pd.Series, np.ndarray]:
    """(metrics, returns, trade returns) with the keys and definitions of ``run_task``."""
    from btedge.analyzers.tradestats import trade_stats
    from btedge.metrics import performance_stats, period_returns

    returns = pd.Series(period_returns(value, cash, ctx.ends) if len(ctx.ends) else np.array([]),
                        index=ctx.stamps[ctx.ends] if len(ctx.ends) else ctx.stamps, dtype=float, name="returns")
    ppy = ctx.periods_per_year
    stats = performance_stats(returns, ppy if math.isfinite(ppy) else 1.0)
    if not math.isfinite(ppy):
        stats.update(cagr=math.nan, volatility=math.nan, sharpe=math.nan, sortino=math.nan, calmar=math.nan)
    bars = len(value)
    trades = trade_arrays(fills)
    ts = trade_stats(trades["pnlcomm"].tolist(), trades["pnl"].tolist(),
                     (trades["exit_bar"] - trades["entry_bar"]).tolist())
    basis = 0.0 + np.abs(trades["size"]) * trades["entry_price"]
    trade_returns = np.where(basis > 0, trades["pnlcomm"] / np.where(basis > 0, basis, 1.0), math.nan)
    traded = float(np.cumsum(np.abs(fills[:, 1] * fills[:, 2]))[-1]) if len(fills) else 0.0
    mean_value = float(np.cumsum(value)[-1]) / bars if bars else math.nan
    metrics = {key: _number(stats.get(key)) for key in
               ("total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar")}
    metrics.update(
        exposure=float(np.mean(position != 0.0)) if bars else math.nan,
        n_trades=float(ts["trades"]),
        win_rate=_number(ts["win_rate"]),
        profit_factor=_number(ts["profit_factor"]),
        turnover=traded / mean_value * ppy / bars if bars and mean_value > 0 else math.nan,
        periods_per_year=ppy,
        bars=float(bars),
    )
    return metrics, returns, trade_returns


def run_tasks(strategy: type, frames: Sequence[tuple[str, pd.DataFrame]], tasks: Sequence[Any],
              config: Any) -> Iterable[tuple[int, dict[str, float], pd.Series, np.ndarray]]:
    """(task id, metrics, returns, trade returns) of every task, window by window."""
    from btedge.sweeps.grid import slice_frames

    by_window: dict[int, list[Any]] = {}
    for task in tasks:
        by_window.setdefault(task.window.window_id, []).append(task)
    for group in by_window.values():
        window = group[0].window
        name, df = slice_frames(frames, window)[0]
        ctx = window_context(df, config.periods_per_year)
        attach_frame(ctx.bars, name, df)  # the ML strategies read volume, timestamps and name from it
        for task in group:
            try:
                params = strategy_params(strategy, task.param_dict)
                sig = signals_for(strategy, ctx.bars, params)
            except ValueError as exc:
                raise ValueError(f"sweep task {task.task_id} (params {task.param_dict}, bars "
                                 f"[{window.start}, {window.stop})): {exc}") from exc
            value, position, fills, _ = simulate_signals(ctx.bars, sig, params, config, bool(params.get("reenter", False)))
            metrics, returns, trade_returns = task_figures(value, position, fills, ctx, config.cash)
            yield task.task_id, metrics, returns.rename(task.task_id), trade_returns


def hold_figures(frames: Sequence[tuple[str, pd.DataFrame]], windows: Sequence[Any], config: Any) -> pd.DataFrame:
    """Buy-and-hold of the first data on every window in closed form, with ``run_task``'s keys."""
    from btedge.engine import BENCHMARK_FRACTION
    from btedge.sweeps.grid import slice_frames
    from btedge.vector.buyhold import hold_values

    rows = {}
    for window in windows:
        ctx = window_context(slice_frames(frames[:1], window)[0][1], config.periods_per_year)
        value, position = hold_values(ctx.bars, config.cash, BENCHMARK_FRACTION, False, config.commission,
                                      config.slippage)
        entered = np.flatnonzero(position)
        fills = np.empty((0, 5))
        if len(entered):
            bar = int(entered[0])
            fills = np.array([[bar, position[bar], _hold_price(ctx.bars, bar, config.slippage), 0.0, 1]])
        rows[window.window_id] = task_figures(value, position, fills, ctx, config.cash)[0]
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "window_id"
    return table


def _hold_price(bars: Bars, bar: int, slip: float) -> float:
    price = float(bars.open[bar])
    if slip:
        pslip = price * (1 + slip)
        price = pslip if pslip <= bars.high[bar] else float(bars.high[bar])
    return price
