"""Drawdown of a return series: the underwater curve, its longest run and its episodes."""
from __future__ import annotations

import numpy as np
import pandas as pd

#: Relative tolerance below the running peak before a period counts as "in drawdown"
#: (compounding returns adds rounding noise of a few ulps to an equity that is really flat).
UNDERWATER_RTOL = 1e-12


def drawdown_array(returns: np.ndarray, growth: np.ndarray | None = None) -> np.ndarray:
    """Drawdown of the compounded equity of each row of ``returns`` (the last axis is time, no
    NaN), as a non-negative fraction of the peak: the array form of :func:`drawdown_series`
    (``growth``: ``1 + returns`` when the caller has it).

    Formula:
      - equity = cumprod(1 + r), peak = running max(equity, 1), drawdown = 1 - equity / peak
    """
    equity = np.cumprod(1.0 + returns if growth is None else growth, axis=-1)
    peak = np.maximum.accumulate(np.maximum(equity, 1.0), axis=-1)
    np.divide(equity, peak, out=equity)
    return np.subtract(1.0, equity, out=equity)


def drawdown_series(returns: pd.Series) -> pd.Series:
    """Drawdown of the compounded equity at each period, as a non-negative fraction of the peak.

    The equity starts at 1 before the first return (as quantstats does), so a first-period
    loss is a drawdown. NaN returns count as flat periods.
    """
    return pd.Series(drawdown_array(returns.fillna(0.0).to_numpy(dtype=float)), index=returns.index)


def _runs(under: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) positions of each run of True in ``under``."""
    edges = np.diff(np.concatenate([[0], under.astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def longest_underwater(drawdown: pd.Series) -> tuple[int, pd.Timedelta]:
    """Longest run of periods below the peak: its length, and the time from the peak to the
    recovery (or to the last period when the run never recovers). The first of equal runs wins."""
    starts, ends = _runs(drawdown.to_numpy() > UNDERWATER_RTOL)
    if len(starts) == 0:
        return 0, pd.Timedelta(0)
    best = int(np.argmax(ends - starts))
    stamps = drawdown.index
    peak_at = stamps[max(starts[best] - 1, 0)]
    end_at = stamps[min(ends[best], len(stamps) - 1)]
    return int(ends[best] - starts[best]), pd.Timedelta(end_at - peak_at)


def drawdown_episodes(returns: pd.Series) -> pd.DataFrame:
    """Every drawdown of ``returns``, deepest first: ``start`` (the peak), ``valley``, ``end``
    (the recovery, or the last period with ``recovered`` False for a drawdown still open at the
    end), ``depth`` (positive fraction), ``periods`` below the peak and ``days`` from peak to end.
    """
    drawdown = drawdown_series(returns)
    values, stamps = drawdown.to_numpy(), drawdown.index
    starts, ends = _runs(values > UNDERWATER_RTOL)
    rows = []
    for start, end in zip(starts, ends):
        valley = start + int(np.argmax(values[start:end]))
        peak_at, end_at = stamps[max(start - 1, 0)], stamps[min(end, len(stamps) - 1)]
        rows.append({
            "start": peak_at, "valley": stamps[valley], "end": end_at, "recovered": end < len(stamps),
            "depth": float(values[valley]), "periods": int(end - start),
            "days": (pd.Timestamp(end_at) - pd.Timestamp(peak_at)) / pd.Timedelta(days=1),
        })
    columns = ["start", "valley", "end", "recovered", "depth", "periods", "days"]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values("depth", ascending=False, kind="mergesort").reset_index(drop=True)
