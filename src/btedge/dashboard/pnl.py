"""Fills placed on the tape's bars, and P&L and drawdown marked to market on the tape's closes."""
from __future__ import annotations

import numpy as np
import pandas as pd


def fill_bars(fills: pd.DataFrame, bars: pd.DataFrame) -> pd.DataFrame:
    """``fills`` with ``bar_time``: the bar each fill belongs to.

    A fill booked while the tape was being written belongs to the first bar written at or after
    its booking (the bar that was forming when it filled: a market order fills at that bar's
    open); a fill booked before the tape began (an earlier process) goes to the bar at or before
    its execution time. Bars of the fill's own symbol only; fills of symbols without bars are dropped.
    """
    out = []
    for symbol, group in fills.groupby("symbol"):
        mine = bars[bars["symbol"] == symbol]
        if not len(mine):
            continue
        written = mine["written"].to_numpy(dtype=float)
        times = mine.index
        booked = group["booked"].to_numpy(dtype=float)
        after = np.searchsorted(np.maximum.accumulate(written), booked, side="left").clip(0, len(times) - 1)
        epochs = times.as_unit("ns").asi8 / 1e9
        before = np.searchsorted(epochs, group["time"].to_numpy(dtype=float), side="right").clip(1, len(times)) - 1
        index = np.where(booked >= written.min(), after, before)
        out.append(group.assign(bar_time=times[index]))
    if not out:
        return fills.assign(bar_time=pd.Series(dtype="datetime64[ns, UTC]"))
    return pd.concat(out).sort_values("time").reset_index(drop=True)


def marked_pnl(fills: pd.DataFrame, bars: pd.DataFrame) -> pd.DataFrame:
    """Cumulative P&L per bar time (all symbols) and its drawdown from the running peak.

    Formula:
      - cash(t) = -Σ shares · price - Σ commission over fills with bar_time <= t
      - pnl(t) = cash(t) + Σ_symbols position(t) · close(t)
      - drawdown(t) = pnl(t) - max_{s <= t} pnl(s)

    ``fills``: :func:`fill_bars` output (``symbol``, ``shares``, ``price``, ``commission``,
    ``bar_time``); ``bars``: :func:`btedge.dashboard.tape.read_bars`. Returns columns ``pnl`` and
    ``drawdown`` indexed by bar time (empty without bars).
    """
    if not len(bars):
        return pd.DataFrame(columns=["pnl", "drawdown"], dtype=float)
    last = pd.DataFrame({"time": bars.index, "symbol": bars["symbol"].to_numpy(), "close": bars["close"].to_numpy()})
    last = last.drop_duplicates(["time", "symbol"], keep="last")  # (pivot_table(aggfunc="last"), 5x faster)
    closes = last.pivot(index="time", columns="symbol", values="close").ffill()
    closes.index.name = bars.index.name
    pnl = pd.Series(0.0, index=closes.index)
    for symbol, group in fills.groupby("symbol") if len(fills) else ():
        if symbol not in closes:
            continue
        shares = group["shares"].astype(float).set_axis(group["bar_time"])
        cost = (group["shares"].astype(float) * group["price"].astype(float)
                + group["commission"].astype(float).fillna(0.0)).set_axis(group["bar_time"])
        position = shares.groupby(level=0).sum().cumsum().reindex(closes.index, method="ffill").fillna(0.0)
        cash = -cost.groupby(level=0).sum().cumsum().reindex(closes.index, method="ffill").fillna(0.0)
        pnl = pnl + cash + position * closes[symbol].fillna(0.0)
    return pd.DataFrame({"pnl": pnl, "drawdown": pnl - pnl.cummax()})
