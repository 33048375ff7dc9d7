"""A sweep's backtests with the vector engine: every parameter set of every window, in one process.

Per window the bars, the period ends of the returns and the periods per year are computed once;
per parameter set the strategy's signals and one simulation; then the Performance figures of all
the window's backtests at once (:func:`btedge.metrics.performance_arrays` on a (backtests ×
periods) array: numpy over the block, no pandas object per backtest). The figures are those
:func:`btedge.sweeps.runner.run_task` reads from a cerebro run (Performance, TradeStats and
SweepTradeLog), from the same value, position and fill arrays the equality tests check, so the
two engines give the same table (the runner re-runs the best few in backtrader to show it).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from btedge.metrics.performance import ARRAY_FIGURES
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


def _period_ends(stamps: pd.DatetimeIndex) -> np.ndarray:
    """Positions of the last bar of each of TimeReturn's periods."""
    from btedge.analyzers.performance import period_keys
    from btedge.engine import infer_timeframe

    keys = period_keys(stamps, *infer_timeframe(stamps))
    return np.append(np.flatnonzero(np.diff(keys) > 0), len(keys) - 1) if len(keys) else np.array([], int)


def window_context(df: pd.DataFrame, periods_per_year: float | None) -> WindowContext:
    """Bars, period ends (TimeReturn's periods) and periods per year of one window's frame."""
    from btedge.feeds.timestamps import infer_spacing

    stamps = bar_stamps(df.index)
    ends = _period_ends(stamps)
    ppy = periods_per_year
    if ppy is None:
        period_stamps = stamps[ends]
        ppy = infer_spacing(period_stamps).periods_per_year if period_stamps.nunique() >= 3 else math.nan
    return WindowContext(bars_from_frame(df), stamps, ends, float(ppy))


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


#: A sweep's metrics, in ``run_task``'s order: the Performance figures (:data:`PERFORMANCE_FIGURES`)
#: then those of each backtest's own arrays.
PERFORMANCE_FIGURES = tuple(key for key in ARRAY_FIGURES if key != "periods")
METRIC_KEYS = (*PERFORMANCE_FIGURES, "exposure", "n_trades", "win_rate", "profit_factor", "turnover",
               "periods_per_year", "bars")
#: Figures not defined without periods per year (fewer than 3 periods, none given).
_NEED_PPY = ("cagr", "volatility", "sharpe", "sortino", "calmar")
#: Returns of at most this many (backtests × periods) go through performance_arrays at once, and
#: at least one backtest: its temporaries stay in the cache (measured: one 20,000-period row at a
#: time is faster than 2 to 24 at once; many short rows at once save the calls' overhead).
BLOCK_CELLS = 16_384


@dataclass
class WindowFigures:
    """The figures of backtests on one window, one row per task (row order = ``task_ids``).

    ``returns`` holds every backtest's period returns as one (backtests × periods) array, on
    ``index`` (the period ends); no pandas object per backtest (``returns_series`` builds one).
    """

    window_id: int
    task_ids: list[int]
    metrics: dict[str, np.ndarray]
    returns: np.ndarray
    index: pd.DatetimeIndex
    trade_returns: list[np.ndarray]

    def metrics_of(self, row: int) -> dict[str, float]:
        """One task's metrics, with ``run_task``'s keys."""
        return {key: float(self.metrics[key][row]) for key in METRIC_KEYS}

    def returns_series(self, row: int) -> pd.Series:
        """One task's returns as ``run_task`` gives them (named by its task id)."""
        return pd.Series(self.returns[row], index=self.index, dtype=float, name=self.task_ids[row])


