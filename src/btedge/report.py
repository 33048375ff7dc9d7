"""Reports of a run: a metrics table (rich or plain text), a quantstats HTML tear sheet and an
equity / drawdown PNG, each with a buy-and-hold benchmark.

Typical use after ``cerebro.run()`` with :class:`btedge.analyzers.Performance` and
:class:`btedge.analyzers.TradeStats` added as ``perf`` and ``trades``::

    perf = strat.analyzers.perf.get_analysis()
    returns = strat.analyzers.perf.returns
    trades = strat.analyzers.trades.get_analysis()
    bench = buy_and_hold_returns(df, index=returns.index)
    bench_perf = benchmark_stats(bench, perf["periods_per_year"], asset="SPY")
    rich.print(metrics_table(perf, trades, bench_perf))
    write_tearsheet(returns, bench, "tearsheet.html", "SMA cross on SPY", table=perf)
    plot_equity_drawdown(returns, bench, "equity.png")

Every figure is computed by :mod:`btedge.metrics`; nothing here raises on a run without trades.
Nothing here touches the network: benchmarks are Series, never ticker strings.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import numbers
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from btedge.feeds.timestamps import BarSpacing, infer_spacing
from btedge.metrics import drawdown_episodes, drawdown_series, performance_stats

log = logging.getLogger(__name__)

Row = tuple[str, str, str]
NA = "n/a"


# -- formatting ------------------------------------------------------------------------------
def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _pct(value: Any) -> str:
    if _is_missing(value):
        return NA
    return f"{value * 100:.2f}%" if math.isfinite(value) else str(value)


def _num(value: Any) -> str:
    if _is_missing(value):
        return NA
    return f"{value:.2f}" if math.isfinite(value) else ("inf" if value > 0 else "-inf")


def _money(value: Any) -> str:
    return NA if _is_missing(value) else f"{value:,.2f}"


def _count(value: Any) -> str:
    return NA if _is_missing(value) else f"{value:,.0f}"


def _stamp(value: Any) -> str:
    return NA if value is None or _is_missing(value) else str(pd.Timestamp(value))


def _text(value: Any) -> str:
    return NA if value is None or _is_missing(value) else str(value)


def _trade_count(value: Any) -> str:
    return "0 (no trades)" if value == 0 else _count(value)


def _duration(stats: Mapping[str, Any]) -> str:
    bars = stats.get("max_drawdown_duration")
    if _is_missing(bars):
        return NA
    delta = stats.get("max_drawdown_timedelta")
    if delta is None or _is_missing(delta):
        return f"{bars:,} bars"
    days = pd.Timedelta(delta) / pd.Timedelta(days=1)
    span = f"{days:,.1f} days" if days >= 1 else f"{days * 24:.1f} h"
    return f"{bars:,} bars / {span}"


#: (label, key, formatter) for the span of the run: what the figures below are computed on.
_SPAN_ROWS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("First bar", "first_bar", _stamp),
    ("Last bar", "last_bar", _stamp),
    ("Bars", "bars", _count),
    ("Bar size", "timeframe", _text),
    ("Periods per year", "periods_per_year", _count),
)

#: (label, key or function of the stats dict, formatter) for return-based rows.
_PERF_ROWS: tuple[tuple[str, str | Callable[[Mapping[str, Any]], Any], Callable[[Any], str]], ...] = (
    ("Total return", "total_return", _pct),
    ("CAGR", "cagr", _pct),
    ("Volatility (ann.)", "volatility", _pct),
    ("Sharpe", "sharpe", _num),
    ("Sortino", "sortino", _num),
    ("Max drawdown", "max_drawdown", _pct),
    ("Max drawdown duration", _duration, str),
    ("Calmar", "calmar", _num),
    ("Exposure", "exposure", _pct),
)

_TRADE_ROWS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("Trades (closed)", "trades", _trade_count),
    ("Entries skipped (size 0)", "skipped_entries", _count),
    ("Win rate", "win_rate", _pct),
    ("Average win", "avg_win", _money),
    ("Average loss", "avg_loss", _money),
    ("Profit factor", "profit_factor", _num),
    ("Expectancy", "expectancy", _money),
    ("Longest winning streak", "longest_win_streak", _count),
    ("Longest losing streak", "longest_loss_streak", _count),
    ("Net PnL", "pnl_net", _money),
    ("Gross PnL", "pnl_gross", _money),
    ("Commission", "commission", _money),
    ("Average bars held", "avg_bars", _num),
)

#: Metric names of every row, in order (useful to check a table is complete).
METRICS: tuple[str, ...] = tuple(row[0] for row in _SPAN_ROWS + _PERF_ROWS + _TRADE_ROWS)


def _cell(stats: Mapping[str, Any] | None, key: Any, fmt: Callable[[Any], str]) -> str:
    if stats is None:
        return "-"
    value = key(stats) if callable(key) else stats.get(key)
    return fmt(value)


def metrics_rows(
    perf: Mapping[str, Any],
    trades: Mapping[str, Any] | None = None,
    benchmark_perf: Mapping[str, Any] | None = None,
) -> list[Row]:
    """
    Rows ``(metric, strategy, buy_and_hold)`` of formatted figures: the span of the run (first
    and last bar, bars, bar size, periods per year), the return figures, then the trades.

    Args:
      perf: ``Performance.get_analysis()`` (or :func:`benchmark_stats` of any return series)
      trades: ``TradeStats.get_analysis()`` (plus ``skipped_entries`` from the engine); its rows
        are left out when ``None``. A run without trades reads ``0 (no trades)``.
      benchmark_perf: the same figures for buy-and-hold (:func:`benchmark_stats`); the column
        reads ``-`` when ``None``. Trade rows always read ``-`` in that column.

    Percentages are shown as ``12.34%``, undefined figures as ``n/a``.
    """
    rows = [(label, _cell(perf, key, fmt), _cell(benchmark_perf, key, fmt))
            for label, key, fmt in _SPAN_ROWS + _PERF_ROWS]
    if trades is not None:
        rows += [(label, _cell(trades, key, fmt), "-") for label, key, fmt in _TRADE_ROWS]
    return rows


def benchmark_label(benchmark_perf: Mapping[str, Any] | None) -> str:
    """Header of the benchmark column: ``Buy & hold BTC-USD (95% invested)`` when the figures
    name their ``asset`` and ``invested`` fraction, else ``Buy & hold``."""
    if not benchmark_perf:
        return "Buy & hold"
    asset, invested = benchmark_perf.get("asset"), benchmark_perf.get("invested")
    label = f"Buy & hold {asset}" if asset else "Buy & hold"
    return f"{label} ({invested:.0%} invested)" if isinstance(invested, numbers.Real) else label


def metrics_table(
    perf: Mapping[str, Any],
    trades: Mapping[str, Any] | None = None,
    benchmark_perf: Mapping[str, Any] | None = None,
    title: str = "Performance",
) -> Any:
    """:func:`metrics_rows` as a ``rich.table.Table`` (metric, strategy, buy & hold)."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("Metric")
    table.add_column("Strategy", justify="right")
    table.add_column(benchmark_label(benchmark_perf), justify="right")
    for row in metrics_rows(perf, trades, benchmark_perf):
        table.add_row(*row)
    return table


