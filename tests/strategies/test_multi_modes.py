"""Multi-data strategies: the same orders in runonce, next, streaming and exactbars, and no
order before bar t changes when the bars from t on are removed or altered."""
from __future__ import annotations

import pytest

from btedge.feeds import align_frames, load_csv, load_panel
from btedge.strategies import get_strategy
from btedge.testkit import assert_orders_agree_and_no_lookahead
from tests.support.shared import require_shared


@pytest.mark.parametrize("mode", ["ols", "kalman"])
def test_pairs_every_mode(mode):
    ko = load_csv(require_shared("repos", "daily", "backtrader_KO_1997-1998.csv"))
    pep = load_csv(require_shared("repos", "daily", "backtrader_PEP_1997-1998.csv"))
    frames = [df for _, df in align_frames([("KO", ko), ("PEP", pep)])]
    log = assert_orders_agree_and_no_lookahead(get_strategy("pairs"), frames,
                                               {"mode": mode, "coint_period": 60, "pvalue": 0.5})
    assert sum(e[4] == "Completed" for e in log) >= 8


@pytest.mark.slow
@pytest.mark.parametrize("score", ["momentum", "xgboost"])
def test_dual_momentum_every_mode(score, tmp_path):
    """exactbars=1 used to crash: the scores read ``need`` closes the strategy never declared."""
    panel = load_panel(require_shared("repos", "daily", "arbitragelab_23etfs_2008-2016.csv.gz"))
    names = ["SPY", "EFA", "EEM", "TLT", "IEF", "LQD", "CSJ"]
    frames = [df.iloc[:900] for _, df in align_frames([(n, panel[n]) for n in names])]
    params = {"lookback": 60, "rebalance": 21, "top": 2, "cash_proxy": "data6", "score": score}
    if score == "xgboost":
        params.update(train_min=6, retrain_every=3, n_estimators=20, cache_dir=str(tmp_path))
    log = assert_orders_agree_and_no_lookahead(get_strategy("dual_momentum"), frames, params, cuts=(400, 700))
    assert sum(e[4] == "Completed" for e in log) >= 10
