"""ML indicators: NaN before the first fold, runonce == next == stream == exactbars,
no lookahead (truncation and altered future), determinism with a seed."""
from __future__ import annotations

import numpy as np
import pytest

from btedge.indicators.anomaly_ml import IsolationForestAnomaly
from btedge.indicators.ml import EnsembleSignal, LagNet
from btedge.testkit import assert_modes_agree, assert_no_lookahead, indicator_lines
from tests.support.btc import arrays, btc

N, TRAIN, EVERY = 500, 300, 100
SMALL = dict(train_bars=TRAIN, retrain_every=EVERY, seq_len=12, hidden=8, epochs=3, min_samples=50)


def ensemble(cache, members="cnn,tcn,xgb", **kw):
    return lambda s: EnsembleSignal(s.data, members=members, cache_dir=str(cache), **{**SMALL, **kw})


def anomaly(cache, **kw):
    return lambda s: IsolationForestAnomaly(s.data, cache_dir=str(cache), n_estimators=50, **{**SMALL, **kw})


def lagnet(cache, **kw):
    return lambda s: LagNet(s.data, cache_dir=str(cache), max_lag=12, **{**SMALL, **kw})


MAKERS = {"ensemble": ensemble, "anomaly": anomaly, "lagnet": lagnet}


@pytest.mark.slow
@pytest.mark.parametrize("name", MAKERS)
def test_modes_agree_and_no_output_before_first_fold(name, tmp_path):
    lines = assert_modes_agree(btc(N), MAKERS[name](tmp_path))
    for values in lines.values():
        assert np.isnan(values[:TRAIN]).all()
        assert np.isfinite(values[TRAIN:]).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", MAKERS)
def test_no_lookahead(name, tmp_path):
    assert_no_lookahead(btc(N), MAKERS[name](tmp_path), cuts=[350, 420])


@pytest.mark.slow
def test_lstm_members_modes_agree(tmp_path):
    assert_modes_agree(btc(420), ensemble(tmp_path, members="lstm,cnn_lstm"), modes=("runonce", "next"))


@pytest.mark.slow
@pytest.mark.parametrize("name", MAKERS)
def test_deterministic_with_seed_across_fresh_caches(name, tmp_path):
    a = indicator_lines(btc(420), MAKERS[name](tmp_path / "a"))
    b = indicator_lines(btc(420), MAKERS[name](tmp_path / "b"))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_ensemble_lines_are_consistent(tmp_path):
    lines = indicator_lines(btc(420), ensemble(tmp_path, members="xgb,xgb", weights="0.3,0.7"))
    p = np.column_stack([lines["p_short"], lines["p_neutral"], lines["p_long"]])[TRAIN:]
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(lines["confidence"][TRAIN:], p.max(axis=1))
    np.testing.assert_array_equal(lines["signal"][TRAIN:], p.argmax(axis=1) - 1)


def test_anomaly_flags_a_small_share(tmp_path):
    lines = indicator_lines(btc(N), anomaly(tmp_path, contamination=0.05))
    flags = lines["flag"][TRAIN:]
    assert set(np.unique(flags)) <= {0.0, 1.0} and 0.0 < flags.mean() < 0.3


def test_lagnet_lag_within_range(tmp_path):
    lines = indicator_lines(btc(420), lagnet(tmp_path))
    lag = lines["lag"][TRAIN:]
    assert ((lag >= 1.0) & (lag <= 12.0)).all()
    assert np.abs(np.diff(lag)).max() < 11 * 0.2 + 1e-9  # EMA smoothing bounds each step