def format_metrics(
    perf: Mapping[str, Any],
    trades: Mapping[str, Any] | None = None,
    benchmark_perf: Mapping[str, Any] | None = None,
) -> str:
    """:func:`metrics_rows` as a Markdown table (plain text, readable in logs too)."""
    rows = [("Metric", "Strategy", benchmark_label(benchmark_perf)), *metrics_rows(perf, trades, benchmark_perf)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:])]
        return "| " + " | ".join([first, *rest]) + " |"

    rule = "|" + "|".join(["-" * (widths[0] + 2), *("-" * (w + 1) + ":" for w in widths[1:])]) + "|"
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])


# -- JSON ------------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """A JSON value: None for NaN and infinities (undefined or unbounded figures), ISO text for
    timestamps and durations, Python numbers for numpy's."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (pd.Timestamp, pd.Timedelta)):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def to_json(payload: Mapping[str, Any]) -> str:
    """Strict JSON of a metrics payload (e.g. ``{"strategy": ..., "trades": ..., "buy_and_hold":
    ...}``): ``null`` for undefined figures (NaN) and for an infinite profit factor, never a
    ``NaN`` literal; timestamps and durations as ISO 8601 text. Series are left out."""
    clean = {key: {k: v for k, v in part.items() if not isinstance(v, pd.Series)} if isinstance(part, Mapping)
             else part for key, part in payload.items()}
    return json.dumps(_plain(clean), indent=2, allow_nan=False)


