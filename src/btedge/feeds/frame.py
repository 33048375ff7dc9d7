"""A pandas DataFrame feed that extracts its columns to numpy once.

``bt.feeds.PandasData`` reads every field of every bar with ``DataFrame.iloc``, which dominates
load time on large intraday files. ``FrameData`` keeps PandasData's column-mapping params, pulls
the columns into float arrays in ``start()`` and, when preloading with no filters, copies them
into the line buffers in one step. After such a preload it also steps bar to bar through the
buffers' fields directly (``advance``, ``advance_peek``, the ``tick_*`` fill) rather than through
backtrader's per-line properties; in every other case (no preload, exactbars, filters) it runs
backtrader's own code. ``tests/feeds/test_frame.py`` checks it gives PandasData's bars in each
engine mode; ``bench/bench_feed.py`` measures it.
"""
from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd

from btedge.feeds.errors import DataValidationError

_EPOCH_ORDINAL = 719163.0  # datetime(1970, 1, 1).toordinal(): backtrader's day numbers
_NS_PER_DAY = 86_400_000_000_000
_ZERO_FILLED = ("volume", "openinterest")
_CLOSE_FILLED = ("open", "high", "low")


def index_to_num(index: pd.DatetimeIndex) -> np.ndarray:
    """Timestamps to backtrader's float day numbers (UTC for tz-aware input), vectorised."""
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    ns = index.as_unit("ns").asi8
    days, rem = np.divmod(ns, _NS_PER_DAY)
    return days.astype(float) + _EPOCH_ORDINAL + rem / _NS_PER_DAY


