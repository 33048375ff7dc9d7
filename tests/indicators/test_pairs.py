"""Pairs indicators: engine-mode parity, no look-ahead, and cross-checks against numpy/statsmodels."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.stattools import coint

from btedge.indicators.pairs import (
    Cointegration,
    HedgeRatio,
    KalmanState,
    Spread,
    ZScore,
    kalman_step,
    rolling_ols,
)
from btedge.testkit import assert_modes_agree, assert_no_lookahead, indicator_lines
from tests.support.shared import require_shared


def _ohlcv(path) -> pd.DataFrame:
    df = pd.read_csv(path, parse_dates=["Date"], index_col="Date")
    df.columns = [c.lower() for c in df.columns]
    return df[["open", "high", "low", "close", "volume"]]


@pytest.fixture(scope="module")
def ko_pep() -> list[pd.DataFrame]:
    ko = _ohlcv(require_shared("repos", "daily", "backtrader_KO_1997-1998.csv"))
    pep = _ohlcv(require_shared("repos", "daily", "backtrader_PEP_1997-1998.csv"))
    common = ko.index.intersection(pep.index)
    return [ko.loc[common], pep.loc[common]]


def test_rolling_beta_matches_polyfit(ko_pep):
    lines = indicator_lines(ko_pep, lambda s: HedgeRatio(s.data0, s.data1, period=30))
    y, x = ko_pep[0]["close"].to_numpy(), ko_pep[1]["close"].to_numpy()
    assert np.isnan(lines["beta"][:29]).all()
    for end in (30, 100, 200, len(y)):
        slope, intercept = np.polyfit(x[end - 30:end], y[end - 30:end], 1)
        assert lines["beta"][end - 1] == pytest.approx(slope, abs=1e-10)
        assert lines["alpha"][end - 1] == pytest.approx(intercept, abs=1e-8)


def test_rolling_ols_matches_statsmodels(ko_pep):
    import statsmodels.api as sm

    y, x = ko_pep[0]["close"].to_numpy(), ko_pep[1]["close"].to_numpy()
    beta, alpha = rolling_ols(x, y, 50)
    fit = sm.OLS(y[150:200], sm.add_constant(x[150:200])).fit()
    assert beta[150] == pytest.approx(fit.params[1], abs=1e-10)
    assert alpha[150] == pytest.approx(fit.params[0], abs=1e-8)


@pytest.mark.parametrize("kw", [dict(period=30), dict(mode="kalman", delta=1e-3, obs_var=1.0)])
def test_hedge_ratio_modes_and_lookahead(ko_pep, kw):
    make = lambda s: HedgeRatio(s.data0, s.data1, **kw)  # noqa: E731
    ref = assert_modes_agree(ko_pep, make)
    assert np.isfinite(ref["beta"][-50:]).all()
    assert_no_lookahead(ko_pep, make, cuts=[60, 200])


def test_kalman_matches_textbook_matrices(ko_pep):
    """The scalar step equals the matrix form of the Kalman recursion."""
    y, x = ko_pep[0]["close"].to_numpy()[:80], ko_pep[1]["close"].to_numpy()[:80]
    delta, ve = 1e-3, 1.0
    vw = delta / (1 - delta) * np.eye(2)
    theta, p = np.zeros(2), np.zeros((2, 2))
    s = KalmanState(0.0, 0.0, 0.0, 0.0, 0.0)
    for xi, yi in zip(x, y):
        r = p + vw
        f = np.array([xi, 1.0])
        q = f @ r @ f + ve
        k = r @ f / q
        theta = theta + k * (yi - f @ theta)
        p = r - np.outer(k, f) @ r
        s = kalman_step(s, xi, yi, delta / (1 - delta), ve)
    assert (s.beta, s.alpha) == pytest.approx(tuple(theta), abs=1e-9)
    assert s.p01 == pytest.approx(p[0, 1], abs=1e-12)


def test_spread_uses_ratio_known_at_t(ko_pep):
    lines = assert_modes_agree(ko_pep, lambda s: Spread(s.data0, s.data1, period=30, lag=1))
    y, x = ko_pep[0]["close"].to_numpy(), ko_pep[1]["close"].to_numpy()
    beta, alpha = rolling_ols(x, y, 30)  # beta[k] is known at bar k + 29
    t = 250
    assert lines["spread"][t] == pytest.approx(y[t] - beta[t - 30] * x[t] - alpha[t - 30], abs=1e-9)
    assert np.isnan(lines["spread"][29]) and np.isfinite(lines["spread"][30])
    assert_no_lookahead(ko_pep, lambda s: Spread(s.data0, s.data1, period=30, lag=1), cuts=[100, 300])


def test_zscore_modes_lookahead_and_pandas(ko_pep):
    make = lambda s: ZScore(s.data0, s.data1, period=15, hedge_period=40)  # noqa: E731
    z = assert_modes_agree(ko_pep, make)["zscore"]
    assert_no_lookahead(ko_pep, make, cuts=[80, 250])
    spread = indicator_lines(ko_pep, lambda s: Spread(s.data0, s.data1, period=40))["spread"]
    roll = pd.Series(spread).rolling(15)
    expected = ((pd.Series(spread) - roll.mean()) / roll.std()).to_numpy()
    assert np.isnan(z[:40 + 15 - 2]).all()
    np.testing.assert_allclose(z, expected, atol=1e-9, equal_nan=True)


def test_cointegration_pvalues_equal_statsmodels(ko_pep):
    make = lambda s: Cointegration(s.data0, s.data1, period=100, retest=25)  # noqa: E731
    lines = assert_modes_agree(ko_pep, make)
    y, x = ko_pep[0]["close"].to_numpy(), ko_pep[1]["close"].to_numpy()
    assert np.isnan(lines["pvalue"][:99]).all()
    for test_bar in (99, 124, 349):
        tstat, pvalue, _ = coint(y[test_bar - 99:test_bar + 1], x[test_bar - 99:test_bar + 1])
        assert abs(lines["pvalue"][test_bar] - pvalue) <= 1e-12
        assert abs(lines["tstat"][test_bar] - tstat) <= 1e-12
    # held between tests, changed at the next one
    assert (lines["pvalue"][99:124] == lines["pvalue"][99]).all()
    assert lines["pvalue"][124] != lines["pvalue"][123]
    assert_no_lookahead(ko_pep, make, cuts=[130, 300])


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda s: HedgeRatio(s.data0, s.data1, period=1), "period"),
        (lambda s: HedgeRatio(s.data0, s.data1, mode="tls"), "mode"),
        (lambda s: HedgeRatio(s.data0, s.data1, delta=1.0), "delta"),
        (lambda s: HedgeRatio(s.data0, s.data1, obs_var=0.0), "obs_var"),
        (lambda s: Spread(s.data0, s.data1, lag=-1), "lag"),
        (lambda s: ZScore(s.data0, s.data1, period=1), "period"),
        (lambda s: Cointegration(s.data0, s.data1, period=10), "period"),
        (lambda s: Cointegration(s.data0, s.data1, retest=0), "retest"),
        (lambda s: Cointegration(s.data0, s.data1, trend="x"), "trend"),
    ],
)
def test_bad_params_raise(ko_pep, make, match):
    with pytest.raises(ValueError, match=match):
        indicator_lines([df.iloc[:50] for df in ko_pep], make)


@pytest.mark.parametrize("mode", ["runonce", "next"])
def test_unaligned_legs_raise(ko_pep, mode):
    with pytest.raises(ValueError, match="align_frames"):
        indicator_lines([ko_pep[0], ko_pep[1].iloc[5:]], lambda s: HedgeRatio(s.data0, s.data1, period=20), mode)
