"""What a sweep runs: parameter sets × data windows (lookbacks and seeded random start offsets).

A *window* is a slice of bars ``[start, stop)`` of the first data. Window 0 is the first lookback
at offset 0 (the "base" window: the grid's DSR and PBO are computed on it); every lookback also
gets ``n_offsets`` start offsets drawn without replacement from a seeded generator, so the same
seed gives the same sweep.
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: A window shorter than this cannot give a meaningful Sharpe ratio.
MIN_WINDOW_BARS = 50


@dataclass(frozen=True)
class Window:
    """Bars ``[start, stop)`` of the first data; ``lookback`` None means "to the end"."""

    window_id: int
    start: int
    stop: int
    lookback: int | None
    offset: int


@dataclass(frozen=True)
class Task:
    """One backtest of a sweep: a parameter set on a window."""

    task_id: int
    param_id: int
    params: tuple[tuple[str, Any], ...]
    window: Window

    @property
    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in key order then value order (``itertools.product``)."""
    for key, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(f"grid[{key!r}] must be a non-empty list of values, got {values!r}")
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def _offsets(rng: np.random.Generator, max_start: int, n_offsets: int) -> list[int]:
    if n_offsets <= 0 or max_start < 1:
        return [0]
    picks = rng.choice(np.arange(1, max_start + 1), size=min(n_offsets, max_start), replace=False)
    return [0, *sorted(int(p) for p in picks)]


def make_windows(
    n_bars: int,
    lookbacks: Sequence[int | None] = (None,),
    n_offsets: int = 0,
    seed: int = 0,
    max_offset_frac: float = 0.25,
) -> list[Window]:
    """Windows for each lookback: offset 0 plus ``n_offsets`` seeded random start offsets.

    A lookback ``L`` starts anywhere in ``[0, n_bars − L]``; ``None`` (all bars) starts in
    ``[0, max_offset_frac · n_bars]`` and runs to the end.
    """
    if not lookbacks:
        raise ValueError("lookbacks must hold at least one entry (None = all bars)")
    if not 0 <= max_offset_frac < 1:
        raise ValueError(f"max_offset_frac must be in [0, 1), got {max_offset_frac!r}")
    if n_offsets < 0:
        raise ValueError(f"n_offsets must be >= 0, got {n_offsets!r}")
    rng = np.random.default_rng(seed)
    windows: list[Window] = []
    for lookback in lookbacks:
        if lookback is not None and not MIN_WINDOW_BARS <= lookback <= n_bars:
            raise ValueError(f"lookback {lookback} must be in [{MIN_WINDOW_BARS}, {n_bars}] bars (the data length)")
        max_start = n_bars - lookback if lookback is not None else int(max_offset_frac * n_bars)
        for offset in _offsets(rng, max_start, n_offsets):
            stop = n_bars if lookback is None else offset + lookback
            if stop - offset < MIN_WINDOW_BARS:
                raise ValueError(f"window [{offset}, {stop}) has < {MIN_WINDOW_BARS} bars; lower max_offset_frac")
            windows.append(Window(len(windows), offset, stop, lookback, offset))
    return windows


def make_tasks(param_sets: Sequence[Mapping[str, Any]], windows: Sequence[Window]) -> list[Task]:
    """The cartesian product, window-major: all parameter sets on window 0 first."""
    if not param_sets:
        raise ValueError("the grid is empty: give at least one parameter set")
    tasks = []
    for window in windows:
        for param_id, params in enumerate(param_sets):
            tasks.append(Task(len(tasks), param_id, tuple(params.items()), window))
    return tasks


def slice_frames(frames: Sequence[tuple[str, pd.DataFrame]], window: Window) -> list[tuple[str, pd.DataFrame]]:
    """Each frame cut to the window's time span (positions taken on the first frame)."""
    first = frames[0][1]
    if window.stop > len(first):
        raise ValueError(f"window [{window.start}, {window.stop}) is past the data's {len(first)} bars")
    lo, hi = first.index[window.start], first.index[window.stop - 1]
    return [(name, df.loc[lo:hi]) for name, df in frames]


def parse_values(text: str) -> list[str]:
    """CLI value list: ``a,b,c`` or a numeric range ``start:stop:step`` (stop inclusive)."""
    text = text.strip()
    if text.count(":") == 2 and "," not in text:
        start, stop, step = (float(part) for part in text.split(":"))
        if step <= 0 or stop < start:
            raise ValueError(f"range {text!r}: need start <= stop and step > 0")
        count = int(np.floor((stop - start) / step + 1e-9)) + 1
        values = [start + i * step for i in range(count)]
        is_int = all(float(p).is_integer() for p in (start, step))
        return [str(int(round(v))) if is_int else repr(round(v, 12)) for v in values]
    values = [part.strip() for part in text.split(",") if part.strip()]
    if not values:
        raise ValueError(f"no values in {text!r}; use a,b,c or start:stop:step")
    return values
