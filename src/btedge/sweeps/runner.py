"""Run a sweep's backtests with the vector engine, or serially, on all local cores, or on a Dask
cluster with backtrader: identical results.

``engine="vector"`` (the default) evaluates the whole grid on every window with
:mod:`btedge.vector` (equal to backtrader to 1e-9, tested), then re-runs the ``verify_top`` best
parameter sets of the base window in backtrader and reports that they agree; a strategy the
vector engine does not support falls back to backtrader with one log line saying why.
``engine="backtrader"`` makes every task one :func:`btedge.engine.build_cerebro` run (btedge's
Performance and TradeStats analyzers plus :class:`~btedge.sweeps.tradelog.SweepTradeLog`) on a
window of the data. The backtests are deterministic, so the modes return the same numbers; results
are ordered by task id whatever order they finish in.
"""
from __future__ import annotations

import logging
import math
import os
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

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
ENGINES = ("vector", "backtrader")
#: The vector engine runs ``mode="local"`` on several processes only from this many bars
#: simulated in all (tasks × window bars): below it, starting them costs more than they save.
LOCAL_VECTOR_MIN_BARS = 5_000_000
#: Relative tolerance of the top-K agreement check (the equality tests hold to 1e-9).
AGREE_TOL = 1e-9
#: Metrics kept from the Performance analyzer (scalars only; the return series is kept apart).
PERFORMANCE_KEYS = ("total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "exposure")


@dataclass
class TaskOutput:
    """What one backtest of a sweep produced."""

    task_id: int
    metrics: dict[str, float]
    returns: pd.Series
    trade_returns: np.ndarray


class SweepReturns(Mapping[int, pd.Series]):
    """Each backtest's return series by task id. The vector engine's are kept as one (backtests ×
    periods) array per window (:meth:`add_block`) and a Series is built only for the task asked
    for; backtrader's come as Series (:meth:`add_series`)."""

    def __init__(self) -> None:
        self._series: dict[int, pd.Series] = {}
        self._blocks: list[tuple[pd.DatetimeIndex, np.ndarray, list[int]]] = []
        self._where: dict[int, tuple[int, int]] = {}

    def add_series(self, task_id: int, series: pd.Series) -> None:
        self._series[int(task_id)] = series

    def add_block(self, task_ids: Sequence[int], index: pd.DatetimeIndex, matrix: np.ndarray) -> None:
        """Rows of ``matrix`` are the returns of ``task_ids`` on ``index``."""
        if matrix.shape != (len(task_ids), len(index)):
            raise ValueError(f"returns block of shape {matrix.shape} for {len(task_ids)} tasks × {len(index)} periods")
        block = len(self._blocks)
        self._blocks.append((index, matrix, [int(t) for t in task_ids]))
        self._where.update({int(t): (block, row) for row, t in enumerate(task_ids)})

    def __getitem__(self, task_id: int) -> pd.Series:
        task_id = int(task_id)
        if task_id in self._series:
            return self._series[task_id]
        block, row = self._where[task_id]
        index, matrix, _ = self._blocks[block]
        return pd.Series(matrix[row], index=index, dtype=float, name=task_id)

    def __iter__(self) -> Iterator[int]:
        return iter(sorted([*self._series, *self._where]))

    def __len__(self) -> int:
        return len(self._series) + len(self._where)

    def matrix(self, task_ids: Sequence[int]) -> tuple[pd.DatetimeIndex, np.ndarray] | None:
        """(index, rows of ``task_ids`` in that order) when they all lie in one block, else None
        (no copy when they are the whole block in its order)."""
        places = [self._where.get(int(t)) for t in task_ids]
        if not places or any(p is None for p in places) or len({p[0] for p in places}) != 1:
            return None
        index, matrix, ids = self._blocks[places[0][0]]
        rows = [p[1] for p in places]
        return index, matrix if rows == list(range(len(ids))) else matrix[rows]


@dataclass
class SweepResult:
    """All runs of a sweep: one row per task in ``runs``, return series and trade returns by task id."""

    strategy: str
    tasks: list[Task]
    runs: pd.DataFrame
    returns: Mapping[int, pd.Series]
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
    returns = strat.analyzers.performance.returns
    return TaskOutput(task.task_id, metrics, returns.rename(task.task_id), extra["trade_returns"])


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
    exclude: Sequence[Mapping[str, Any]] = (),
    engine: str = "vector",
    verify_top: int = 3,
    windows: Sequence[Window] | None = None,
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
        benchmark: also compute buy-and-hold of the first data on every window (same costs, closed form).
        exclude: grid combinations to leave out (``btedge-sweep`` drops those the strategy refuses).
        engine: ``"vector"`` (whole grid at once, then the ``verify_top`` best re-run in backtrader
            and compared) or ``"backtrader"`` (every task a cerebro run, in ``mode``).
        windows: the windows themselves (window 0 is the base), instead of ``lookbacks`` and
            ``n_offsets``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not frames:
        raise ValueError("no data: give at least one (name, DataFrame)")
    cls, fixed = _resolve(strategy), dict(fixed or {})
    _check_params(cls, grid, fixed)
    param_sets = [{**fixed, **combo} for combo in expand_grid(grid) if combo not in exclude]
    if windows is None:
        windows = make_windows(len(frames[0][1]), lookbacks, n_offsets, seed, max_offset_frac)
    else:
        windows = _checked_windows(windows, len(frames[0][1]))
        lookbacks, n_offsets = list(dict.fromkeys(w.lookback for w in windows)), 0
    tasks = make_tasks(param_sets, windows)
    config = config or BacktestConfig(benchmark=False)
    log.info("sweep %s: %d param sets × %d windows = %d backtests (%s)", cls.__name__,
             len(param_sets), len(windows), len(tasks), mode)
    engine = _choose_engine(engine, cls, frames)
    job = _Job(cls, frames, config, workers, address)
    metrics: dict[int, dict[str, float]] = {}
    returns, trade_returns = SweepReturns(), {}
    with tqdm(total=len(tasks), disable=not progress, desc=f"sweep {cls.__name__}", unit="bt") as bar:
        if engine == "vector":
            for block in _vector_windows(tasks, job, mode):
                returns.add_block(block.task_ids, block.index, block.returns)
                for row, task_id in enumerate(block.task_ids):
                    metrics[task_id] = block.metrics_of(row)
                    trade_returns[task_id] = block.trade_returns[row]
                bar.update(len(block.task_ids))
        else:
            for output in _EXECUTORS[mode](tasks, job):
                metrics[output.task_id] = output.metrics
                returns.add_series(output.task_id, output.returns)
                trade_returns[output.task_id] = output.trade_returns
                bar.update(1)
    name = getattr(cls, "registry_name", cls.__name__)
    settings = {"lookbacks": list(lookbacks), "n_offsets": n_offsets, "max_offset_frac": max_offset_frac,
                "commission": config.commission, "slippage": config.slippage, "fixed": fixed, "mode": mode,
                "engine": engine}
    runs = _runs_table(tasks, metrics, frames[0][1].index)
    if engine == "vector" and verify_top > 0:
        settings["verified"] = verify_in_backtrader(runs, tasks, metrics, trade_returns, cls, frames, config,
                                                    verify_top)
    return SweepResult(
        name, tasks, runs, returns, dict(sorted(trade_returns.items())), list(grid), seed, settings,
        buy_and_hold(frames, windows, config) if benchmark else None,
    )


def _checked_windows(windows: Sequence[Window], n_bars: int) -> list[Window]:
    windows = list(windows)
    if not windows:
        raise ValueError("windows is empty: give at least one Window (or leave it None for lookbacks/n_offsets)")
    for k, window in enumerate(windows):
        if window.window_id != k or not 0 <= window.start < window.stop <= n_bars:
            raise ValueError(f"windows[{k}] = {window}: window ids must be 0, 1, ... in order and "
                             f"0 <= start < stop <= {n_bars} (the data's bars)")
    return windows


def _choose_engine(engine: str, cls: type[bt.Strategy], frames: Frames) -> str:
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "vector":
        from btedge.vector import unsupported

        reason = unsupported(cls, frames)
        if reason:
            log.warning("sweep: running in backtrader, not the vector engine: %s", reason)
            return "backtrader"
    return engine


def _vector_in_worker(tasks: Sequence[Task], shared: tuple[str, int] | None) -> Any:
    """One piece of a window; with ``shared`` = (file, first row) its returns are written into
    the rows of that .npy file (the parent maps it) and not sent back."""
    from btedge.vector.sweep import run_window

    if shared is None:
        return run_window(_WORKER["strategy"], _WORKER["frames"], tasks, _WORKER["config"])
    path, row = shared
    matrix = np.load(path, mmap_mode="r+")
    figures = run_window(_WORKER["strategy"], _WORKER["frames"], tasks, _WORKER["config"],
                         matrix[row:row + len(tasks)])
    matrix.flush()
    figures.returns = np.empty((len(tasks), 0))
    return figures


def _shared_dir(size: int) -> str:
    """A folder for files the processes share: memory (/dev/shm) when it has room, else the temp folder."""
    import shutil
    import tempfile

    shm = "/dev/shm"
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 * size else None
    return tempfile.mkdtemp(prefix="btedge-sweep-", dir=base)


def _shared_returns(groups: Sequence[Sequence[Task]], job: _Job,
                    folder: str) -> tuple[dict[int, np.ndarray], list[tuple[str, int] | None]]:
    """Per window, a (tasks × periods) .npy file in ``folder`` mapped here, and where each group
    writes its rows; a window without periods is sent back by pickling (None)."""
    from btedge.vector.sweep import window_periods

    counts: dict[int, int] = {}
    for group in groups:
        counts[group[0].window.window_id] = counts.get(group[0].window.window_id, 0) + len(group)
    paths: dict[int, str | None] = {}
    matrices: dict[int, np.ndarray] = {}
    places: list[tuple[str, int] | None] = []
    rows: dict[int, int] = {}
    for group in groups:
        window = group[0].window
        wid = window.window_id
        if wid not in paths:
            periods = len(window_periods(job.frames, window))
            paths[wid] = os.path.join(folder, f"window{wid}.npy") if periods else None
            if paths[wid] is not None:
                matrices[wid] = np.lib.format.open_memmap(paths[wid], mode="w+", dtype=float,
                                                          shape=(counts[wid], periods)).view(np.ndarray)
            rows[wid] = 0
        places.append(None if paths[wid] is None else (paths[wid], rows[wid]))
        rows[wid] += len(group)
    return matrices, places


def _vector_windows(tasks: Sequence[Task], job: _Job, mode: str) -> Iterable[Any]:
    """The vector engine's :class:`~btedge.vector.sweep.WindowFigures`, one per window: in this
    process, or with ``mode="local"`` each window's tasks split over a process per core (or
    ``workers``) and the pieces joined, when the sweep simulates at least
    :data:`LOCAL_VECTOR_MIN_BARS` bars (a Dask cluster is not used by the vector engine). The
    processes write the returns into one file per window that this process maps (in memory
    under /dev/shm when there is room), so they are neither pickled nor copied."""
    from btedge.vector.sweep import join_windows, run_tasks, window_groups

    workers = job.workers or os.cpu_count() or 1
    work = sum(task.window.stop - task.window.start for task in tasks)
    if mode != "local" or workers < 2 or work < LOCAL_VECTOR_MIN_BARS:
        if mode != "serial":
            log.info("sweep: the vector engine runs in this process (%s)", "mode 'dask' is for engine="
                     "'backtrader'" if mode == "dask" else f"{work:,} bars in all: too few to gain from "
                     f"{workers} processes")
        yield from run_tasks(job.strategy, job.frames, tasks, job.config)
        return
    initargs = (job.strategy, job.frames, job.config)
    n_windows = len({task.window.window_id for task in tasks})
    # whole windows where there are enough to keep the processes busy (what a strategy computes
    # once per window, e.g. an ML strategy's folds, is computed once), else windows cut in pieces
    groups = window_groups(tasks, -(-workers // n_windows))
    folder = _shared_dir(work * 8)
    try:
        shared, places = _shared_returns(groups, job, folder)
        with ProcessPoolExecutor(max_workers=min(workers, len(groups)), initializer=_init_worker,
                                 initargs=initargs) as pool:
            pieces = [pool.submit(_vector_in_worker, group, place) for group, place in zip(groups, places)]
            blocks = list(join_windows((future.result() for future in pieces), shared))
    finally:  # the mapped arrays stay valid once their files are removed
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    yield from blocks


def _agree(got: Mapping[str, float], want: Mapping[str, float]) -> tuple[bool, float]:
    """Every figure equal within :data:`AGREE_TOL` (relative), and the largest difference."""
    worst, same = 0.0, True
    for key, expected in want.items():
        value = got[key]
        if not (math.isfinite(expected) and math.isfinite(value)):
            same &= (math.isnan(expected) and math.isnan(value)) or value == expected
            continue
        diff = abs(value - expected) / max(1.0, abs(expected))
        worst, same = max(worst, diff), same and diff <= AGREE_TOL
    return bool(same), worst


def verify_in_backtrader(runs: pd.DataFrame, tasks: Sequence[Task], metrics: Mapping[int, Mapping[str, float]],
                         trade_returns: Mapping[int, np.ndarray], cls: type[bt.Strategy], frames: Frames,
                         config: BacktestConfig, top: int) -> list[dict[str, Any]]:
    """Re-run the ``top`` best parameter sets of the base window (by Sharpe) in backtrader and
    compare every figure and trade return with the vector engine's (``metrics`` and
    ``trade_returns`` by task id); one log line per run."""
    base = runs[runs["window_id"] == 0]
    best = base["sharpe"].fillna(-math.inf).sort_values(ascending=False, kind="mergesort").index[:top]
    by_id = {task.task_id: task for task in tasks}
    checks = []
    for task_id in best:
        task, vector_trades = by_id[int(task_id)], trade_returns[int(task_id)]
        reference = run_task(task, cls, frames, config)
        same, worst = _agree(metrics[int(task_id)], reference.metrics)
        trades = len(reference.trade_returns)
        same = same and len(vector_trades) == trades and np.allclose(
            vector_trades, reference.trade_returns, rtol=AGREE_TOL, atol=AGREE_TOL, equal_nan=True)
        checks.append({"task_id": int(task_id), "params": task.param_dict, "agree": bool(same),
                       "max_rel_diff": worst, "trades": trades})
        (log.info if same else log.error)(
            "sweep: task %d %s re-run in backtrader: %s (largest relative difference %.1e, %d trades)",
            task_id, task.param_dict, "agrees" if same else "DISAGREES", worst, trades)
    return checks


def buy_and_hold(frames: Frames, windows: Sequence[Window], config: BacktestConfig) -> pd.DataFrame:
    """Buy-and-hold of the first data on every window with the same costs, in closed form (equal
    to a BuyAndHold run through the engine: ``tests/sweeps/test_vector_sweep.py``)."""
    from btedge.vector.sweep import hold_figures

    return hold_figures(frames, windows, config)


def _runs_table(tasks: Sequence[Task], metrics: Mapping[int, Mapping[str, float]],
                index: pd.DatetimeIndex) -> pd.DataFrame:
    """One row per task: its ids, window, params and metrics (column by column: a key a task
    lacks is NaN, as in a frame of row dicts)."""
    fixed = ("task_id", "param_id", "window_id", "lookback", "offset", "start", "end")
    columns: dict[str, list[Any]] = {name: [] for name in fixed}
    stamps: dict[int, tuple[Any, Any]] = {}
    for row, task in enumerate(tasks):
        w = task.window
        if w.window_id not in stamps:
            stamps[w.window_id] = (index[w.start], index[w.stop - 1])
        for name, value in zip(fixed, (task.task_id, task.param_id, w.window_id,
                                       w.lookback if w.lookback is not None else -1, w.offset,
                                       *stamps[w.window_id])):
            columns[name].append(value)
        for source in (task.params, metrics[task.task_id].items()):
            for name, value in source:
                if name not in columns:
                    columns[name] = [math.nan] * row
                columns[name].append(value)
        for values in columns.values():
            if len(values) == row:
                values.append(math.nan)
    return pd.DataFrame(columns).set_index("task_id")