# -- benchmark -------------------------------------------------------------------------------
def _close_of(df_or_close: Any) -> pd.Series:
    if isinstance(df_or_close, pd.DataFrame):
        columns = {str(c).lower(): c for c in df_or_close.columns}
        if "close" not in columns:
            raise ValueError(
                f"buy_and_hold_returns: no 'close' column in {list(df_or_close.columns)}; "
                "pass a frame with a close column or the close Series itself"
            )
        return df_or_close[columns["close"]]
    if isinstance(df_or_close, pd.Series):
        return df_or_close
    return pd.Series(np.asarray(df_or_close, dtype=float))


def buy_and_hold_returns(df_or_close: Any, index: Sequence[Any] | pd.Index | None = None) -> pd.Series:
    """
    Bar returns of buying the first data at its first close and holding it.

    Args:
      df_or_close: an OHLC DataFrame (its ``close`` column, any case), a close Series, or an
        array of closes
      index: timestamps to put on the result (e.g. ``Performance.returns.index``); must have one
        entry per close. ``None`` keeps the input's index.

    Returns:
      ``pd.Series`` named ``"Buy & hold"``: 0 on the first bar, then ``close[t] / close[t-1] - 1``.

    Raises ``ValueError`` on a missing, non-finite or non-positive close (naming the row) or
    an index of the wrong length.
    """
    close = _close_of(df_or_close).astype(float)
    bad = ~np.isfinite(close.to_numpy()) | (close.to_numpy() <= 0.0)
    if bad.any():
        first = int(np.argmax(bad))
        raise ValueError(
            f"buy_and_hold_returns: close at row {first} ({close.index[first]}) is {close.iloc[first]!r}; "
            "closes must be finite and > 0 (drop or fill those rows first)"
        )
    if index is not None:
        if len(index) != len(close):
            raise ValueError(
                f"buy_and_hold_returns: index has {len(index)} entries for {len(close)} closes; "
                "pass one timestamp per close"
            )
        close = pd.Series(close.to_numpy(), index=pd.Index(index))
    returns = close.pct_change(fill_method=None).fillna(0.0)
    returns.iloc[0] = 0.0
    return returns.rename("Buy & hold")


def benchmark_stats(
    returns: pd.Series, periods_per_year: float, riskfree: float = 0.0, asset: str | None = None,
    invested: float = 1.0,
) -> dict[str, Any]:
    """The figures of :class:`~btedge.analyzers.Performance` for any return series, for the
    buy-and-hold column: ``exposure`` 1 (always holding), the span of ``returns``, and the
    ``asset`` held and the ``invested`` fraction of the portfolio (1.0 for a return series of
    the asset itself) that :func:`benchmark_label` shows."""
    stats = performance_stats(returns, periods_per_year, riskfree)
    spacing = _spacing(returns.index)
    stats.update(
        exposure=1.0, periods_per_year=periods_per_year, bars=len(returns),
        first_bar=returns.index[0] if len(returns) else None, last_bar=returns.index[-1] if len(returns) else None,
        timeframe=spacing.timeframe_name if spacing else None, asset=asset, invested=invested,
    )
    return stats


# -- tear sheet and chart --------------------------------------------------------------------
def _spacing(index: pd.Index) -> BarSpacing | None:
    return infer_spacing(index) if pd.Index(index).nunique() >= 3 else None


