"""HMMRegime / MarkovRegime: same lines in every engine mode, no lookahead, calm state first."""
from __future__ import annotations

import numpy as np
import pytest

from btedge.indicators.regime import HMMRegime, MarkovRegime
from btedge.testkit import assert_modes_agree, assert_no_lookahead, indicator_lines
from tests.support.btc import arrays, btc

SMALL = dict(train_bars=200, retrain_every=100)


@pytest.mark.parametrize("cls", [HMMRegime, pytest.param(MarkovRegime, marks=pytest.mark.slow)])
def test_modes_agree_and_no_lookahead(cls):
    make = lambda s: cls(s.data, **SMALL)  # noqa: E731
    lines = assert_modes_agree(btc(450), make)
    assert np.isnan(lines["regime"][:200]).all() and np.isfinite(lines["regime"][200:]).all()
    assert set(np.unique(lines["regime"][200:])) <= {0.0, 1.0}
    np.testing.assert_allclose(lines["p_calm"][200:] + lines["p_volatile"][200:], 1.0)
    assert_no_lookahead(btc(450), make, cuts=[201, 250, 301, 302])


def test_calm_state_has_the_smaller_moves():
    df = btc(600)
    lines = indicator_lines(df, lambda s: HMMRegime(s.data, **SMALL))
    r = np.abs(np.diff(np.log(arrays(df)[3]), prepend=np.nan))
    regime = lines["regime"]
    calm, volatile = r[regime == 0], r[regime == 1]
    assert len(calm) and len(volatile) and np.nanmean(calm) < np.nanmean(volatile)


def test_bad_n_states_is_one_clear_error():
    with pytest.raises(ValueError, match="n_states must be >= 2"):
        indicator_lines(btc(50), lambda s: HMMRegime(s.data, n_states=1))
