"""The equality tests' harness: fills and value per bar of a cerebro run (the backtrader side),
the comparison with the vector engine, and the draws of risk params and costs."""
from __future__ import annotations

import math
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from btedge.engine import BacktestConfig, build_cerebro
from btedge.vector import run_vector


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


def uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return round(float(rng.uniform(lo, hi)), 4)


def draw_risk_params(rng: np.random.Generator) -> dict:
    """BaseStrategy's risk params, drawn over their valid ranges."""
    p = {
        "direction": str(rng.choice(["long", "short", "both"])),
        "stop_loss": uniform(rng, 0.002, 0.05) if rng.random() < 0.5 else 0.0,
        "take_profit": uniform(rng, 0.002, 0.08) if rng.random() < 0.5 else 0.0,
        "sizing": str(rng.choice(["fraction", "atr"])),
        "fraction": uniform(rng, 0.2, 1.0),
        "risk": uniform(rng, 0.002, 0.05),
        "atr_period": int(rng.integers(2, 30)),
        "atr_mult": uniform(rng, 0.5, 4.0),
        "anomaly": str(rng.choice(["off", "skip", "only"])),
        "anomaly_period": int(rng.integers(2, 80)),
        "anomaly_k": uniform(rng, 0.0, 3.0),
        "integer": bool(rng.random() < 0.5),
        "reenter": bool(rng.random() < 0.5),
    }
    return p


def draw_config(rng: np.random.Generator) -> BacktestConfig:
    return BacktestConfig(
        benchmark=False,
        cash=float(rng.choice([1_000.0, 100_000.0, 10_000_000.0])),
        commission=float(rng.choice([0.0, 0.0005, 0.002])),
        slippage=float(rng.choice([0.0, 0.0001, 0.001])),
    )


def _close(a: float, b: float, tol: float) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if a is None or b is None or isinstance(a, (str, pd.Timestamp, pd.Timedelta)) or math.isinf(a):
        return a == b
    return abs(a - b) <= tol * max(1.0, abs(b))


def assert_same_run(strategy: type, df: pd.DataFrame, params: dict, config: BacktestConfig, tol: float = 1e-9) -> int:
    """Run both engines; assert equal; return the number of fills compared."""
    return compare_runs(strategy, df, params, config, tol)[0]


def compare_runs(strategy: type, df: pd.DataFrame, params: dict, config: BacktestConfig,
                 tol: float = 1e-9) -> tuple[int, int]:
    """Run both engines; assert equal; return the number of fills and of skipped entries."""
    ref = reference_run(strategy, df, params, config)
    run = run_vector(strategy, [("data", df)], params, config)
    where = f"{strategy.__name__} {params} {config}"
    fills = run.fills[["bar", "size", "price", "commission"]].to_numpy()
    assert fills.shape == ref["fills"].shape, f"{len(fills)} vs {len(ref['fills'])} fills: {where}"
    np.testing.assert_allclose(fills, ref["fills"], rtol=tol, atol=tol, err_msg=where)
    np.testing.assert_allclose(run.value, ref["value"], rtol=tol, atol=tol, err_msg=where)
    np.testing.assert_array_equal(run.position, ref["position"], err_msg=where)
    np.testing.assert_allclose(run.returns.to_numpy(), ref["returns"].to_numpy(), rtol=0, atol=tol, err_msg=where)
    for key, want in ref["performance"].items():
        assert _close(run.metrics[key], want, tol), f"performance {key}: {run.metrics[key]} vs {want}: {where}"
    for key, want in ref["tradestats"].items():
        assert _close(run.trade_stats[key], want, tol), f"tradestats {key}: {run.trade_stats[key]} vs {want}: {where}"
    assert run.trade_stats["skipped_entries"] == ref["skipped_entries"], where
    return len(fills), ref["skipped_entries"]
