"""The contract: the vector engine's fills and equity equal backtrader's, for every supported
strategy, with params drawn at random (fixed seed) on slices of real files from ../shared.

Compared to 1e-9: every fill (bar, signed size, price, commission), the value at every bar's
close, the position, the Performance figures and return series, and the TradeStats figures.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from btedge.engine import BacktestConfig
from btedge.strategies import get_strategy
from btedge.vector import run_vector
from tests.vector.files import FILES, GAPPED, file_id, load
from tests.vector.reference import reference_run

pytestmark = pytest.mark.shared

STRATEGIES = ("laguerre_cross", "laguerre_trend", "laguerre_channel", "buy_and_hold")


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return round(float(rng.uniform(lo, hi)), 4)


def draw_params(rng: np.random.Generator, name: str) -> dict:
    """BaseStrategy's risk params and the strategy's own, drawn over their valid ranges."""
    p = {
        "direction": str(rng.choice(["long", "short", "both"])),
        "stop_loss": _u(rng, 0.002, 0.05) if rng.random() < 0.5 else 0.0,
        "take_profit": _u(rng, 0.002, 0.08) if rng.random() < 0.5 else 0.0,
        "sizing": str(rng.choice(["fraction", "atr"])),
        "fraction": _u(rng, 0.2, 1.0),
        "risk": _u(rng, 0.002, 0.05),
        "atr_period": int(rng.integers(2, 30)),
        "atr_mult": _u(rng, 0.5, 4.0),
        "anomaly": str(rng.choice(["off", "skip", "only"])),
        "anomaly_period": int(rng.integers(2, 80)),
        "anomaly_k": _u(rng, 0.0, 3.0),
        "integer": bool(rng.random() < 0.5),
        "reenter": bool(rng.random() < 0.5),
    }
    if name == "laguerre_cross":
        fast = _u(rng, 0.0, 0.7)
        p.update(gamma_fast=fast, gamma_slow=_u(rng, fast + 0.01, 0.95), seed=bool(rng.random() < 0.8))
    elif name == "laguerre_trend":
        p.update(gamma=_u(rng, 0.0, 0.95), band=_u(rng, 0.0, 0.01) if rng.random() < 0.5 else 0.0,
                 seed=bool(rng.random() < 0.8))
    elif name == "laguerre_channel":
        p.update(gamma=_u(rng, 0.0, 0.95), period=int(rng.integers(2, 40)), devfactor=_u(rng, 0.0, 3.0),
                 seed=bool(rng.random() < 0.8))
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


def _cases(seed: int, count: int, bars: tuple[int, int]) -> list[tuple]:
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(count):
        entry = FILES[k % len(FILES)]
        name = STRATEGIES[k % len(STRATEGIES)] if k < 2 * len(STRATEGIES) else str(rng.choice(STRATEGIES))
        cases.append((entry, name, int(rng.integers(*bars)), int(rng.integers(0, 10_000)),
                      draw_params(rng, name), draw_config(rng)))
    return cases


def _run_case(entry, name, length, start, params, config) -> int:
    full = load(*entry)
    start = start % max(1, len(full) - length) if len(full) > length else 0
    df = full.iloc[start:start + length]
    return assert_same_run(get_strategy(name), df, params, config)


@pytest.mark.parametrize("case", _cases(seed=13, count=24, bars=(150, 500)),
                         ids=lambda c: f"{c[1]}-{file_id(c[0])}")
def test_vector_equals_backtrader(case):
    _run_case(*case)


@pytest.mark.slow
@pytest.mark.parametrize("case", _cases(seed=2026, count=72, bars=(300, 1500)),
                         ids=lambda c: f"{c[1]}-{file_id(c[0])}")
def test_vector_equals_backtrader_more_draws(case):
    _run_case(*case)


@pytest.mark.parametrize("name", STRATEGIES)
def test_trading_cases_make_trades(name):
    """The defaults on BTC minutes trade (so equality above is not vacuous)."""
    df = load(*FILES[18], stop=2000)
    assert assert_same_run(get_strategy(name), df, {"integer": False}, BacktestConfig(benchmark=False)) > 0


@pytest.mark.parametrize("fraction, slippage, direction", [(1.0, 0.0001, "long"), (0.9995, 0.001, "long")])
def test_cash_rejections_match(fraction, slippage, direction):
    """Orders the cash cannot pay: rejected at submission (fraction 1 plus commission) or at the
    fill (an open above the sizing close): both engines reject the same orders."""
    df = load(*FILES[18], stop=1200)
    config = BacktestConfig(benchmark=False, slippage=slippage)
    params = {"integer": False, "fraction": fraction, "direction": direction}
    fills = assert_same_run(get_strategy("laguerre_cross"), df, params, config)
    signals = assert_same_run(get_strategy("laguerre_cross"), df, {**params, "fraction": 0.5}, config)
    assert fills < signals  # some entries were rejected


@pytest.mark.parametrize("name, entry, stop, params, config", [
    ("laguerre_trend", GAPPED[0], None, {"direction": "both", "stop_loss": 0.03, "take_profit": 0.05}, {}),
    ("laguerre_cross", GAPPED[0], None, {"direction": "both", "fraction": 0.99}, {"commission": 0.002}),
    ("laguerre_cross", FILES[18], 1200, {"direction": "both", "fraction": 0.9995, "integer": False,
                                         "stop_loss": 0.002, "take_profit": 0.003}, {"slippage": 0.001}),
], ids=["esc-brackets", "esc-whole-units", "btc-brackets"])
def test_entries_refused_for_cash_are_counted_alike(name, entry, stop, params, config):
    """Entries the broker refuses for cash (at a gapped open, or with fraction near 1 and costs),
    long and short, with and without brackets: the same fills and the same ``skipped_entries``
    (counted once per signal, however many bars the entry is retried)."""
    df = load(*entry, stop=stop)
    fills, skipped = compare_runs(get_strategy(name), df, params, BacktestConfig(benchmark=False, **config))
    assert fills > 20 and skipped > 0
