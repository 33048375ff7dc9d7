"""btedge.metrics: performance figures equal quantstats', drawdown episodes, TimeReturn's returns."""
from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd
import pytest
import quantstats as qs

from btedge.metrics import drawdown_episodes, drawdown_series, performance_stats, period_returns, trade_stats
from tests.support.shared import require_shared

REL = 1e-9
pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def sp500() -> pd.Series:
    """Daily S&P 500 returns 1999-2018 (arch's data)."""
    df = pd.read_csv(require_shared("pypi", "daily", "arch_sp500_ohlcv_1999-2018.csv.gz"), index_col=0)
    close = pd.Series(df["Close"].to_numpy(), index=pd.to_datetime(df.index, format="%m/%d/%Y"))
    return close.pct_change().dropna()


def test_metrics_do_not_import_backtrader():
    import subprocess

    code = "import sys, btedge.metrics; print('backtrader' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("riskfree", [0.0, 0.03])
def test_figures_equal_quantstats_on_real_returns(sp500, riskfree):
    returns = sp500.loc["2007":"2012"]
    stats = performance_stats(returns, 252, riskfree)
    assert stats["sharpe"] == pytest.approx(qs.stats.sharpe(returns, rf=riskfree, periods=252), rel=REL)
    assert stats["sortino"] == pytest.approx(qs.stats.sortino(returns, rf=riskfree, periods=252), rel=REL)
    assert stats["volatility"] == pytest.approx(qs.stats.volatility(returns, periods=252), rel=REL)
    assert stats["cagr"] == pytest.approx(qs.stats.cagr(returns, periods=252), rel=REL)
    assert stats["max_drawdown"] == pytest.approx(-qs.stats.max_drawdown(returns), rel=REL)
    assert stats["total_return"] == pytest.approx(qs.stats.comp(returns), rel=REL)


def test_first_period_loss_is_a_drawdown():
    returns = pd.Series([-0.1, 0.05, 0.02], index=pd.bdate_range("2020-01-01", periods=3))
    stats = performance_stats(returns, 252)
    assert stats["max_drawdown"] == pytest.approx(-qs.stats.max_drawdown(returns), rel=REL)
    assert stats["max_drawdown"] == pytest.approx(0.1)
    assert stats["max_drawdown_duration"] == 3


def test_rejects_bad_periods():
    with pytest.raises(ValueError, match="periods_per_year"):
        performance_stats(pd.Series([0.01, 0.02]), 0)


def test_flat_returns_give_nan_ratios():
    stats = performance_stats(pd.Series(0.0, index=pd.bdate_range("2020-01-01", periods=10)), 252)
    assert stats["total_return"] == 0.0 and stats["max_drawdown"] == 0.0
    assert math.isnan(stats["sharpe"]) and math.isnan(stats["calmar"])


def test_drawdown_episodes_list_an_open_drawdown(sp500):
    """From the 2007 peak to the end of 2008 the S&P 500 never recovered: one open episode."""
    returns = sp500.loc["2007-10-10":"2008-12-31"]
    episodes = drawdown_episodes(returns)
    deepest = episodes.iloc[0]
    assert not deepest["recovered"] and deepest["end"] == returns.index[-1]
    assert deepest["depth"] == pytest.approx(drawdown_series(returns).max(), rel=1e-12)
    assert deepest["depth"] == pytest.approx(performance_stats(returns, 252)["max_drawdown"], rel=1e-12)
    assert episodes["recovered"].iloc[1:].all()


def test_period_returns_compound_to_the_value_ratio():
    values = np.array([101.0, 99.0, 103.0, 104.0, 102.0])
    every = period_returns(values, 100.0)
    assert every.tolist() == [101 / 100 - 1, 99 / 101 - 1, 103 / 99 - 1, 104 / 103 - 1, 102 / 104 - 1]
    grouped = period_returns(values, 100.0, np.array([1, 4]))
    assert grouped.tolist() == [99 / 100 - 1, 102 / 99 - 1]


def test_trade_stats_counts_and_streaks():
    stats = trade_stats([5.0, 5.0, 0.0, 5.0, -1.0, -2.0, 0.0, -3.0], [6.0] * 8, [2] * 8)
    assert (stats["trades"], stats["won"], stats["lost"], stats["even"]) == (8, 3, 3, 2)
    assert (stats["longest_win_streak"], stats["longest_loss_streak"]) == (2, 2)
    assert stats["profit_factor"] == pytest.approx(15.0 / 6.0)
    assert stats["commission"] == pytest.approx(48.0 - 9.0)
    empty = trade_stats([], [], [])
    assert empty["win_rate"] is None and empty["profit_factor"] is None and empty["longest_win_streak"] == 0