@pytest.mark.parametrize("make, match", [
    (lambda s: EnsembleSignal(s.data, members="cnn,gru"), "kind must be one of"),
    (lambda s: EnsembleSignal(s.data, members="cnn,xgb", weights="1,2,3"), "weights must be"),
    (lambda s: EnsembleSignal(s.data, members="iforest"), "direction classifiers"),
    (lambda s: EnsembleSignal(s.data, train_bars=20, seq_len=32), "train_bars must be >= the model window"),
    (lambda s: LagNet(s.data, horizon=5, embargo=3), "embargo must be >= horizon"),
    (lambda s: LagNet(s.data, max_lag=64, seq_len=32), "max_lag must be in"),
    (lambda s: IsolationForestAnomaly(s.data, contamination=0.7), "contamination"),
])
def test_param_validation(make, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        indicator_lines(btc(50), make)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ensemble", "lagnet"])
def test_pretrained_scores_only_bars_after_the_folds_training_end(name, tmp_path, caplog):
    """The newest fold (boundary 400) saw bars up to 399: pretrained leaves every bar at or before
    399 NaN, in every mode, says so in a WARNING, and scores the later bars as the backtest did."""
    trained = indicator_lines(btc(N), MAKERS[name](tmp_path))  # trains folds 300 and 400
    live = assert_modes_agree(btc(N), MAKERS[name](tmp_path, pretrained=True), modes=("runonce", "stream"))
    for key, values in live.items():
        assert np.isnan(values[:400]).all(), key
        assert np.isfinite(values[400:]).all(), key
    if name == "ensemble":  # stateless: the newest fold scores the same windows identically
        for key in trained:
            np.testing.assert_allclose(live[key][400:], trained[key][400:], atol=1e-12)
    assert "400 bars at or before the end of the pinned fold's training data" in caplog.text
    assert "never scores the bars it was trained on" in caplog.text


def test_pretrained_on_the_training_bars_only_scores_nothing_and_says_so(tmp_path, caplog):
    indicator_lines(btc(N), ensemble(tmp_path, members="xgb"))
    lines = indicator_lines(btc(N).iloc[:400], ensemble(tmp_path, members="xgb", pretrained=True))
    assert all(np.isnan(v).all() for v in lines.values())
    assert "nothing is scored: run without pretrained" in caplog.text


def test_a_later_shorter_run_does_not_make_pretrained_use_an_older_fold(tmp_path):
    indicator_lines(btc(N), ensemble(tmp_path, members="xgb"))  # folds 300 and 400
    indicator_lines(btc(420), ensemble(tmp_path, members="xgb"))  # fold 300 only: merged, not rewritten
    lines = indicator_lines(btc(N), ensemble(tmp_path, members="xgb", pretrained=True))
    assert np.flatnonzero(np.isfinite(lines["p_long"]))[0] == 400


def test_pretrained_on_other_data_refuses(tmp_path):
    indicator_lines(btc(N), ensemble(tmp_path, members="xgb"))
    other = btc(N + 200).iloc[200:]  # another series (another first bar): no fold fits it
    with pytest.raises(ValueError, match="no trained fold for these params on unnamed data.*the cache holds folds "
                                         "for these params on unnamed data .* only"):
        indicator_lines(other, ensemble(tmp_path, members="xgb", pretrained=True))


def test_pretrained_refuses_a_fold_older_than_max_age(tmp_path):
    indicator_lines(btc(350), ensemble(tmp_path, members="xgb"))  # fold 300: data up to bar 299
    make = ensemble(tmp_path, members="xgb", pretrained=True, max_age_days=0.05)  # 72 minutes
    with pytest.raises(ValueError, match="older than max_age_days=0.05: retrain"):
        indicator_lines(btc(N), make)  # bar 499 is 200 minutes after the fold's data
    lines = indicator_lines(btc(N), ensemble(tmp_path, members="xgb", pretrained=True, max_age_days=1.0))
    assert np.isfinite(lines["p_long"][300:]).all()


def test_pretrained_without_a_backtest_says_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="no trained fold.*run a backtest on this data"):
        indicator_lines(btc(50), ensemble(tmp_path, pretrained=True))


@pytest.mark.parametrize("make, data, match", [
    (lambda c: ensemble(c, members="xgb"), btc(250), "first fold starts at bar train_bars=300 and the data has 250"),
    (lambda c: ensemble(c, members="xgb", min_samples=10_000), btc(N), "had fewer than min_samples=10000"),
    (lambda c: lagnet(c), btc(250), "no fold could train"),
])
def test_no_fold_can_train_is_a_warning(make, data, match, tmp_path, caplog):
    lines = indicator_lines(data, make(tmp_path))
    assert all(np.isnan(v).all() for v in lines.values())
    assert match in caplog.text and "nothing trades" in caplog.text
    assert [r.levelname for r in caplog.records if "no fold could train" in r.message] == ["WARNING"]


