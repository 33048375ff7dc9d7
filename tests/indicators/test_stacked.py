"""StackedSignal: the meta-learner over out-of-fold member outputs gives the same lines in every
engine mode (runonce stacks with stack_walk_forward, next() refits per fold) and has no lookahead
at fold boundaries."""
from __future__ import annotations

import numpy as np
import pytest

from btedge.indicators.stacked import StackedSignal
from btedge.testkit import assert_modes_agree, assert_no_lookahead, indicator_lines
from tests.support.btc import btc

SMALL = dict(train_bars=300, retrain_every=100, seq_len=8, hidden=4, epochs=2, min_samples=50, horizon=3,
             meta_min_samples=50)


def stacked(cache, **kw):
    return lambda s: StackedSignal(s.data, members="xgb,kan,online", cache_dir=str(cache), **{**SMALL, **kw})


@pytest.mark.slow
@pytest.mark.parametrize("meta", ["logistic"])  # the forest: tests/models/test_stacking.py
def test_modes_agree_and_no_lookahead(meta, tmp_path):
    lines = assert_modes_agree(btc(600), stacked(tmp_path, meta=meta))
    assert np.isnan(lines["p_long"][:400]).all() and np.isfinite(lines["p_long"][400:]).all()
    p = np.column_stack([lines["p_short"], lines["p_neutral"], lines["p_long"]])[400:]
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    assert_no_lookahead(btc(600), stacked(tmp_path, meta=meta), cuts=[400, 401, 402, 501, 502])


def test_bad_meta_and_pretrained_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="meta must be one of"):
        indicator_lines(btc(50), stacked(tmp_path, meta="stackingclassifier"))
    with pytest.raises(ValueError, match="no pretrained"):
        indicator_lines(btc(50), stacked(tmp_path, pretrained=True))
