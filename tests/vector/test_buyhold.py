"""Buy-and-hold in closed form equals a backtrader BuyAndHold run (value, returns, metrics to 1e-9)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from btedge.engine import BacktestConfig, run_backtest
from btedge.strategies import BuyAndHold, LaguerreCross
from btedge.vector.bars import bars_from_frame
from btedge.vector.buyhold import buy_and_hold, hold_values
from tests.vector.files import DAILY, FILES, INTRADAY, file_id, load
from tests.vector.reference import reference_run

pytestmark = pytest.mark.shared

CONFIGS = [
    BacktestConfig(benchmark=False),
    BacktestConfig(benchmark=False, cash=12_345.0, commission=0.002, slippage=0.0),
    BacktestConfig(benchmark=False, cash=1_000.0, commission=0.0, slippage=0.003),
]


def assert_metrics_equal(got: dict, want: dict, tol: float = 1e-9) -> None:
    assert set(got) == set(want)
    for key, value in want.items():
        other = got[key]
        if isinstance(value, float) and not isinstance(other, pd.Timedelta):
            assert (math.isnan(value) and math.isnan(other)) or abs(other - value) <= tol * max(1.0, abs(value)), key
        else:
            assert other == value, key


def check_against_backtrader(df: pd.DataFrame, config: BacktestConfig, integer: bool, fraction: float = 0.95) -> None:
    ref = reference_run(BuyAndHold, df, {"integer": integer, "fraction": fraction}, config)
    value, position = hold_values(bars_from_frame(df), config.cash, fraction, integer, config.commission,
                                  config.slippage)
    np.testing.assert_allclose(value, ref["value"], rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(position, ref["position"])
    if integer or fraction != 0.95:
        return  # the engine's benchmark: fractional units, the default fraction
    metrics, returns = buy_and_hold(df, config)
    want = ref["performance"]
    pd.testing.assert_index_equal(returns.index, ref["returns"].index)
    np.testing.assert_allclose(returns.to_numpy(), ref["returns"].to_numpy(), rtol=0, atol=1e-12)
    assert_metrics_equal(metrics, want)


@pytest.mark.parametrize("entry", DAILY[:3] + INTRADAY[:3], ids=file_id)
def test_closed_form_equals_backtrader_on_file_heads(entry):
    df = load(*entry, stop=1500)
    for config in CONFIGS:
        for integer in (True, False):
            check_against_backtrader(df, config, integer)


@pytest.mark.slow
@pytest.mark.parametrize("entry", FILES, ids=file_id)
def test_closed_form_equals_backtrader_on_whole_files(entry):
    check_against_backtrader(load(*entry), CONFIGS[0], integer=False)


def test_rejected_first_order_is_placed_again():
    """An open gapping above the cash the order was sized for: backtrader rejects the fill
    (Margin) and buys from the next close; the closed form does the same."""
    idx = pd.date_range("2024-01-01", periods=6, freq="D")
    close = np.array([100.0, 130.0, 131.0, 132.0, 133.0, 134.0])
    df = pd.DataFrame({"open": [100.0, 130.0, 131.0, 132.0, 133.0, 134.0], "high": close + 1.0,
                       "low": close - 1.0, "close": close}, index=idx)
    for integer in (True, False):
        check_against_backtrader(df, CONFIGS[0], integer, fraction=1.0)
        value, position = hold_values(bars_from_frame(df), 100_000.0, 1.0, integer, 0.0005, 0.0001)
        assert position[1] == 0.0  # the first fill was rejected


def test_run_backtest_benchmark_is_the_closed_form():
    df = load(*INTRADAY[6], stop=2000)
    config = BacktestConfig(periods_per_year=525_600)
    result = run_backtest(LaguerreCross, [("BTC", df)], {}, config)
    metrics, returns = buy_and_hold(df, config)
    assert_metrics_equal({k: result.benchmark_metrics[k] for k in metrics}, metrics, tol=0.0)
    pd.testing.assert_series_equal(result.benchmark_returns, returns)
