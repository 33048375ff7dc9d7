"""Features are causal and prefix-exact; the stream equals the batch; labels need the horizon."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btedge.models.features import FEATURES, FeatureSpec, FeatureStream, build_features, rolling_std
from btedge.models.labels import LabelSpec, forward_return, make_labels
from tests.support.btc import arrays, btc


def test_feature_matrix_truncated_at_t_equals_full_up_to_t():
    a = arrays(btc(800))
    full = build_features(*a)
    assert full.shape == (800, len(FEATURES))
    for t in (1, 70, 333, 799):
        np.testing.assert_array_equal(build_features(*(x[:t] for x in a)), full[:t])


def test_altering_the_future_leaves_past_rows_unchanged():
    a = arrays(btc(400))
    full = build_features(*a)
    b = [x.copy() for x in a]
    for x in b:
        x[200:] = x[200:][::-1] * 1.7
    np.testing.assert_array_equal(build_features(*b)[:200], full[:200])
    assert not np.allclose(build_features(*b)[200:], full[200:], equal_nan=True)


def test_stream_rows_equal_batch_rows_exactly():
    a = arrays(btc(300))
    stream = FeatureStream()
    rows = np.array([stream.update(*bar) for bar in zip(*a)])
    np.testing.assert_array_equal(rows, build_features(*a))


def test_warm_up_is_nan_then_finite():
    full = build_features(*arrays(btc(300)))
    assert np.isnan(full[:60]).any(axis=1).all()
    assert np.isfinite(full[61:]).all()


def test_rolling_std_matches_pandas():
    x = np.log(btc(300)["close"].to_numpy())
    ref = pd.Series(x).rolling(20).std(ddof=0).to_numpy()
    np.testing.assert_allclose(rolling_std(x, 20), ref, rtol=1e-9, equal_nan=True)


def test_feature_spec_rejects_unknown_columns():
    with pytest.raises(ValueError, match="columns must be a non-empty subset"):
        FeatureSpec(columns=("ret0", "magic"))


def test_labels_are_nan_until_horizon_passed_and_truncation_safe():
    df = btc(400)
    h, low, c = (df[k].to_numpy() for k in ("high", "low", "close"))
    for method in ("fixed", "barrier"):
        spec = LabelSpec(horizon=5, method=method)
        lab = make_labels(h, low, c, spec)
        assert np.isnan(lab[-5:]).all() and np.isfinite(lab[60:-5]).all()
        assert set(np.unique(lab[60:-5])) <= {0.0, 1.0, 2.0}
        short = make_labels(h[:300], low[:300], c[:300], spec)
        np.testing.assert_array_equal(short[:295], lab[:295])


def test_fixed_labels_follow_forward_return_and_band():
    c = np.array([100.0, 101, 99, 105, 104, 104])
    fwd = forward_return(c, 1)
    np.testing.assert_allclose(fwd[:-1], c[1:] / c[:-1] - 1)
    spec = LabelSpec(horizon=1, band=0.0, vol_window=2)
    lab = make_labels(c, c, c, spec)
    assert np.isnan(lab[:2]).all() and np.isnan(lab[-1])  # volatility warm-up, unknown future
    np.testing.assert_array_equal(lab[2:-1], [2.0, 0.0, 1.0])


@pytest.mark.parametrize("kw, match", [({"horizon": 0}, "horizon"), ({"band": -1}, "band"), ({"method": "x"}, "method")])
def test_label_spec_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        LabelSpec(**kw)
