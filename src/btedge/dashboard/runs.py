"""Backtest run folders for the dashboard's backtest page.

``btedge-backtest --json DIR/run.json`` also writes, beside the JSON (:func:`write_run_files`):

- ``run.returns.csv``: ``time``, ``strategy`` and ``buy_and_hold`` bar returns and the first
  data's ``close``;
- ``run.trades.csv``: every completed fill, ``time``, ``symbol``, ``size`` (signed), ``price``,
  ``commission``.

:func:`list_runs` finds the runs of a folder, :func:`load_run` reads one.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def _companion(json_path: Path, what: str) -> Path:
    return json_path.with_name(f"{json_path.stem}.{what}.csv")


def _fills(strategy: Any) -> pd.DataFrame:
    import backtrader as bt

    rows = []
    for order in getattr(strategy, "_orders", ()):
        if order.status != order.Completed or not order.executed.size:
            continue
        rows.append({"time": bt.num2date(order.executed.dt), "symbol": order.data._name,
                     "size": float(order.executed.size), "price": float(order.executed.price),
                     "commission": float(order.executed.comm)})
    return pd.DataFrame(rows, columns=["time", "symbol", "size", "price", "commission"])


def _closes(result: Any, index: pd.Index) -> pd.Series | None:
    """The first data's close at each of ``index``'s bars: from the backtrader strategy's feed (naive
    stamps), or the closes a run without one carries (on the returns' own index)."""
    from btedge.analyzers.performance import num_to_datetime  # bt.num2date, vectorised

    strategy = result.strategy
    if strategy is None:
        close = getattr(result, "closes", None)
        return None if close is None else close[~close.index.duplicated(keep="last")].reindex(index)
    if not strategy.datas:
        return None
    data = strategy.datas[0]
    n = len(data)
    close = pd.Series(np.asarray(data.close.get(size=n), dtype=float),
                      index=num_to_datetime(np.asarray(data.datetime.get(size=n), dtype=float)))
    close = close[~close.index.duplicated(keep="last")]
    return close.reindex(pd.DatetimeIndex(index).tz_localize(None) if getattr(index, "tz", None) else index)


def _run_fills(result: Any) -> pd.DataFrame | None:
    """Every completed fill: the backtrader strategy's orders, or the fills a run without one carries."""
    if result.strategy is not None:
        return _fills(result.strategy)
    return getattr(result, "fills", None)


#: Rows written at a time by :func:`write_returns_csv`: its temporaries (the stamps as text) stay
#: a few MB at any length, as pandas' own chunked writer keeps them.
_CSV_CHUNK = 1 << 16


def write_returns_csv(frame: pd.DataFrame, path: Path) -> None:
    """``frame.to_csv(path)`` for a frame of floats, in a tenth of the time (1M rows: about 10 CPU s
    with pandas). The index is written as pandas writes it; the values by Arrow's writer, with the
    shortest digits that read back to the same float (``0.00001`` where pandas writes ``1e-05``), and
    NaN as an empty field, as pandas."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    names = [str(frame.index.name), *map(str, frame.columns)]
    with open(path, "wb") as out:
        out.write((",".join(names) + "\n").encode())
        for start in range(0, len(frame), _CSV_CHUNK):
            part = frame.iloc[start:start + _CSV_CHUNK]
            arrays = [pa.array(part.index.astype(str))]
            arrays += [pa.array(part[c].to_numpy(dtype=float), from_pandas=True) for c in part.columns]
            pacsv.write_csv(pa.Table.from_arrays(arrays, names=names), out, options)


def write_run_files(result: Any, json_path: str | Path) -> list[Path]:
    """Write ``<stem>.returns.csv`` and ``<stem>.trades.csv`` beside ``json_path``; returns the
    paths written."""
    json_path = Path(json_path)
    frame = pd.DataFrame({"strategy": result.returns})
    if result.benchmark_returns is not None:
        frame["buy_and_hold"] = result.benchmark_returns.reindex(frame.index)
    close = _closes(result, frame.index)
    if close is not None:
        frame["close"] = close.to_numpy()
    frame.index.name = "time"
    written = [_companion(json_path, "returns")]
    write_returns_csv(frame, written[0])
    fills = _run_fills(result)
    if fills is not None:
        written.append(_companion(json_path, "trades"))
        fills.to_csv(written[1], index=False)
    return written


@dataclass
class Run:
    """One backtest run: its metrics JSON and the frames written beside it."""

    name: str
    path: Path
    metrics: dict[str, Any]
    returns: pd.DataFrame
    trades: pd.DataFrame | None
    tearsheet: Path | None


def list_runs(folder: str | Path) -> list[Path]:
    """Metrics JSON files in ``folder`` (not recursive) that have a returns file, newest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("*.json") if _companion(p, "returns").exists()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def load_run(json_path: str | Path) -> Run:
    """The run at ``json_path``; its tear sheet is the ``.html`` of the same stem, when present."""
    path = Path(json_path)
    metrics = json.loads(path.read_text())
    returns = pd.read_csv(_companion(path, "returns"), index_col="time", parse_dates=["time"])
    trades_path = _companion(path, "trades")
    trades = pd.read_csv(trades_path, parse_dates=["time"]) if trades_path.exists() else None
    html = path.with_suffix(".html")
    return Run(path.stem, path, metrics, returns, trades, html if html.exists() else None)


def equity_curves(returns: pd.DataFrame) -> pd.DataFrame:
    """Growth of 1 for each return column (``strategy``, ``buy_and_hold``) and their drawdowns
    (``<column>_drawdown``, fraction below the running peak)."""
    out = pd.DataFrame(index=returns.index)
    for column in ("strategy", "buy_and_hold"):
        if column in returns:
            equity = (1.0 + returns[column].fillna(0.0)).cumprod()
            out[column] = equity
            out[f"{column}_drawdown"] = equity / equity.cummax() - 1.0
    return out
