"""DualMomentum: weights cross-checked with pandas, XGBoost score walk-forward and deterministic, CLI."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from btedge.engine import BacktestConfig, run_backtest
from btedge.feeds import load_panel
from btedge.models.momentum import momentum_features, outperformance_labels
from btedge.run_backtest import main
from btedge.strategies import get_strategy
from btedge.strategies.momentum import DualMomentum
from tests.support.shared import require_shared

ETFS = ("repos", "daily", "arbitragelab_23etfs_2008-2016.csv.gz")
SYMBOLS = ["SPY", "EFA", "EEM", "TLT", "IEF", "XLE", "XLK", "CSJ"]
BASE = dict(lookback=63, rebalance=21, top=2, cash_proxy="CSJ")
ML = dict(BASE, score="xgboost", train_min=6, retrain_every=3, n_estimators=15, max_depth=2)


@pytest.fixture(scope="module")
def panel() -> list[tuple[str, pd.DataFrame]]:
    frames = load_panel(require_shared(*ETFS), columns=SYMBOLS)
    return [(name, df.loc["2008-01-01":"2011-12-31"]) for name, df in frames.items()]


def _run(frames, **params) -> DualMomentum:
    return run_backtest(DualMomentum, frames, params, BacktestConfig(benchmark=False)).strategy


@pytest.fixture(scope="module", autouse=True)
def default_cache_in_tmp(tmp_path_factory):
    """cache_dir '' means ``.cache/btedge-models`` under the working directory: keep it in a tmp dir."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("cwd"))
        yield


@pytest.fixture(scope="module")
def ml_run(panel) -> DualMomentum:
    return _run(panel, **ML)


def test_registered():
    assert get_strategy("dual_momentum") is DualMomentum


def test_weights_match_pandas_dual_momentum(panel):
    strat = _run(panel, **BASE)
    closes = pd.DataFrame({name: df["close"] for name, df in panel})
    ret = closes / closes.shift(63) - 1.0
    risky = [s for s in SYMBOLS if s != "CSJ"]
    bars = range(63, len(closes), 21)
    assert len(strat.rebalances) == len(bars)
    for got, i in zip(strat.rebalances, bars):
        row = ret.iloc[i]
        picks = row[risky].sort_values(ascending=False, kind="stable").index[:2]
        want: dict[str, float] = {}
        for name in picks:
            holder = name if row[name] > max(0.0, row["CSJ"]) else "CSJ"
            want[holder] = want.get(holder, 0.0) + 0.95 / 2
        assert got == pytest.approx(want), f"bar {i} ({closes.index[i].date()})"
    assert any("CSJ" in w for w in strat.rebalances)  # the absolute filter fires on this period


def test_inverse_vol_weights_sum_to_fraction(panel):
    strat = _run(panel, **BASE, weighting="inverse_vol", fraction=0.9)
    for w in strat.rebalances:
        assert sum(w.values()) == pytest.approx(0.9)
    assert any(len(set(np.round(list(w.values()), 6))) > 1 for w in strat.rebalances)


def test_labels_and_features_are_causal(panel):
    close = panel[0][1]["close"].to_numpy()
    f_full = momentum_features(close[:200], 63)
    f_alt = momentum_features(np.concatenate([close[:200], close[200:] * 3.0])[:200], 63)
    np.testing.assert_array_equal(f_full, f_alt)
    assert f_full[0] == pytest.approx(close[199] / close[199 - 63] - 1.0)
    prices = np.array([[1.0, 1.0, 1.0], [1.1, 0.9, 1.0], [1.2, 0.8, 1.3]])
    labels = outperformance_labels(prices, 1)
    np.testing.assert_array_equal(labels[:2], [[1, 0, 0], [0, 0, 1]])
    assert np.isnan(labels[2]).all()


@pytest.mark.slow
def test_xgboost_score_walk_forward_and_deterministic(panel, ml_run):
    a, b = ml_run, _run(panel, **ML)
    assert a.rebalances == b.rebalances and a.ml.trainings == b.ml.trainings
    assert a.ml.trainings[0][0] == ML["train_min"]
    for k, first, last in a.ml.trainings:
        assert first == 0 and last + ML.get("horizon", 1) < k  # labels known before rebalance k
        assert (k - ML["train_min"]) % ML["retrain_every"] == 0
    plain = _run(panel, **BASE)
    k0 = ML["train_min"]
    assert a.rebalances[:k0] == plain.rebalances[:k0]  # momentum until the first model
    assert a.rebalances[k0:] != plain.rebalances[k0:]  # the model's score is used after it