def _own_figures(value: np.ndarray, position: np.ndarray, fills: np.ndarray,
                 ppy: float) -> tuple[dict[str, float], np.ndarray]:
    """(exposure, trade and turnover figures, trade returns) of one backtest, from its arrays."""
    from btedge.metrics import trade_summary

    bars = len(value)
    trades = trade_arrays(fills)
    summary = trade_summary(trades["pnlcomm"])
    basis = 0.0 + np.abs(trades["size"]) * trades["entry_price"]
    trade_returns = np.where(basis > 0, trades["pnlcomm"] / np.where(basis > 0, basis, 1.0), math.nan)
    traded = float(np.cumsum(np.abs(fills[:, 1] * fills[:, 2]))[-1]) if len(fills) else 0.0
    mean_value = float(np.cumsum(value)[-1]) / bars if bars else math.nan
    return {
        "exposure": float(np.mean(position != 0.0)) if bars else math.nan,
        "n_trades": float(summary["trades"]),
        "win_rate": _number(summary["win_rate"]),
        "profit_factor": _number(summary["profit_factor"]),
        "turnover": traded / mean_value * ppy / bars if bars and mean_value > 0 else math.nan,
        "periods_per_year": ppy,
        "bars": float(bars),
    }, trade_returns


def performance_block(returns: np.ndarray, periods_per_year: float) -> dict[str, np.ndarray]:
    """:func:`btedge.metrics.performance_arrays` of (backtests × periods) returns, a block of rows
    at a time, with the Performance analyzer's rule for unknown periods per year (those figures NaN)."""
    from btedge.metrics import performance_arrays

    ppy = periods_per_year if math.isfinite(periods_per_year) else 1.0
    step = max(1, BLOCK_CELLS // max(1, returns.shape[1]))
    parts = [performance_arrays(returns[lo:lo + step], ppy) for lo in range(0, len(returns), step)]
    out = {key: np.concatenate([part[key] for part in parts]) if parts else np.empty(0)
           for key in PERFORMANCE_FIGURES}
    if not math.isfinite(periods_per_year):
        for key in _NEED_PPY:
            out[key] = np.full(len(returns), math.nan)
    return out


def window_figures(window_id: int, ctx: WindowContext, n_runs: int,
                   runs: Iterable[tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]]], cash: float,
                   out: np.ndarray | None = None) -> WindowFigures:
    """The figures of ``n_runs`` simulated backtests on one window: ``runs`` yields (task id,
    (value, position, fills)) in row order, each run's arrays dropped once its returns and own
    figures are taken; the Performance figures of all rows at once (:func:`performance_block`).
    The returns go into ``out`` ((n_runs × periods), e.g. rows of a file shared between
    processes) when given."""
    from btedge.metrics import period_returns

    ppy = ctx.periods_per_year
    returns = np.empty((n_runs, len(ctx.ends))) if out is None else out
    if returns.shape != (n_runs, len(ctx.ends)):
        raise ValueError(f"window {window_id}: out has shape {returns.shape}, want {(n_runs, len(ctx.ends))}")
    task_ids, own, trade_returns = [], [], []
    for row, (task_id, (value, position, fills)) in enumerate(runs):
        if len(ctx.ends):
            returns[row] = period_returns(value, cash, ctx.ends)
        figures, trades = _own_figures(value, position, fills, ppy)
        task_ids.append(task_id)
        own.append(figures)
        trade_returns.append(trades)
    if len(task_ids) != n_runs:
        raise ValueError(f"window {window_id}: {len(task_ids)} runs given, {n_runs} announced")
    metrics = performance_block(returns, ppy)
    for key in METRIC_KEYS[len(PERFORMANCE_FIGURES):]:
        metrics[key] = np.array([figures[key] for figures in own], dtype=float)
    return WindowFigures(window_id, task_ids, metrics, returns, ctx.stamps[ctx.ends], trade_returns)


def task_figures(value: np.ndarray, position: np.ndarray, fills: np.ndarray, ctx: WindowContext,
                 cash: float) -> dict[str, float]:
    """One backtest's metrics with the keys and definitions of ``run_task``."""
    return window_figures(-1, ctx, 1, [(-1, (value, position, fills))], cash).metrics_of(0)


