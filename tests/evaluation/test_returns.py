"""Diebold-Mariano by hand; the online and XGBoost return forecasts are causal."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from btedge.evaluation.returns import diebold_mariano, online_forecasts, xgb_forecasts
from btedge.metrics.signal import forward_open_return
from btedge.models.features import FeatureSpec, build_features
from tests.support.btc import arrays, btc


def test_dm_without_lags_is_a_z_test_of_the_mean_difference():
    rng = np.random.default_rng(2)
    a, b = rng.normal(1.0, 1, 500), rng.normal(1.1, 1, 500)
    d = a - b
    dm = diebold_mariano(a, b, lags=0)
    z = d.mean() / np.sqrt(d.var() / d.size)
    assert dm.stat == pytest.approx(z) and dm.p_value == pytest.approx(2 * sps.norm.sf(abs(z)))
    assert dm.mean_diff < 0


def test_dm_newey_west_widens_for_autocorrelated_losses():
    rng = np.random.default_rng(3)
    d = np.repeat(rng.normal(0.1, 1, 200), 5)  # each value five times: strong autocorrelation
    assert abs(diebold_mariano(d, np.zeros_like(d), lags=5).stat) < abs(diebold_mariano(d, np.zeros_like(d)).stat)


@pytest.mark.slow
def test_forecasts_do_not_change_when_the_future_changes():
    df = btc(900)
    a = arrays(df)
    feats = build_features(*a, spec=FeatureSpec())
    target = forward_open_return(a[0], 1)
    full_on = online_forecasts(feats, target, 1, 400)
    full_x = xgb_forecasts(feats, target, 1, 400, 200)
    cut = 700
    t2 = target.copy()
    t2[cut - 2:] = 0.05  # targets not yet known at bar cut - 1 are changed
    f2 = feats.copy()
    f2[cut:] = 1.0
    assert np.array_equal(online_forecasts(f2, t2, 1, 400)[:cut], full_on[:cut], equal_nan=True)
    assert np.array_equal(xgb_forecasts(f2, t2, 1, 400, 200)[:cut], full_x[:cut], equal_nan=True)