@pytest.mark.slow
def test_truncation_at_every_fold_boundary_with_a_fresh_cache(tmp_path):
    """Cuts at b+1 .. b+h after each fold boundary b, each run with its own empty cache: the
    lines up to the cut equal the full run's (a training-window leak shows at b+2)."""
    h = 3
    make = lambda c: ensemble(c, members="cnn,xgb", horizon=h, epochs=4)  # noqa: E731
    full = indicator_lines(btc(N), make(tmp_path / "full"))
    for b in (TRAIN, TRAIN + EVERY):
        for cut in range(b + 1, b + h + 1):
            short = indicator_lines(btc(N).iloc[:cut], make(tmp_path / f"cut{cut}"))
            for key, values in full.items():
                np.testing.assert_allclose(short[key], values[:cut], rtol=0, atol=1e-12, err_msg=f"{key} cut {cut}")
                assert np.isfinite(short[key][b:]).all()


def test_members_get_independent_seeds_and_short_legends(tmp_path):
    from btedge.models.spec import member_seed

    seen = {}

    def make(s):
        seen["ind"] = EnsembleSignal(s.data, members="cnn,cnn,xgb:4", seed=1, cache_dir=str(tmp_path), **SMALL)
        return seen["ind"]

    indicator_lines(btc(50), make)
    ind = seen["ind"]
    assert [w.spec.seed for w in ind.walkers] == [member_seed(1, 0, "cnn", 0), member_seed(1, 1, "cnn", 1),
                                                  member_seed(1, 2, "xgb", 4)]
    assert ind._plotlabel() == ["members=cnn,cnn,xgb:4", "horizon=5"]
    assert str(tmp_path) not in ind.plotlabel()


@pytest.mark.parametrize("name", MAKERS)
def test_detached_compute_is_the_runonce_output(name, tmp_path, caplog):
    """The vector engine's path: a detached indicator on the bars' arrays gives the lines of a
    runonce run bit for bit (its own fresh cache: it trains; the run loads from another), and
    the same end-of-run warning when no fold can train."""
    import logging

    from btedge.feeds.frame import index_to_num
    from btedge.indicators.ml import BarArrays

    df = btc(420)
    bars = BarArrays(tuple(arrays(df)), index_to_num(df.index), "", "1 Minutes")
    kwargs = {"ensemble": dict(members="cnn,xgb"), "anomaly": dict(n_estimators=50), "lagnet": dict(max_lag=12)}[name]
    cls = {"ensemble": EnsembleSignal, "anomaly": IsolationForestAnomaly, "lagnet": LagNet}[name]
    got = cls.detached(bars, cache_dir=str(tmp_path / "vector"), **SMALL, **kwargs).compute()
    want = indicator_lines(df, MAKERS[name](tmp_path / "bt", **({"members": "cnn,xgb"} if name == "ensemble" else {})))
    assert set(got) == set(want) and np.isfinite(got[next(iter(got))][TRAIN:]).all()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    caplog.set_level(logging.WARNING)
    short = BarArrays(tuple(a[:100] for a in bars.ohlcv), bars.times[:100], "BTC", "1 Minutes")
    lines = cls.detached(short, cache_dir=str(tmp_path / "vector"), **SMALL, **kwargs).compute()
    assert all(np.isnan(v).all() for v in lines.values())
    assert sum("no fold could train" in r.message for r in caplog.records) == 1


def test_detached_rejects_unknown_params(tmp_path):
    from btedge.indicators.ml import BarArrays

    bars = BarArrays(tuple(np.ones(10) for _ in range(5)), np.arange(10.0), "X", "1 Days")
    with pytest.raises(ValueError, match=r"unknown param\(s\) \['gama'\] for LagNet"):
        LagNet.detached(bars, gama=0.3)
