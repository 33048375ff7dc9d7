"""Reports of a run: a metrics table (rich or plain text), a quantstats HTML tear sheet and an
equity / drawdown PNG, each with a buy-and-hold benchmark.

Typical use after ``cerebro.run()`` with :class:`btedge.analyzers.Performance` and
:class:`btedge.analyzers.TradeStats` added as ``perf`` and ``trades``::

    perf = strat.analyzers.perf.get_analysis()
    trades = strat.analyzers.trades.get_analysis()
    bench = buy_and_hold_returns(df, index=perf["returns"].index)
    bench_perf = benchmark_stats(bench, perf["periods_per_year"])
    rich.print(metrics_table(perf, trades, bench_perf))
    write_tearsheet(perf["returns"], bench, "tearsheet.html", "SMA cross on SPY")
    plot_equity_drawdown(perf["returns"], bench, "equity.png")

Nothing here touches the network: benchmarks are Series, never ticker strings.
"""
from __future__ import annotations

import contextlib
import logging
import math
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from btedge.analyzers.performance import (
    CALENDAR_DAYS,
    TRADING_DAYS,
    drawdown_series,
    performance_stats,
    trades_weekends,
)

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
    ("Periods per year", "periods_per_year", _count),
)

_TRADE_ROWS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("Trades (closed)", "trades", _count),
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
METRICS: tuple[str, ...] = tuple(row[0] for row in _PERF_ROWS + _TRADE_ROWS)


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
    Rows ``(metric, strategy, buy_and_hold)`` of formatted figures.

    Args:
      perf: ``Performance.get_analysis()`` (or :func:`benchmark_stats` of any return series)
      trades: ``TradeStats.get_analysis()``; its rows are left out when ``None``
      benchmark_perf: the same figures for buy-and-hold (:func:`benchmark_stats`); the column
        reads ``-`` when ``None``. Trade rows always read ``-`` in that column.

    Percentages are shown as ``12.34%``, undefined figures as ``n/a``.
    """
    rows = [(label, _cell(perf, key, fmt), _cell(benchmark_perf, key, fmt)) for label, key, fmt in _PERF_ROWS]
    if trades is not None:
        rows += [(label, _cell(trades, key, fmt), "-") for label, key, fmt in _TRADE_ROWS]
    return rows


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
    table.add_column("Buy & hold", justify="right")
    for row in metrics_rows(perf, trades, benchmark_perf):
        table.add_row(*row)
    return table


def format_metrics(
    perf: Mapping[str, Any],
    trades: Mapping[str, Any] | None = None,
    benchmark_perf: Mapping[str, Any] | None = None,
) -> str:
    """:func:`metrics_rows` as a Markdown table (plain text, readable in logs too)."""
    rows = [("Metric", "Strategy", "Buy & hold"), *metrics_rows(perf, trades, benchmark_perf)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:])]
        return "| " + " | ".join([first, *rest]) + " |"

    rule = "|" + "|".join(["-" * (widths[0] + 2), *("-" * (w + 1) + ":" for w in widths[1:])]) + "|"
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])


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
      index: timestamps to put on the result (e.g. ``perf["returns"].index``); must have one
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


def benchmark_stats(returns: pd.Series, periods_per_year: float, riskfree: float = 0.0) -> dict[str, Any]:
    """The figures of :class:`~btedge.analyzers.Performance` for any return series
    (``exposure`` is 1: always invested), for the buy-and-hold column."""
    stats = performance_stats(returns, periods_per_year, riskfree)
    stats.update(exposure=1.0, periods_per_year=periods_per_year, returns=returns)
    return stats


# -- tear sheet and chart --------------------------------------------------------------------
def is_intraday(index: pd.Index) -> bool:
    """True when some date has more than one timestamp."""
    stamps = pd.DatetimeIndex(index)
    return bool(stamps.normalize().duplicated().any())


def to_daily(returns: pd.Series) -> pd.Series:
    """Compound bar returns into one return per calendar date (indexed by the date)."""
    stamps = pd.DatetimeIndex(returns.index)
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC").tz_localize(None)
    grouped = (1.0 + returns.fillna(0.0)).groupby(stamps.normalize()).prod() - 1.0
    grouped.index.name = "date"
    return grouped.rename(returns.name)


def _daily_pair(returns: pd.Series, benchmark: pd.Series | None) -> tuple[pd.Series, pd.Series | None, bool]:
    intraday = is_intraday(returns.index)
    daily = to_daily(returns) if intraday else _naive(returns)
    if benchmark is None:
        return daily, None, intraday
    bench = to_daily(benchmark) if is_intraday(benchmark.index) else _naive(benchmark)
    missing = daily.index.difference(bench.index)
    if len(missing):
        raise ValueError(
            f"benchmark has no return for {len(missing)} of the strategy's dates (first: {missing[0]}); "
            "build it from the same bars, e.g. buy_and_hold_returns(df, index=returns.index)"
        )
    return daily, bench.reindex(daily.index), intraday


def _naive(returns: pd.Series) -> pd.Series:
    stamps = pd.DatetimeIndex(returns.index)
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC").tz_localize(None)
    return pd.Series(returns.to_numpy(dtype=float), index=stamps, name=returns.name)


@contextlib.contextmanager
def _quiet_fonts() -> Iterator[None]:
    """quantstats asks matplotlib for Arial and each miss logs a warning, and it (with seaborn)
    raises deprecation warnings of newer pandas and matplotlib: hush those, and only those."""
    font_log = logging.getLogger("matplotlib.font_manager")
    level = font_log.level
    font_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"(quantstats|seaborn)(\.|$)")
            yield
    finally:
        font_log.setLevel(level)


def write_tearsheet(
    returns: pd.Series,
    benchmark: pd.Series | None,
    path: str | Path,
    title: str = "btedge backtest",
    riskfree: float = 0.0,
) -> Path:
    """
    Write a quantstats HTML tear sheet of ``returns`` against ``benchmark`` (buy-and-hold).

    quantstats assumes one return per day, so intraday returns (more than one per date) are
    compounded into daily returns first (:func:`to_daily`) and the title says so; the figures in
    the tear sheet are then those of the daily series, not the per-bar figures of
    ``Performance``. Days per year are 365 when the data trades at weekends, 252 otherwise.
    quantstats' ``match_dates`` is off so the whole series is reported, and the benchmark is
    passed as a Series on the strategy's dates, so nothing is downloaded.

    Returns the path written.
    """
    daily, bench, intraday = _daily_pair(returns, benchmark)
    if len(daily) < 2:
        raise ValueError(f"write_tearsheet needs returns on at least 2 dates, got {len(daily)}")
    if intraday:
        title = f"{title} (daily returns compounded from intraday bars)"
    days = CALENDAR_DAYS if len(daily) > 2 and trades_weekends(daily.index) else TRADING_DAYS
    path = Path(path)
    import quantstats as qs

    with _quiet_fonts():
        qs.reports.html(
            daily.rename("Strategy"),
            benchmark=None if bench is None else bench.rename("Buy & hold"),
            rf=riskfree,
            title=title,
            output=str(path),
            periods_per_year=int(days),
            match_dates=False,
            strategy_title="Strategy",
            benchmark_title="Buy & hold",
        )
    log.info("tear sheet written to %s", path)
    return path


def plot_equity_drawdown(
    returns: pd.Series,
    benchmark: pd.Series | None,
    path: str | Path,
    title: str = "Equity and drawdown",
) -> Path:
    """
    Save a PNG with the growth of 1 for the strategy and the benchmark (top) and their drawdowns
    (bottom), drawn with matplotlib's Agg canvas (no display, no pyplot state). Returns the path.
    """
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
        top.plot(rets.index, np.cumprod(1.0 + rets.fillna(0.0).to_numpy()), label=name, linewidth=1.0)
        drawdown = -drawdown_series(rets)
        bottom.fill_between(drawdown.index, drawdown.to_numpy(), 0.0, alpha=0.4, label=name)
    top.set_title(title)
    top.set_ylabel("growth of 1")
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    bottom.set_ylabel("drawdown")
    bottom.grid(alpha=0.3)
    path = Path(path)
    fig.savefig(path, dpi=100)
    log.info("equity chart written to %s", path)
    return path