def run_window(strategy: type, frames: Sequence[tuple[str, pd.DataFrame]], tasks: Sequence[Any],
               config: Any, out: np.ndarray | None = None) -> WindowFigures:
    """Every task of ``tasks`` (all on one window): signals, simulation, figures (the returns
    written into ``out`` when given, see :func:`window_figures`)."""
    from btedge.sweeps.grid import slice_frames

    window = tasks[0].window
    name, df = slice_frames(frames, window)[0]
    ctx = window_context(df, config.periods_per_year)
    attach_frame(ctx.bars, name, df)  # the ML strategies read volume, timestamps and name from it

    def runs() -> Iterable[tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        for task in tasks:
            try:
                params = strategy_params(strategy, task.param_dict)
                sig = signals_for(strategy, ctx.bars, params)
            except ValueError as exc:
                raise ValueError(f"sweep task {task.task_id} (params {task.param_dict}, bars "
                                 f"[{window.start}, {window.stop})): {exc}") from exc
            value, position, fills, _ = simulate_signals(ctx.bars, sig, params, config,
                                                         bool(params.get("reenter", False)))
            yield task.task_id, (value, position, fills)

    return window_figures(window.window_id, ctx, len(tasks), runs(), config.cash, out)


def window_periods(frames: Sequence[tuple[str, pd.DataFrame]], window: Any) -> pd.DatetimeIndex:
    """The period ends of one window (the index of its backtests' returns), without the bars and
    periods per year of :func:`window_context` (the processes that run the window build those)."""
    from btedge.sweeps.grid import slice_frames

    stamps = bar_stamps(slice_frames(frames, window)[0][1].index)
    return stamps[_period_ends(stamps)]


def window_groups(tasks: Sequence[Any], parts: int = 1) -> list[list[Any]]:
    """``tasks`` grouped by window (in task order), each window's group cut into ``parts`` pieces."""
    by_window: dict[int, list[Any]] = {}
    for task in tasks:
        by_window.setdefault(task.window.window_id, []).append(task)
    groups = []
    for group in by_window.values():
        size = -(-len(group) // max(1, parts))
        groups.extend(group[lo:lo + size] for lo in range(0, len(group), size))
    return groups


def run_tasks(strategy: type, frames: Sequence[tuple[str, pd.DataFrame]], tasks: Sequence[Any],
              config: Any) -> Iterable[WindowFigures]:
    """The figures of every task, one :class:`WindowFigures` per window."""
    for group in window_groups(tasks):
        yield run_window(strategy, frames, group, config)


def _join(pieces: list[WindowFigures], returns: np.ndarray | None = None) -> WindowFigures:
    """Pieces of one window as one; ``returns``: all their rows, when they are not in the pieces."""
    first = pieces[0]
    if len(pieces) == 1 and returns is None:
        return first
    return WindowFigures(first.window_id, [t for p in pieces for t in p.task_ids],
                         {key: np.concatenate([p.metrics[key] for p in pieces]) for key in first.metrics},
                         np.concatenate([p.returns for p in pieces]) if returns is None else returns, first.index,
                         [r for p in pieces for r in p.trade_returns])


def join_windows(pieces: Iterable[WindowFigures],
                 returns: dict[int, np.ndarray] | None = None) -> Iterator[WindowFigures]:
    """Consecutive pieces of the same window (``window_groups``' order) joined into one; a
    window in ``returns`` takes those (its pieces' rows, written there by the processes that ran
    them) instead of joining the pieces' own."""
    returns = returns or {}
    group: list[WindowFigures] = []
    for piece in pieces:
        if group and piece.window_id != group[0].window_id:
            yield _join(group, returns.get(group[0].window_id))
            group = []
        group.append(piece)
    if group:
        yield _join(group, returns.get(group[0].window_id))


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
        rows[window.window_id] = task_figures(value, position, fills, ctx, config.cash)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "window_id"
    return table


def _hold_price(bars: Bars, bar: int, slip: float) -> float:
    price = float(bars.open[bar])
    if slip:
        pslip = price * (1 + slip)
        price = pslip if pslip <= bars.high[bar] else float(bars.high[bar])
    return price
