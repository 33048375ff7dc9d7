"""The backtrader side of the equality tests: fills and value per bar of a cerebro run."""
from __future__ import annotations

from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from btedge.engine import BacktestConfig, build_cerebro


class FillLog(bt.Analyzer):
    """Every completed fill (bar, size, price, commission) and the value at each bar's close."""

    def start(self) -> None:
        self.fills: list[tuple[float, float, float, float]] = []
        self.values: list[float] = []
        self.positions: list[float] = []

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            ex = order.executed
            self.fills.append((len(self.data) - 1, ex.size, ex.price, ex.comm))

    def next(self) -> None:
        self.values.append(self.strategy.broker.getvalue())
        self.positions.append(self.strategy.getposition(self.data).size)


def reference_run(strategy: type, df: pd.DataFrame, params: dict[str, Any], config: BacktestConfig) -> dict[str, Any]:
    """Fills (n, 4), values, positions, and the Performance/TradeStats analyses of a backtrader run."""
    cerebro = build_cerebro(strategy, [("data", df)], params, config)
    cerebro.addanalyzer(FillLog, _name="filllog")
    strat = cerebro.run()[0]
    log = strat.analyzers.filllog
    perf = strat.analyzers.performance
    analysis = dict(perf.get_analysis())
    returns = analysis.pop("returns", None)
    return {
        "fills": np.asarray(log.fills, dtype=float).reshape(-1, 4),
        "value": np.asarray(log.values, dtype=float),
        "position": np.asarray(log.positions, dtype=float),
        "performance": analysis,
        "returns": returns if returns is not None else perf.returns,
        "tradestats": dict(strat.analyzers.tradestats.get_analysis()),
        "skipped_entries": int(getattr(strat, "skipped_entries", 0)),
    }
