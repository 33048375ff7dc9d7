"""ML strategies by name, their gates, engine-mode parity, and the SignalQuality analyzer."""
from __future__ import annotations

import backtrader as bt
import numpy as np
import pytest

from btedge.analyzers import SignalQuality, signal_quality
from btedge.engine import BacktestConfig, build_cerebro
from btedge.strategies import get_strategy, parse_params
from tests.support.btc import btc

TRAIN = 300
SMALL = dict(train_bars=TRAIN, retrain_every=100, seq_len=12, hidden=8, epochs=2, min_samples=50,
             direction="both", integer=False)


def run(name, tmp_path, runonce=True, **params):
    frames = [("BTC", btc(500))]
    cerebro = build_cerebro(get_strategy(name), frames, {**SMALL, "cache_dir": str(tmp_path), **params},
                            BacktestConfig(runonce=runonce, benchmark=False))
    cerebro.addanalyzer(bt.analyzers.Transactions, _name="tx")
    if name != "anomaly_breakout":
        cerebro.addanalyzer(SignalQuality, _name="sq")
    return cerebro.run()[0]


def first_fill_bar(strat) -> int | None:
    stamps = sorted(strat.analyzers.tx.get_analysis())
    if not stamps:
        return None
    index = btc(500).index
    return int(index.get_indexer([stamps[0]], method="nearest")[0])


@pytest.mark.parametrize("name", ["lagnet_forecast", "ensemble", "anomaly_breakout"])
def test_registered_with_walk_forward_params(name):
    cls = get_strategy(name)
    params = parse_params(cls, ["train_bars=1000", "retrain_every=200", "horizon=3", "cache_dir=/tmp/x"])
    assert params == {"train_bars": 1000, "retrain_every": 200, "horizon": 3, "cache_dir": "/tmp/x"}


@pytest.mark.slow
def test_ensemble_trades_only_after_first_fold_and_same_in_both_engine_modes(tmp_path):
    once = run("ensemble", tmp_path, members="cnn,xgb", min_confidence=0.0)
    nxt = run("ensemble", tmp_path, runonce=False, members="cnn,xgb", min_confidence=0.0)
    assert first_fill_bar(once) is not None and first_fill_bar(once) > TRAIN
    assert once.broker.getvalue() == pytest.approx(nxt.broker.getvalue(), rel=1e-12)
    assert sorted(once.analyzers.tx.get_analysis()) == sorted(nxt.analyzers.tx.get_analysis())
    assert once.analyzers.sq.get_analysis() == nxt.analyzers.sq.get_analysis()


@pytest.mark.slow
def test_confidence_gate_blocks_entries(tmp_path):
    assert first_fill_bar(run("ensemble", tmp_path, members="xgb", min_confidence=1.0)) is None


@pytest.mark.slow
def test_lagnet_cost_threshold_and_anomaly_breakout(tmp_path):
    assert first_fill_bar(run("lagnet_forecast", tmp_path, cost=0.01, cost_mult=100.0)) is None
    traded = run("lagnet_forecast", tmp_path, cost=0.0, cost_mult=0.0)
    assert first_fill_bar(traded) > TRAIN
    breakout = run("anomaly_breakout", tmp_path, contamination=0.05, n_estimators=30)
    bar = first_fill_bar(breakout)
    assert bar is not None and bar > TRAIN


@pytest.mark.slow
def test_iforest_gate_only_trades_fewer(tmp_path):
    free = run("ensemble", tmp_path, members="xgb", min_confidence=0.0)
    gated = run("ensemble", tmp_path, members="xgb", min_confidence=0.0, iforest_gate="only")
    assert len(gated.analyzers.tx.get_analysis()) < len(free.analyzers.tx.get_analysis())