def _naive(returns: pd.Series) -> pd.Series:
    stamps = pd.DatetimeIndex(returns.index)
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC").tz_localize(None)
    return pd.Series(returns.to_numpy(dtype=float), index=stamps, name=returns.name)


def to_daily(returns: pd.Series, spacing: BarSpacing | None = None) -> pd.Series:
    """Compound bar returns into one return per trading day (indexed by the day), with the
    sessions of :meth:`BarSpacing.session_labels` (``spacing``, default inferred from
    ``returns``): a session that crosses midnight UTC stays one day."""
    naive = _naive(returns)
    spacing = spacing or _spacing(naive.index)
    labels = spacing.session_labels(naive.index) if spacing else naive.index.normalize()
    grouped = (1.0 + naive.fillna(0.0)).groupby(labels).prod() - 1.0
    grouped.index.name = "date"
    return grouped.rename(returns.name)


def _daily_pair(returns: pd.Series, benchmark: pd.Series | None,
                spacing: BarSpacing | None) -> tuple[pd.Series, pd.Series | None]:
    intraday = spacing is not None and spacing.bars_per_session > 1.0
    daily = to_daily(returns, spacing) if intraday else _naive(returns)
    if benchmark is None:
        return daily, None
    bench = to_daily(benchmark, spacing) if intraday else _naive(benchmark)
    missing = daily.index.difference(bench.index)
    if len(missing):
        raise ValueError(
            f"benchmark has no return for {len(missing)} of the strategy's dates (first: {missing[0]}); "
            "build it from the same bars, e.g. buy_and_hold_returns(df, index=returns.index)"
        )
    return daily, bench.reindex(daily.index)


@contextlib.contextmanager
def _quiet_fonts() -> Iterator[None]:
    """quantstats asks matplotlib for Arial and each miss logs a warning, and it (with seaborn)
    raises deprecation warnings of newer pandas and matplotlib, and scipy's invalid-value warnings
    on a flat (no trades) series: hush those, and only those."""
    font_log = logging.getLogger("matplotlib.font_manager")
    level = font_log.level
    font_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"(quantstats|seaborn)(\.|$)")
            warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"scipy\.stats")
            yield
    finally:
        font_log.setLevel(level)


def _days_per_year(spacing: BarSpacing | None, periods_per_year: float | None, days: pd.DatetimeIndex) -> float:
    """Annualisation of the daily series: the table's periods per year over bars per session."""
    if spacing is None:
        return periods_per_year or float(infer_spacing(days).periods_per_year)
    if periods_per_year is None:
        return spacing.sessions_per_year if spacing.bars_per_session > 1.0 else spacing.periods_per_year
    return periods_per_year / spacing.bars_per_session


def _with_start(series: pd.Series) -> pd.Series:
    """The series with a zero return the day before its first: equity 1 before the first return,
    as btedge counts drawdowns (quantstats lists no drawdown that starts on the first day)."""
    start = pd.Series([0.0], index=[series.index[0] - pd.Timedelta(days=1)], name=series.name)
    return pd.concat([start, series])