@pytest.mark.slow
def test_xgboost_no_lookahead(panel, ml_run):
    full = ml_run
    cut = 600
    short = _run([(n, df.iloc[:cut]) for n, df in panel], **ML)
    assert short.rebalances == full.rebalances[: len(short.rebalances)]
    assert short.ml.trainings == full.ml.trainings[: len(short.ml.trainings)]


@pytest.mark.parametrize("params, match", [
    (dict(cash_proxy="NOPE"), "no data named 'NOPE'"), (dict(top=0), "top"),
    (dict(weighting="x"), "weighting"), (dict(score="nn"), "score"), (dict(top=9), "universe"),
    (dict(score="xgboost", train_min=2), "train_min"),
])
def test_bad_params(panel, params, match):
    with pytest.raises(ValueError, match=match):
        _run(panel, **{**BASE, **params})


def test_cli_23etf_panel(tmp_path, capsys):
    out = tmp_path / "m.json"
    rc = main(["--strategy", "dual_momentum", "--data", str(require_shared(*ETFS)), "--from", "2012-01-01",
               "--param", "lookback=126", "--param", "cash_proxy=CSJ", "--json", str(out)])
    assert rc == 0
    got = json.loads(out.read_text())
    assert got["strategy"]["bars"] == got["buy_and_hold"]["bars"] > 1000
    assert got["trades"]["trades"] > 10


@pytest.mark.slow
def test_late_listed_asset_waits_for_its_history(panel):
    """A data starting 300 bars later is not ranked until it has ``lookback`` bars of its own."""
    frames = [(n, df.iloc[300:] if n == "TLT" else df) for n, df in panel]
    strat = _run(frames, **ML)
    start = frames[0][1].index[0]
    tlt_start = dict(frames)["TLT"].index[0]
    closes = dict(panel)["SPY"]["close"]
    for w, i in zip(strat.rebalances, range(63, len(closes), 21)):
        if closes.index[i] < tlt_start + pd.Timedelta(days=63 * 7 // 5):
            assert "TLT" not in w
    assert any("TLT" in w for w in strat.rebalances) and start < tlt_start


@pytest.mark.slow
def test_xgboost_fold_models_cached_as_ubj(panel, ml_run, tmp_path):
    frames = [(n, df.iloc[:500]) for n, df in panel]
    first = _run(frames, **ML, cache_dir=str(tmp_path))
    again = _run(frames, **ML, cache_dir=str(tmp_path))
    assert first.ml.trainings and first.ml.loaded == 0
    assert again.ml.loaded == len(first.ml.trainings)
    assert again.rebalances == first.rebalances == ml_run.rebalances[: len(first.rebalances)]
    assert len(list(tmp_path.glob("*/model.ubj"))) == len(first.ml.trainings)
    assert not list(tmp_path.rglob("*.pkl"))


def test_empty_cache_dir_means_the_default_cache_as_in_the_ml_indicators(panel, tmp_path, monkeypatch):
    from btedge.training.cache import DEFAULT_CACHE_DIR

    monkeypatch.chdir(tmp_path)
    frames = [(n, df.iloc[:400]) for n, df in panel]
    first = _run(frames, **ML)  # cache_dir '' (the default)
    assert first.ml.trainings and len(list((tmp_path / DEFAULT_CACHE_DIR).glob("*/model.ubj"))) == len(
        first.ml.trainings)
    assert _run(frames, **ML).ml.loaded == len(first.ml.trainings)


def test_corrupt_cached_fold_is_one_clear_error(panel, tmp_path):
    frames = [(n, df.iloc[:400]) for n, df in panel]
    _run(frames, **ML, cache_dir=str(tmp_path))
    path = next(tmp_path.glob("*/model.ubj"))
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match=f"{path}: not a readable xgboost UBJ model.*delete the folder"):
        _run(frames, **ML, cache_dir=str(tmp_path))