def test_signal_quality_by_hand():
    labels = np.array([2, 2, 0, 1, 2, 0, np.nan, np.nan])
    pred = np.array([np.nan, 2, 0, 2, 2, 1, 2, 0])
    q = signal_quality(pred, labels, horizon=2)
    assert q["n_scored"] == 5  # NaN prediction at 0 and unknown labels at 6, 7 are not scored
    assert q["accuracy"] == pytest.approx(3 / 5)
    assert q["confusion"] == [[1, 1, 0], [0, 0, 1], [0, 0, 2]]
    assert q["per_class"]["long"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert q["per_class"]["neutral"] == {"precision": 0.0, "recall": 0.0, "f1": None, "support": 1}
    assert q["majority_class"] == "short" and q["majority_accuracy"] == pytest.approx(2 / 5)  # tie: first class
    # persistence predicts labels[t - 2] at t = 2..5: 2, 2, 0, 1 vs 0, 1, 2, 0
    assert q["persistence_accuracy"] == 0.0


@pytest.mark.slow
def test_analyzer_scores_only_bars_whose_horizon_passed(tmp_path):
    strat = run("ensemble", tmp_path, members="xgb", horizon=5)
    q = strat.analyzers.sq.get_analysis()
    assert q["n_scored"] == 500 - TRAIN - 5
    assert sum(map(sum, q["confusion"])) == q["n_scored"]
    assert 0.0 <= q["accuracy"] <= 1.0 and q["persistence_accuracy"] is not None


def test_invalid_strategy_params(tmp_path):
    with pytest.raises(ValueError, match="iforest_gate must be one of"):
        run("ensemble", tmp_path, iforest_gate="maybe")
    with pytest.raises(ValueError, match="min_confidence"):
        run("ensemble", tmp_path, min_confidence=2.0)
    with pytest.raises(ValueError, match="hold must be >= 1"):
        run("anomaly_breakout", tmp_path, hold=0)


@pytest.mark.slow
@pytest.mark.parametrize("name, extra", [
    ("ensemble", dict(members="cnn,xgb", min_confidence=0.0)),
    ("lagnet_forecast", dict(cost=0.0, cost_mult=0.0)),
    ("anomaly_breakout", dict(contamination=0.05, n_estimators=30)),
])
def test_orders_agree_in_every_mode_and_do_not_look_ahead(name, extra, tmp_path):
    """Order-level: the same orders in runonce, next, streaming and exactbars, and orders before
    bar t unchanged when the bars from t on are removed or altered (folds before t are cached)."""
    from btedge.testkit import assert_orders_agree_and_no_lookahead

    params = {**SMALL, "cache_dir": str(tmp_path), **extra}
    log = assert_orders_agree_and_no_lookahead(get_strategy(name), btc(500), params, cuts=(380, 460))
    assert any(e[4] == "Completed" for e in log), "the strategy should trade after its first fold"


def test_ml_params_are_the_indicators_params():
    from btedge.indicators.anomaly_ml import IsolationForestAnomaly
    from btedge.indicators.ml import EnsembleSignal, LagNet, WalkForwardIndicator
    from btedge.strategies.registry import param_defaults

    shared = dict(WalkForwardIndicator.params._getitems())
    for name, ind in (("ensemble", EnsembleSignal), ("lagnet_forecast", LagNet), ("anomaly_breakout",
                                                                                  IsolationForestAnomaly)):
        defaults = param_defaults(get_strategy(name))
        assert {k: defaults[k] for k in shared} == shared
        assert all(defaults[k] == v for k, v in ind.params._getitems())


def _cerebro(symbol, frame, tmp_path, **params):
    return build_cerebro(get_strategy("ensemble"), [(symbol, frame)],
                         {**SMALL, "members": "xgb", "cache_dir": str(tmp_path), **params},
                         BacktestConfig(benchmark=False))


def test_pretrained_on_another_symbol_refuses(tmp_path):
    _cerebro("BTC", btc(500), tmp_path).run()
    with pytest.raises(ValueError, match="no trained fold for these params on ETH, 1 Minute.*the cache holds folds "
                                         "for these params on BTC, 1 Minute only"):
        _cerebro("ETH", btc(500), tmp_path, pretrained=True).run()


def test_no_fold_can_train_warns_in_next_mode_too(tmp_path, caplog):
    strat = run("ensemble", tmp_path, runonce=False, members="xgb", train_bars=600)
    assert first_fill_bar(strat) is None
    assert "EnsembleSignal: no fold could train: the first fold starts at bar train_bars=600" in caplog.text


@pytest.mark.slow
def test_cli_backtest_with_pretrained_says_which_bars_it_did_not_score(tmp_path):
    """btedge-backtest: a backtest trains the folds; the same run with pretrained=true prints a
    WARNING line that the bars up to the fold's training end are not scored."""
    import subprocess
    import sys

    from btedge.run_backtest import main

    csv = tmp_path / "BTC.csv"
    btc(500).to_csv(csv, index_label="timestamp")
    argv = ["--strategy", "ensemble", "--data", str(csv), "--param", f"cache_dir={tmp_path / 'models'}",
            *[a for k, v in {**SMALL, "members": "xgb"}.items() for a in ("--param", f"{k}={v}")]]
    assert main(argv) == 0
    proc = subprocess.run([sys.executable, "-m", "btedge.run_backtest", *argv, "--param", "pretrained=true"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" in proc.stderr and "400 bars at or before the end of the pinned fold's training data" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_backtest_with_too_little_data_prints_a_warning_line(tmp_path, capsys):
    from btedge.run_backtest import main

    csv = tmp_path / "BTC.csv"
    btc(250).to_csv(csv, index_label="timestamp")
    argv = ["--strategy", "ensemble", "--data", str(csv), "--param", f"cache_dir={tmp_path / 'models'}",
            "--param", "members=xgb", "--train-bars", "300"]
    assert main(argv) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "no fold could train" in line]
    assert len(lines) == 1 and lines[0].startswith("WARNING") and "--train-bars N" in lines[0]


def test_lagnet_lag_is_plotted_on_its_own_axis(tmp_path):
    from btedge.indicators.ml import LagNet, LagNetLag

    strat = run("lagnet_forecast", tmp_path, train_bars=600)  # no fold: the plot wiring is what counts
    assert isinstance(strat.lag_plot, LagNetLag) and strat.lag_plot.plotinfo.subplot
    assert LagNet.plotlines.lag._plotskip and not getattr(LagNet.plotlines.forecast, "_plotskip", False)
    assert strat.lagnet._plotlabel() == ["horizon=5"]