def _differences(
    table: Mapping[str, Any] | None, daily: pd.Series, days: float, spacing: BarSpacing | None,
    riskfree: float,
) -> list[str]:
    """Sentences on how this sheet's figures relate to the btedge table's."""
    notes = []
    intraday = spacing is not None and spacing.bars_per_session > 1.0
    if intraday:
        notes.append(
            f"quantstats assumes one return per day, so the {spacing.timeframe_name} bars were compounded into "
            f"{len(daily):,} daily returns (one per trading session; sessions crossing midnight UTC stay whole) "
            f"and annualised with {days:,.0f} sessions a year, the table's periods per year over "
            f"{spacing.bars_per_session:,.0f} bars per session."
        )
    else:
        notes.append(f"Annualised with {days:,.0f} periods a year, as the btedge table.")
    if table:
        here = performance_stats(daily, days, riskfree)
        notes.append(
            f"btedge table (per bar): Sharpe {_num(table.get('sharpe'))}, max drawdown "
            f"{_pct(table.get('max_drawdown'))}, exposure {_pct(table.get('exposure'))}. "
            f"This sheet (daily): Sharpe {_num(here['sharpe'])}, max drawdown {_pct(here['max_drawdown'])}. "
            "They differ when bars are intraday: daily returns hide intraday swings (a lower drawdown, a "
            "different Sharpe), and quantstats' 'Time in Market' counts days with a non-zero return while the "
            "table's exposure counts bars that hold a position."
        )
    episodes = drawdown_episodes(daily)
    if len(episodes) and not episodes.at[0, "recovered"]:
        notes.append(
            f"The deepest daily drawdown ({_pct(episodes.at[0, 'depth'])}, from {episodes.at[0, 'start']:%Y-%m-%d}) "
            "has not recovered by the last bar: its end date in the drawdown tables is the last day."
        )
    return notes


def _insert_note(path: Path, notes: Sequence[str]) -> None:
    import html

    text = path.read_text(encoding="utf-8")
    items = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    block = (f'<div id="btedge-note" style="border:1px solid #999;padding:6px 12px;margin:12px 0">'
             f"<strong>btedge:</strong><ul>{items}</ul></div>")
    anchor = text.find("</h1>")
    at = anchor + len("</h1>") if anchor >= 0 else text.find("<body>") + len("<body>")
    path.write_text(text[:at] + block + text[at:], encoding="utf-8")


def _write_short_run(path: Path, title: str, days: int) -> Path:
    """A page in place of the tear sheet when the run spans fewer than two trading days."""
    import html

    log.warning("tear sheet: the run spans %d trading day(s); quantstats needs at least 2, so %s only says so "
                "(the table, PNG and JSON have the figures)", days, path)
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
                    f"<body><h1>{html.escape(title)}</h1><div id='btedge-note'><p>No tear sheet: the run spans "
                    f"{days} trading day(s) and quantstats needs at least 2. The metrics table, the PNG and the "
                    "JSON have the run's figures.</p></div></body></html>", encoding="utf-8")
    return path


def write_tearsheet(
    returns: pd.Series,
    benchmark: pd.Series | None,
    path: str | Path,
    title: str = "btedge backtest",
    riskfree: float = 0.0,
    periods_per_year: float | None = None,
    table: Mapping[str, Any] | None = None,
    trades: Mapping[str, Any] | None = None,
) -> Path:
    """
    Write a quantstats HTML tear sheet of ``returns`` against ``benchmark`` (buy-and-hold), with
    a note at the top that says how its figures relate to the btedge table.

    quantstats assumes one return per day, so intraday returns are compounded into one return
    per trading session first (:func:`to_daily`) and annualised with the table's periods per
    year over bars per session (``periods_per_year``, default inferred: 252 sessions for
    equities and FX, 365 for crypto), so the sheet and the table use the same year. A run whose
    first daily return is a loss gets a zero return the day before (equity 1 before the first
    return, as the table counts drawdowns), so an open drawdown from the first day is listed.
    A run without trades (constant returns) is written without the benchmark comparison, which
    quantstats cannot regress on a constant, and says so; a run shorter than two trading days
    gets a page that says why there is no tear sheet (and a WARNING), never an exception. quantstats' ``match_dates`` is off so
    the whole series is reported, and the benchmark is a Series: nothing is downloaded.

    Args:
      table: the table's figures (``Performance.get_analysis()``), quoted in the note
      trades: ``TradeStats.get_analysis()``: a run with none is labelled "no trades"

    Returns the path written.
    """
    spacing = _spacing(returns.index)
    daily, bench = _daily_pair(returns, benchmark, spacing)
    path = Path(path)
    if len(daily) < 2:
        return _write_short_run(path, title, len(daily))
    days = _days_per_year(spacing, periods_per_year, daily.index)
    notes = _differences(table, daily, days, spacing, riskfree)
    if trades is not None and trades.get("trades") == 0:
        title = f"{title} (no trades)"
        notes.insert(0, "No trades: the strategy never held a position, so its returns are flat.")
    if spacing is not None and spacing.bars_per_session > 1.0:
        title = f"{title} (daily returns compounded from intraday bars)"
    if daily.iloc[0] < 0.0 or (bench is not None and bench.iloc[0] < 0.0):
        daily = _with_start(daily)
        bench = None if bench is None else _with_start(bench)
        notes.append("A zero return was added the day before the first, so a loss on the first day counts as "
                     "a drawdown (as in the table).")
    if bench is not None and not float(np.nanstd(daily.to_numpy())) > 0.0:
        bench = None
        notes.append("Buy & hold is not compared here: quantstats cannot regress on a constant return series; "
                     "the table and the PNG show it.")
    import quantstats as qs

    with _quiet_fonts():
        qs.reports.html(
            daily.rename("Strategy"),
            benchmark=None if bench is None else bench.rename("Buy & hold"),
            rf=riskfree,
            title=title,
            output=str(path),
            periods_per_year=max(1, round(days)),
            match_dates=False,
            strategy_title="Strategy",
            benchmark_title="Buy & hold",
        )
    _insert_note(path, notes)
    log.info("tear sheet written to %s", path)
    return path


