"""Run a sweep's backtests serially, on all local cores, or on a Dask cluster: identical results.

Every task is one :func:`btedge.engine.build_cerebro` run (btedge's Performance and TradeStats
analyzers plus :class:`~btedge.sweeps.tradelog.SweepTradeLog`) on a window of the data. The
backtests are deterministic, so the three modes return the same numbers; results are ordered by
task id whatever order they finish in.
"""
from __future__ import annotations

import logging
import math
import os
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import backtrader as bt
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from btedge.engine import BacktestConfig, build_cerebro
from btedge.sweeps.grid import Task, Window, expand_grid, make_tasks, make_windows, slice_frames
from btedge.sweeps.tradelog import SweepTradeLog

log = logging.getLogger(__name__)

Frames = Sequence[tuple[str, pd.DataFrame]]
MODES = ("serial", "local", "dask")
#: Metrics kept from the Performance analyzer (scalars only; the return series is kept apart).
PERFORMANCE_KEYS = ("total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "exposure")


@dataclass
class TaskOutput:
    """What one backtest of a sweep produced."""

    task_id: int
    metrics: dict[str, float]
    returns: pd.Series
    trade_returns: np.ndarray


@dataclass
class SweepResult:
    """All runs of a sweep: one row per task in ``runs``, return series and trade returns by task id."""

    strategy: str
    tasks: list[Task]
    runs: pd.DataFrame
    returns: dict[int, pd.Series]
    trade_returns: dict[int, np.ndarray]
    param_names: list[str]
    seed: int
    settings: dict[str, Any] = field(default_factory=dict)
    benchmark: pd.DataFrame | None = None

    @property
    def n_configs(self) -> int:
        """Number of parameter sets tried (the N of the deflated Sharpe ratio)."""
        return int(self.runs["param_id"].nunique())


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def run_task(task: Task, strategy: type[bt.Strategy], frames: Frames, config: BacktestConfig) -> TaskOutput:
    """One backtest of ``strategy`` with the task's params on the task's window."""
    try:
        cerebro = build_cerebro(strategy, slice_frames(frames, task.window), task.param_dict, config)
        cerebro.addanalyzer(SweepTradeLog, _name="sweeplog")
        strat = cerebro.run()[0]
    except ValueError as exc:
        window = task.window
        raise ValueError(
            f"sweep task {task.task_id} (params {task.param_dict}, bars [{window.start}, {window.stop})): {exc}"
        ) from exc
    perf = dict(strat.analyzers.performance.get_analysis())
    trades = strat.analyzers.tradestats.get_analysis()
    extra = strat.analyzers.sweeplog.get_analysis()
    metrics = {key: _number(perf.get(key)) for key in PERFORMANCE_KEYS}
    ppy = _number(perf.get("periods_per_year"))
    bars, mean_value = extra["bars"], extra["mean_value"]
    metrics.update(
        n_trades=_number(trades.get("trades")),
        win_rate=_number(trades.get("win_rate")),
        profit_factor=_number(trades.get("profit_factor")),
        turnover=extra["traded_notional"] / mean_value * ppy / bars if bars and mean_value > 0 else math.nan,
        periods_per_year=ppy,
        bars=float(bars),
    )
    return TaskOutput(task.task_id, metrics, perf["returns"].rename(task.task_id), extra["trade_returns"])


_WORKER: dict[str, Any] = {}


def _init_worker(strategy: type[bt.Strategy], frames: Frames, config: BacktestConfig) -> None:
    _WORKER.update(strategy=strategy, frames=frames, config=config)


def _run_in_worker(task: Task) -> TaskOutput:
    return run_task(task, _WORKER["strategy"], _WORKER["frames"], _WORKER["config"])


@dataclass(frozen=True)
class _Job:
    """What every task of one sweep shares."""

    strategy: type[bt.Strategy]
    frames: Frames
    config: BacktestConfig
    workers: int | None = None
    address: Any = None


def _serial(tasks: Sequence[Task], job: _Job) -> Iterable[TaskOutput]:
    for task in tasks:
        yield run_task(task, job.strategy, job.frames, job.config)


def _local(tasks: Sequence[Task], job: _Job) -> Iterable[TaskOutput]:
    workers = job.workers or os.cpu_count() or 1
    initargs = (job.strategy, job.frames, job.config)
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=initargs) as pool:
        futures = [pool.submit(_run_in_worker, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()


def _dask(tasks: Sequence[Task], job: _Job) -> Iterable[TaskOutput]:
    from distributed import Client
    from distributed import as_completed as dask_completed

    if job.address is None:
        raise ValueError("mode='dask' needs address: a scheduler address ('tcp://host:8786') or a distributed.Client")
    client = job.address if isinstance(job.address, Client) else Client(job.address)
    try:
        [frames_future] = client.scatter([list(job.frames)], broadcast=True)
        token = uuid.uuid4().hex[:8]
        futures = [
            client.submit(run_task, task, job.strategy, frames_future, job.config,
                          key=f"btedge-sweep-{token}-{task.task_id}")
            for task in tasks
        ]
        for future in dask_completed(futures):
            yield future.result()
    finally:
        if client is not job.address:
            client.close()


_Executor = Callable[[Sequence[Task], _Job], Iterable[TaskOutput]]
_EXECUTORS: dict[str, _Executor] = {"serial": _serial, "local": _local, "dask": _dask}


def _resolve(strategy: str | type[bt.Strategy]) -> type[bt.Strategy]:
    from btedge.strategies import get_strategy

    return get_strategy(strategy) if isinstance(strategy, str) else strategy


def _check_params(cls: type[bt.Strategy], grid: Mapping[str, Sequence[Any]], fixed: Mapping[str, Any]) -> None:
    valid = set(cls.params._getkeys())
    unknown = sorted((set(grid) | set(fixed)) - valid)
    if unknown:
        raise ValueError(f"unknown param(s) {unknown} for {cls.__name__}; valid: {', '.join(sorted(valid))}")


def run_sweep(
    strategy: str | type[bt.Strategy],
    frames: Frames,
    grid: Mapping[str, Sequence[Any]],
    *,
    fixed: Mapping[str, Any] | None = None,
    lookbacks: Sequence[int | None] = (None,),
    n_offsets: int = 0,
    seed: int = 0,
    max_offset_frac: float = 0.25,
    config: BacktestConfig | None = None,
    mode: str = "serial",
    workers: int | None = None,
    address: Any = None,
    progress: bool = False,
    benchmark: bool = False,
) -> SweepResult:
    """Backtest ``strategy`` on every parameter set of ``grid`` × every window; see the module doc.

    Args:
        strategy: a registered name (``"laguerre_cross"``) or a strategy class.
        frames: ``[(name, OHLCV DataFrame), ...]`` as for :func:`btedge.engine.run_backtest`.
        grid: param name → values to try; ``fixed`` params are passed unchanged to every run.
        lookbacks, n_offsets, seed, max_offset_frac: the windows (:func:`~btedge.sweeps.grid.make_windows`).
        config: costs and engine settings (the buy-and-hold benchmark is not run in sweeps).
        mode: ``"serial"``, ``"local"`` (a process per core, or ``workers``) or ``"dask"``.
        address: Dask scheduler address or a ``distributed.Client`` (mode ``"dask"``).
        progress: show a tqdm progress bar.
        benchmark: also run buy-and-hold of the first data on every window (same costs), serially.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not frames:
        raise ValueError("no data: give at least one (name, DataFrame)")
    cls, fixed = _resolve(strategy), dict(fixed or {})
    _check_params(cls, grid, fixed)
    param_sets = [{**fixed, **combo} for combo in expand_grid(grid)]
    windows = make_windows(len(frames[0][1]), lookbacks, n_offsets, seed, max_offset_frac)
    tasks = make_tasks(param_sets, windows)
    config = config or BacktestConfig(benchmark=False)
    log.info("sweep %s: %d param sets × %d windows = %d backtests (%s)", cls.__name__,
             len(param_sets), len(windows), len(tasks), mode)
    outputs: dict[int, TaskOutput] = {}
    with tqdm(total=len(tasks), disable=not progress, desc=f"sweep {cls.__name__}", unit="bt") as bar:
        for output in _EXECUTORS[mode](tasks, _Job(cls, frames, config, workers, address)):
            outputs[output.task_id] = output
            bar.update(1)
    name = getattr(cls, "registry_name", cls.__name__)
    settings = {"lookbacks": list(lookbacks), "n_offsets": n_offsets, "max_offset_frac": max_offset_frac,
                "commission": config.commission, "slippage": config.slippage, "fixed": fixed, "mode": mode}
    ordered = sorted(outputs.items())
    return SweepResult(
        name, tasks, _runs_table(tasks, outputs, frames[0][1].index),
        {t: o.returns for t, o in ordered}, {t: o.trade_returns for t, o in ordered}, list(grid), seed, settings,
        buy_and_hold(frames, windows, config) if benchmark else None,
    )


def buy_and_hold(frames: Frames, windows: Sequence[Window], config: BacktestConfig) -> pd.DataFrame:
    """Buy-and-hold of the first data on every window, through the same engine and costs."""
    from btedge.engine import BuyAndHold

    rows = {}
    for window in windows:
        task = Task(-1, -1, (("integer", False),), window)
        rows[window.window_id] = run_task(task, BuyAndHold, frames[:1], config).metrics
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "window_id"
    return table


def _runs_table(tasks: Sequence[Task], outputs: Mapping[int, TaskOutput], index: pd.DatetimeIndex) -> pd.DataFrame:
    rows = []
    for task in tasks:
        w = task.window
        rows.append({
            "task_id": task.task_id, "param_id": task.param_id, "window_id": w.window_id,
            "lookback": w.lookback if w.lookback is not None else -1, "offset": w.offset,
            "start": index[w.start], "end": index[w.stop - 1], **task.param_dict,
            **outputs[task.task_id].metrics,
        })
    return pd.DataFrame(rows).set_index("task_id")
