"""Regime gate: entries only in allowed regimes, exits untouched, every engine mode agrees and
orders before a cut do not move when later bars change."""
from __future__ import annotations

import numpy as np
import pytest

from btedge.indicators.regime import HMMRegime
from btedge.strategies.gates import allowed_regimes, regime_gated
from btedge.strategies.laguerre import LaguerreCross
from btedge.testkit import assert_orders_agree_and_no_lookahead, indicator_lines, order_log
from tests.support.btc import btc

GATE = dict(regime_train_bars=200, regime_retrain_every=100, direction="both")
Gated = regime_gated(LaguerreCross)


def test_gated_strategy_orders_agree_across_modes_and_have_no_lookahead():
    assert_orders_agree_and_no_lookahead(Gated, btc(450), GATE)


@pytest.mark.parametrize("allowed", ["0", "1"])
def test_entries_open_only_in_allowed_regimes(allowed):
    df = btc(450)
    regime = indicator_lines(df, lambda s: HMMRegime(s.data, train_bars=200, retrain_every=100))["regime"]
    bar = {t: i for i, t in enumerate(df.index)}
    gated = order_log(Gated, df, {**GATE, "regime_allowed": allowed})
    plain = order_log(LaguerreCross, df, {"direction": "both"})
    assert len(plain) > len(gated) > 0
    position = 0.0
    entries = 0
    for stamp, _, _, _, status, size, _ in gated:
        if status != "Completed":
            continue
        before, position = position, position + size  # sizes are signed
        if abs(position) > abs(before):  # an entry: decided on the bar before its fill
            assert regime[bar[stamp] - 1] == float(allowed)
            entries += 1
    assert entries


def test_bad_allowed_states_are_one_clear_error():
    assert allowed_regimes("0, 2", 3) == {0, 2}
    for bad in ("", "2", "x"):
        with pytest.raises(ValueError, match="regime_allowed must list states in 0..1"):
            allowed_regimes(bad, 2)


def test_no_entry_before_the_first_regime_fold():
    df = btc(450)
    first = order_log(Gated, df, {**GATE, "regime_allowed": "0,1"})
    assert first and all(np.searchsorted(df.index, e[0]) > 200 for e in first)