#: Point groups per series on the PNG: a few per pixel column of the 1,000-pixel-wide figure.
PLOT_COLUMNS = 2_000


def decimate_extremes(values: np.ndarray, columns: int = PLOT_COLUMNS) -> np.ndarray:
    """
    Positions of the points to draw of ``values``: the first and last, and the lowest and highest
    of each of ``columns`` runs of consecutive points, in order. A line through them covers, in
    every run, the same range as the full line, so at that resolution the chart looks the same
    and every extreme (the deepest drawdown, the highest equity) is drawn exactly. Series of up
    to ``4 * columns`` points are kept whole.
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n <= 4 * columns:
        return np.arange(n)
    width = -(-n // columns)  # ceil: points per run
    padded = np.concatenate([values, np.full(width * columns - n, values[-1])]).reshape(columns, width)
    start = np.arange(columns) * width
    keep = np.concatenate([[0, n - 1], start + padded.argmin(axis=1), start + padded.argmax(axis=1)])
    return np.unique(np.minimum(keep, n - 1))


def _equity_figure(returns: pd.Series, benchmark: pd.Series | None, title: str) -> Any:
    """The Figure of :func:`plot_equity_drawdown`: each curve drawn through
    :func:`decimate_extremes` of its own values."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 6), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    series = {"Strategy": returns}
    if benchmark is not None:
        series["Buy & hold"] = benchmark
    for name, rets in series.items():
        rets = _naive(rets)
        equity = np.cumprod(1.0 + rets.fillna(0.0).to_numpy())
        at = decimate_extremes(equity)
        top.plot(rets.index[at], equity[at], label=name, linewidth=1.0)
        drawdown = -drawdown_series(rets).to_numpy()
        at = decimate_extremes(drawdown)
        bottom.fill_between(rets.index[at], drawdown[at], 0.0, alpha=0.4, label=name)
    top.set_title(title)
    top.set_ylabel("growth of 1")
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    bottom.set_ylabel("drawdown")
    bottom.grid(alpha=0.3)
    return fig


def plot_equity_drawdown(
    returns: pd.Series,
    benchmark: pd.Series | None,
    path: str | Path,
    title: str = "Equity and drawdown",
) -> Path:
    """
    Save a PNG with the growth of 1 for the strategy and the benchmark (top) and their drawdowns
    (bottom), drawn with matplotlib's Agg canvas (no display, no pyplot state). Long series are
    drawn through the lowest and highest point of each of :data:`PLOT_COLUMNS` runs of bars
    (:func:`decimate_extremes`): the same picture, the extremes exact. Returns the path.
    """
    path = Path(path)
    _equity_figure(returns, benchmark, title).savefig(path, dpi=100)
    log.info("equity chart written to %s", path)
    return path