class FrameData(bt.feed.DataBase):
    """
    Feed from a DataFrame indexed by timestamp (or with a datetime column).

    Params (as ``bt.feeds.PandasData``): for each of ``open``, ``high``, ``low``, ``close``,
    ``volume``, ``openinterest`` and ``datetime``: ``None`` = absent, ``-1`` = find the column by
    name (case-insensitive), a string = that column, an int = that column position.
    ``datetime=None`` means the index. Missing volume and open interest read as 0; a missing
    open, high or low is filled from ``close``; any other missing line reads NaN. Tz-aware
    timestamps are converted to UTC. Subclasses add lines the PandasData way::

        class SignalData(FrameData):
            lines = ('signal',)
            params = (('signal', -1),)

    Bar size: ``timeframe`` and ``compression`` left at ``None`` are inferred from the timestamps
    by :func:`btedge.feeds.timestamps.infer_spacing` (the one spacing function: ``Minutes, 1`` for
    minute bars, ``Minutes, 240`` for 4-hour bars, ``Days, 1`` for daily bars), so analyzers see
    one return per bar. backtrader's own default (``Days``) made minute bars give daily returns
    split at UTC midnight (drawdowns measured on daily closes). Too few timestamps to tell
    (fewer than 3) fall back to ``Days, 1``; an explicit value is used as given.

    Validation: the frame is checked when the run starts. A missing timestamp (NaT) or a NaN or
    infinite value in open, high, low, close or volume raises
    :class:`~btedge.feeds.errors.DataValidationError` naming the first such bar (its position
    and timestamp) and how many there are. Drop or fill them first (``df.dropna()``,
    ``df.ffill()``), or load files with :func:`btedge.feeds.load_csv`, which validates too.
    Extra lines of subclasses may hold NaN (a signal not yet defined).

    Why NaN is refused: indicators do not skip it. A NaN close enters every indicator that reads
    it; recursive ones (``LaguerreFilter`` and everything built on it: ``LaguerreRSI``, the
    Laguerre strategies; EMAs) then carry it into every later value, so they stay NaN for the
    rest of the run and never signal again. Window indicators (SMA, ATR, z-scores) are NaN for
    the ``period`` bars whose window holds it, and comparisons with NaN are false, so crossovers
    silently do not fire.
    """

    params = (
        ("timeframe", None),  # None: inferred from the timestamps (see Bar size)
        ("compression", None),
        ("datetime", None),
        ("open", -1),
        ("high", -1),
        ("low", -1),
        ("close", -1),
        ("volume", -1),
        ("openinterest", -1),
    )

    _fast = False  # set by a bulk preload; see advance()
    _tickcache: tuple | None = None  # see _tick_cache()

    def __init__(self) -> None:
        # Runs before backtrader copies the params to _timeframe / _compression (dopostinit),
        # so everything built on the feed (analyzers, resampling, clones) sees the inferred bar.
        if self.p.timeframe is None or self.p.compression is None:
            self.p.timeframe, self.p.compression = self._bar_size(self.p.timeframe, self.p.compression)

    def _bar_size(self, timeframe: int | None, compression: int | None) -> tuple[int, int]:
        """The given timeframe and compression, the missing ones inferred (Days, 1 when the
        frame cannot tell: not a DataFrame, or fewer than 3 distinct timestamps)."""
        from btedge.feeds.timestamps import infer_spacing

        inferred = (bt.TimeFrame.Days, 1)
        df = self.p.dataname
        if isinstance(df, pd.DataFrame):
            try:
                spacing = infer_spacing(self._timestamps(df))
                inferred = (spacing.timeframe, spacing.compression)
            except (ValueError, TypeError, KeyError):
                pass
        if timeframe is None:
            return inferred[0], compression or inferred[1]
        return timeframe, inferred[1] if inferred[0] == timeframe else 1

    def _fields(self) -> list[str]:
        return [name for name in self.lines.getlinealiases() if name != "datetime"]

    def _column(self, df: pd.DataFrame, field: str) -> np.ndarray | None:
        spec = getattr(self.p, field, -1)
        if spec is None:
            return None
        if isinstance(spec, int) and spec >= 0:
            return df.iloc[:, spec].to_numpy(dtype=float)
        name = field if spec == -1 else spec
        lower = {str(c).lower(): c for c in df.columns}
        col = lower.get(str(name).lower())
        if col is None:
            if spec == -1:
                return None
            raise ValueError(f"FrameData: column {name!r} not found; columns are {list(df.columns)}")
        return df[col].to_numpy(dtype=float)

    def _timestamps(self, df: pd.DataFrame) -> pd.DatetimeIndex:
        spec = self.p.datetime
        if spec is None:
            idx = df.index
        else:
            col = df.columns[spec] if isinstance(spec, int) and spec >= 0 else spec
            idx = df[col]
        idx = pd.DatetimeIndex(idx)
        return idx

    def start(self) -> None:
        super().start()
        df = self.p.dataname
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"FrameData needs a pandas DataFrame, got {type(df).__name__}")
        self._dt = index_to_num(self._timestamps(df))
        close = self._column(df, "close")
        if close is None:
            raise ValueError(f"FrameData: no close column; columns are {list(df.columns)}")
        self._cols = []
        for field in self._fields():
            values = self._column(df, field)
            if values is None:
                fill = 0.0 if field in _ZERO_FILLED else np.nan
                values = close if field in _CLOSE_FILLED else np.full(len(df), fill)
            self._cols.append(values)
        self._check_finite(df)
        self._lines = [getattr(self.lines, f) for f in self._fields()]
        self._i = 0
        self._fast = False

    def _check_finite(self, df: pd.DataFrame) -> None:
        """NaT timestamps and NaN/inf prices or volume: one error naming the first bar."""
        stamps = self._timestamps(df)
        checks = [("missing timestamp (NaT)", np.asarray(stamps.isna()))]
        for field, values in zip(self._fields(), self._cols):
            if field in (*_CLOSE_FILLED, "close", "volume"):
                checks.append((f"NaN or infinite {field}", ~np.isfinite(values)))
        for problem, bad in checks:
            if bad.any():
                first = int(np.flatnonzero(bad)[0])
                name = self._name or getattr(self.p, "name", "") or "FrameData"
                raise DataValidationError(
                    f"{name}: {problem} at bar {first + 1} of {len(df)} ({stamps[first]}); {int(bad.sum())} "
                    "bar(s) affected. Fix: drop or fill them before the run (df.dropna() or df.ffill()); "
                    "indicators carry a NaN into later bars (see FrameData)",
                    cli_fix="remove or fill those rows in the file",
                )

    def _load(self) -> bool:
        i = self._i
        if i >= len(self._dt):
            return False
        self.lines.datetime[0] = self._dt[i]
        for line, col in zip(self._lines, self._cols):
            line[0] = col[i]
        self._i = i + 1
        return True

    def _tick_cache(self) -> tuple[tuple[str, ...], tuple[tuple[str, object], ...], str, object]:
        """tick_<line> attribute names and their line buffers, computed once per feed."""
        cache = self._tickcache
        if cache is None:
            aliases = [a for a in self.getlinealiases() if a != "datetime"]
            first = self._getlinealias(0)
            cache = self._tickcache = (
                tuple("tick_" + a for a in aliases),
                tuple(("tick_" + a, getattr(self.lines, a)) for a in aliases),
                "tick_" + first,
                getattr(self.lines, first),
            )
        return cache

    def _tick_nullify(self) -> None:
        # Same as DataBase._tick_nullify without per-bar alias lookups (called once per bar).
        state = self.__dict__
        for name in (self._tickcache or self._tick_cache())[0]:
            state[name] = None
        state["tick_last"] = None

    def _tick_fill(self, force: bool = False) -> None:
        # Same as DataBase._tick_fill: the bar is the tick unless something filled the ticks.
        _, pairs, first, line0 = self._tickcache or self._tick_cache()
        state = self.__dict__
        if force or state.get(first) is None:
            if self._fast:  # unbounded preloaded buffers: line[0] is array[_idx]
                for name, line in pairs:
                    state[name] = line.array[line._idx]
                state["tick_last"] = line0.array[line0._idx]
                return
            for name, line in pairs:
                state[name] = line[0]
            state["tick_last"] = line0[0]

    def _bulk_ok(self) -> bool:
        return not (self._filters or self._ffilters or self._tzinput or self._barstack or self._barstash)

    def preload(self) -> None:
        if not self._bulk_ok():
            return super().preload()
        keep = (self._dt >= self.fromdate) & (self._dt <= self.todate)
        n = int(keep.sum())
        arrays = [self._dt[keep]] + [c[keep] for c in self._cols]
        for line, values in zip([self.lines.datetime, *self._lines], arrays):
            line.array.extend(values.tolist())
            line.idx += n
            line.lencount += n
        self._i = len(self._dt)
        self._last()
        self.home()
        self._fast = all(line.mode == line.UnBounded for line in self.lines.lines)

    # Per-bar stepping over preloaded, unbounded buffers. Same as DataBase.advance_peek /
    # advance / LineBuffer.advance, reading the buffers' plain fields (array, _idx, lencount,
    # extension) instead of going through properties, len() and alias lookups on every bar.
    # Anything else (exactbars' QBuffer, filters, live) takes backtrader's own code.

    def advance_peek(self) -> float:
        if not self._fast:
            return super().advance_peek()
        line0, stamps = self.lines.lines[0], self.lines.datetime
        if line0.lencount < len(line0.array) - line0.extension:
            return stamps.array[stamps._idx + 1]
        return float("inf")

    def advance(self, size: int = 1, datamaster: bt.AbstractDataBase | None = None, ticks: bool = True) -> None:
        if not self._fast:
            return super().advance(size, datamaster, ticks)
        if ticks:
            self._tick_nullify()
        buffers = self.lines.lines
        for line in buffers:
            line._idx += size
            line.lencount += size
        line0 = buffers[0]
        if datamaster is not None:
            if line0.lencount > len(line0.array) - line0.extension:
                self.rewind()  # no bar to deliver: an empty one, as DataBase.advance
                self.lines.forward()
                return None
            stamps = self.lines.datetime
            if stamps.array[stamps._idx] > datamaster.lines.datetime[0]:
                self.lines.rewind()
            elif ticks:
                self._tick_fill()
        elif ticks and line0.lencount < len(line0.array) - line0.extension:
            self._tick_fill()
        return None
