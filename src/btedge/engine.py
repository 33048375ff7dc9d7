"""One backtest, programmatically: the code path behind ``run_backtest.py``, sweeps and reports.

``run_backtest(StrategyClass, [("BTC", df)], params, BacktestConfig(...))`` builds cerebro with
:class:`btedge.feeds.FrameData` feeds (timeframe inferred from the timestamps), percentage
commission and slippage, the :class:`~btedge.analyzers.Performance` and
:class:`~btedge.analyzers.TradeStats` analyzers, and computes buy-and-hold of the first data with
the same costs, fill rule and sizing as the benchmark (in closed form, :mod:`btedge.vector.buyhold`,
equal to a BuyAndHold run through this engine).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import backtrader as bt
import pandas as pd

from btedge.analyzers.quiet import NoBarWork
from btedge.feeds import FrameData
from btedge.feeds.timestamps import infer_spacing
from btedge.strategies.benchmark import BuyAndHold

Frames = Sequence[tuple[str, pd.DataFrame]]
#: Share of the portfolio the buy-and-hold benchmark invests: BuyAndHold's ``fraction`` param.
BENCHMARK_FRACTION = float(BuyAndHold.params.fraction)


@dataclass(frozen=True)
class BacktestConfig:
    """Run-level settings (strategy settings are the strategy's own params).

    Args:
        cash: starting cash.
        commission: fraction of traded value paid per side (0.0005 = 5 bps).
        slippage: fraction by which fills are moved against the trade, opens included.
        runonce / preload: backtrader engine modes (results must not depend on them).
        periods_per_year: bars per year for annualising; ``None`` infers it from the data.
        benchmark: also run buy-and-hold with the same costs, of the first data or of
            ``benchmark_name`` (e.g. ``"SPY"`` in a panel of ETFs).
    """

    cash: float = 100_000.0
    commission: float = 0.0005
    slippage: float = 0.0001
    runonce: bool = True
    preload: bool = True
    periods_per_year: float | None = None
    benchmark: bool = True
    benchmark_name: str | None = None

    def __post_init__(self) -> None:
        if not self.cash > 0:
            raise ValueError(f"cash must be positive, got {self.cash!r}")
        for name in ("commission", "slippage"):
            value = getattr(self, name)
            if not 0.0 <= value < 0.1:
                raise ValueError(f"{name} is a fraction in [0, 0.1), got {value!r} (5 bps = 0.0005)")


@dataclass
class BacktestResult:
    """What one run produced. ``metrics`` (``Performance.get_analysis()``: figures and the span,
    first and last bar, bars, bar size, periods per year) and ``trades`` (``TradeStats`` plus
    ``skipped_entries``: entries whose size rounded to zero) are scalars; the return series are
    apart. ``benchmark_metrics`` also names the ``asset`` held and the ``invested`` fraction.
    ``strategy._orders`` holds the completed orders only (:class:`CompletedOrdersOnly`)."""

    strategy: bt.Strategy
    metrics: dict[str, Any]
    trades: dict[str, Any]
    returns: pd.Series
    benchmark_metrics: dict[str, Any] = field(default_factory=dict)
    benchmark_returns: pd.Series | None = None
    #: A run without a backtrader strategy (the vector engine) carries its fills (``time``,
    #: ``symbol``, ``size``, ``price``, ``commission``) and the first data's closes here.
    fills: pd.DataFrame | None = None
    closes: pd.Series | None = None


def infer_timeframe(index: pd.DatetimeIndex) -> tuple[int, int]:
    """(backtrader timeframe, compression) of :func:`~btedge.feeds.timestamps.infer_spacing`;
    daily for fewer than three distinct timestamps."""
    if pd.Index(index).nunique() < 3:
        return bt.TimeFrame.Days, 1
    spacing = infer_spacing(index)
    return spacing.timeframe, spacing.compression


def make_feed(name: str, df: pd.DataFrame) -> FrameData:
    """A FrameData feed named ``name`` with its timeframe and compression inferred."""
    timeframe, compression = infer_timeframe(df.index)
    return FrameData(dataname=df, name=name, timeframe=timeframe, compression=compression)


class _CompletedOrders(list):
    """``strategy._orders`` that keeps only completed orders (see :class:`CompletedOrdersOnly`)."""

    def extend(self, orders: Any) -> None:
        super().extend(order for order in orders if order.status == order.Completed)


class CompletedOrdersOnly(NoBarWork):
    """Keeps ``strategy._orders`` to the completed orders. backtrader appends a copy of every order
    there at each notification (submitted, accepted, completed...) and never reads it; btedge reads
    only the completed ones (the dashboard's fills). At a million one-minute bars the other copies
    are about 150 MB. Nothing to do once a bar, nor on an order or a trade."""

    def start(self) -> None:
        self.strategy._orders = _CompletedOrders(self.strategy._orders)

    _notify_order = _notify_trade = NoBarWork._skip


def build_cerebro(
    strategy: type[bt.Strategy], frames: Frames, params: dict[str, Any], config: BacktestConfig
) -> bt.Cerebro:
    """Cerebro with feeds, broker costs, the strategy and btedge's analyzers."""
    from btedge.analyzers import Performance, TradeStats

    if not frames:
        raise ValueError("no data: give at least one (name, DataFrame)")
    cerebro = bt.Cerebro(stdstats=False, runonce=config.runonce, preload=config.preload)
    for name, df in frames:
        cerebro.adddata(make_feed(name, df))
    cerebro.broker.setcash(config.cash)
    cerebro.broker.setcommission(commission=config.commission)
    if config.slippage:
        cerebro.broker.set_slippage_perc(config.slippage, slip_open=True, slip_limit=True, slip_match=True)
    cerebro.addstrategy(strategy, **params)
    cerebro.addanalyzer(Performance, _name="performance", periods_per_year=config.periods_per_year)
    cerebro.addanalyzer(TradeStats, _name="tradestats")
    cerebro.addanalyzer(CompletedOrdersOnly, _name="completed_orders_only")
    return cerebro


def _performance(strat: bt.Strategy) -> tuple[dict[str, Any], pd.Series]:
    analyzer = strat.analyzers.performance
    return dict(analyzer.get_analysis()), analyzer.returns


def _benchmark_frames(frames: Frames, name: str | None) -> Frames:
    if name is None:
        return frames[:1]
    chosen = [(n, df) for n, df in frames if n == name]
    if not chosen:
        raise ValueError(f"benchmark {name!r} is not among the datas: {', '.join(n for n, _ in frames)}")
    return chosen


def run_backtest(
    strategy: type[bt.Strategy],
    frames: Frames,
    params: dict[str, Any] | None = None,
    config: BacktestConfig | None = None,
) -> BacktestResult:
    """Run ``strategy`` over ``frames`` and return its metrics beside buy-and-hold."""
    config = config or BacktestConfig()
    bench_metrics: dict[str, Any] = {}
    bench_returns = None
    if config.benchmark:
        # closed form, equal to a BuyAndHold run through this engine (tests/vector/test_buyhold.py);
        # computed first, so its temporary arrays are freed before cerebro's peak
        from btedge.vector.buyhold import buy_and_hold

        (bench_name, bench_df), = _benchmark_frames(frames, config.benchmark_name)
        bench_metrics, bench_returns = buy_and_hold(bench_df, config, BENCHMARK_FRACTION)
        bench_metrics.update(asset=bench_name, invested=BENCHMARK_FRACTION)
    strat = build_cerebro(strategy, frames, params or {}, config).run()[0]
    metrics, returns = _performance(strat)
    trades = dict(strat.analyzers.tradestats.get_analysis())
    trades["skipped_entries"] = int(getattr(strat, "skipped_entries", 0))
    return BacktestResult(strat, metrics, trades, returns, bench_metrics, bench_returns)
