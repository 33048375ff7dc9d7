"""The contract for the ML strategies: the vector engine's fills and equity equal backtrader's.

``lagnet_forecast``, ``ensemble`` and ``anomaly_breakout`` declare ``vector_signals`` from their
walk-forward indicators' own batch output (a detached indicator: the same fold cache, schedule,
``pretrained`` and warnings as ``once()``). Small, fast models (xgboost or small nets, a few
epochs, short folds) on slices of real files from ../shared, daily and intraday, with
BaseStrategy's risk params, the strategy's gates and the walk-forward params drawn at random
(fixed seed); compared to 1e-9 as ``test_equality.py`` compares (fills, value and position per
bar, returns, Performance, TradeStats, ``skipped_entries``).
"""
from __future__ import annotations

import logging

import numpy as np
import pytest

from btedge.engine import BacktestConfig
from btedge.strategies import get_strategy
from btedge.vector import run_vector
from tests.vector.files import FILES, GAPPED, file_id, load
from tests.vector.reference import compare_runs, draw_config, draw_risk_params, uniform

pytestmark = pytest.mark.shared

STRATEGIES = ("ensemble", "lagnet_forecast", "anomaly_breakout")
#: (file, slice start): 3 daily and 4 intraday files, and close-only ESC with gaps.
SLICES = [(FILES[0], 1500), (FILES[5], 300), (FILES[12], 2000), (FILES[13], 9000), (FILES[18], 0),
          (FILES[19], 4000), (FILES[7], 3000), (GAPPED[0], 0)]


def draw_ml_params(rng: np.random.Generator, name: str) -> dict:
    """Walk-forward params small enough to train in a second or two, and each strategy's own."""
    p = {
        **draw_risk_params(rng),
        "train_bars": int(rng.integers(160, 240)), "retrain_every": int(rng.integers(60, 140)),
        "window": str(rng.choice(["expanding", "sliding"])), "horizon": int(rng.integers(1, 6)),
        "embargo": int(rng.choice([0, 0, 8])), "seed": int(rng.integers(0, 1000)),
        "seq_len": int(rng.integers(6, 13)), "hidden": int(rng.choice([4, 8])), "epochs": int(rng.integers(1, 4)),
        "min_samples": int(rng.integers(30, 80)), "max_samples": int(rng.choice([0, 0, 120])),
        "gamma": uniform(rng, 0.1, 0.9),
    }
    if name == "ensemble":
        p.update(members=str(rng.choice(["xgb", "xgb", "xgb,xgb", "cnn,xgb"])),
                 weights=str(rng.choice(["learned", "equal"])), band=uniform(rng, 0.1, 1.0),
                 labels=str(rng.choice(["fixed", "barrier"])), min_confidence=uniform(rng, 0.0, 0.6),
                 iforest_gate=str(rng.choice(["off", "skip", "only"])), contamination=uniform(rng, 0.02, 0.2))
        if p["members"] == "xgb,xgb" and p["weights"] != "learned":
            p["weights"] = "1,2"
    elif name == "lagnet_forecast":
        p.update(max_lag=int(rng.choice([0, 2, 4])), smoothing=uniform(rng, 0.05, 1.0),
                 cost=uniform(rng, 0.0, 0.002), cost_mult=uniform(rng, 0.0, 2.0), hidden=4, epochs=1)
    else:
        p.update(contamination=uniform(rng, 0.02, 0.2), n_estimators=int(rng.integers(10, 40)),
                 hold=int(rng.integers(1, 15)))
    return p


def _cases(seed: int, count: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(count):
        name = STRATEGIES[k % len(STRATEGIES)]
        entry, start = SLICES[k % len(SLICES)]
        cases.append((name, entry, start, int(rng.integers(380, 480)), draw_ml_params(rng, name), draw_config(rng)))
    return cases


def _frame(entry, start: int, length: int):
    return load(*entry, start=start, stop=start + length)


def _check(case, tmp_path) -> tuple[int, int]:
    name, entry, start, length, params, config = case
    return compare_runs(get_strategy(name), _frame(entry, start, length), {**params, "cache_dir": str(tmp_path)},
                        config)


@pytest.mark.parametrize("case", _cases(seed=13, count=9), ids=lambda c: f"{c[0]}-{file_id(c[1])}")
def test_ml_vector_equals_backtrader(case, tmp_path):
    _check(case, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("case", _cases(seed=2026, count=24), ids=lambda c: f"{c[0]}-{file_id(c[1])}")
def test_ml_vector_equals_backtrader_more_draws(case, tmp_path):
    _check(case, tmp_path)


SMALL = dict(train_bars=200, retrain_every=100, seq_len=8, hidden=4, epochs=2, min_samples=40, integer=False)


@pytest.mark.parametrize("name, params", [
    ("ensemble", {"members": "xgb", "min_confidence": 0.0, "direction": "both"}),
    ("ensemble", {"members": "xgb", "min_confidence": 0.0, "iforest_gate": "only", "contamination": 0.2,
                  "direction": "both", "stop_loss": 0.003, "take_profit": 0.004}),
    ("lagnet_forecast", {"cost": 0.0, "cost_mult": 0.0, "direction": "short", "sizing": "atr"}),
    ("anomaly_breakout", {"contamination": 0.1, "n_estimators": 20, "hold": 5, "direction": "both",
                          "anomaly": "skip", "anomaly_period": 20, "anomaly_k": 1.0, "stop_loss": 0.002}),
], ids=["ensemble", "ensemble-iforest-brackets", "lagnet-short-atr", "breakout-gate-stop"])
def test_ml_cases_make_trades(name, params, tmp_path, caplog):
    """Cases that trade on BTC minutes (so the equality above is not vacuous); the vector run
    trains its own folds (a fresh cache), backtrader loads them."""
    df = load(*FILES[18], start=2000, stop=2450)
    config = BacktestConfig(benchmark=False, commission=0.0, slippage=0.0)
    full = {**SMALL, **params, "cache_dir": str(tmp_path)}
    caplog.set_level(logging.INFO, logger="btedge.training.walkforward")
    run_vector(get_strategy(name), [("data", df)], full, config)
    assert any(r.message.startswith("training") for r in caplog.records)  # the vector run trained
    caplog.clear()
    fills, _ = compare_runs(get_strategy(name), df, full, config)
    assert fills > 4
    assert not any(r.message.startswith("training") for r in caplog.records)  # both engines loaded


def test_strategy_only_params_reuse_the_fold_models(tmp_path, caplog):
    """A second run with other gates, brackets and sizing loads every fold (no training)."""
    df = load(*FILES[13], start=5000, stop=5400)
    base = {**SMALL, "members": "xgb", "cache_dir": str(tmp_path)}
    caplog.set_level(logging.INFO, logger="btedge.training.walkforward")
    run_vector(get_strategy("ensemble"), [("BTC", df)], base)
    assert sum(r.message.startswith("training") for r in caplog.records) == 2  # folds at 200 and 300
    caplog.clear()
    other = {**base, "min_confidence": 0.6, "stop_loss": 0.01, "direction": "both", "sizing": "atr"}
    run_vector(get_strategy("ensemble"), [("BTC", df)], other)
    assert not any(r.message.startswith("training") for r in caplog.records)


def test_pretrained_scores_only_later_bars_in_both_engines(tmp_path, caplog):
    """A backtest on the first 400 bars records its folds; pretrained on 500 bars scores only the
    bars after the newest fold's training data, warns about the others, and trades the same."""
    frame = load(*FILES[12], start=1000, stop=1500)
    params = {**SMALL, "members": "xgb", "min_confidence": 0.0, "direction": "both", "cache_dir": str(tmp_path),
              "max_age_days": 0}
    run_vector(get_strategy("ensemble"), [("data", frame.iloc[:400])], params)
    caplog.set_level(logging.WARNING)
    fills, _ = compare_runs(get_strategy("ensemble"), frame, {**params, "pretrained": True}, BacktestConfig(benchmark=False))
    assert fills > 0
    unscored = [r.message for r in caplog.records if "pretrained" in r.message and "not scored" in r.message]
    assert len(unscored) == 2 and unscored[0] == unscored[1]  # backtrader's and the vector engine's


def test_warnings_of_the_backtrader_run_on_the_vector_path(tmp_path, caplog):
    """No fold can train (too few bars) and a cost that is not the run's round trip: the same
    WARNING lines as backtrader logs, once each."""
    df = load(*FILES[18], stop=150)
    caplog.set_level(logging.WARNING)
    run = run_vector(get_strategy("lagnet_forecast"), [("BTC", df)], {**SMALL, "cache_dir": str(tmp_path)},
                     BacktestConfig(benchmark=False, commission=0.001, slippage=0.0))
    assert len(run.fills) == 0
    messages = [r.message for r in caplog.records]
    assert sum("no fold could train" in m for m in messages) == 1
    assert sum("round trip cost 0.002" in m for m in messages) == 1


@pytest.mark.parametrize("name, params, message", [
    ("ensemble", {"min_confidence": 1.5}, "min_confidence must be in"),
    ("ensemble", {"iforest_gate": "maybe"}, "iforest_gate must be one of"),
    ("ensemble", {"members": "lagnet"}, "members must be direction classifiers"),
    ("lagnet_forecast", {"cost": -1.0}, "cost and cost_mult must be >= 0"),
    ("anomaly_breakout", {"hold": 0}, "hold must be >= 1"),
    ("anomaly_breakout", {"window": "rolling"}, "window"),
    ("ensemble", {"train_bars": 20}, "train_bars must be >= the model window"),
])
def test_bad_ml_params_raise_as_in_backtrader(name, params, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        run_vector(get_strategy(name), [("BTC", load(*FILES[18], stop=100))], {**params, "cache_dir": str(tmp_path)})


def test_cli_engine_vector_runs_the_ensemble(tmp_path, caplog):
    """``btedge-backtest --engine vector --strategy ensemble``: the vector engine (no fallback
    line), the same figures as ``--engine backtrader``."""
    import json

    from btedge.run_backtest import main

    csv = tmp_path / "btc.csv"
    load(*FILES[18], start=3000, stop=3400).to_csv(csv, index_label="timestamp")
    params = ["members=xgb", "min_confidence=0.0", "train_bars=200", "retrain_every=100", "min_samples=40",
              "integer=False", "direction=both", f"cache_dir={tmp_path / 'models'}"]
    outputs = {}
    caplog.set_level(logging.WARNING, logger="btedge.vector.engine")
    for engine in ("backtrader", "vector"):
        out = tmp_path / f"{engine}.json"
        args = ["--strategy", "ensemble", "--data", str(csv), "--engine", engine, "--json", str(out)]
        assert main(args + [a for p in params for a in ("--param", p)]) == 0
        outputs[engine] = json.loads(out.read_text())
    assert not any("not the vector engine" in r.message for r in caplog.records)
    assert outputs["vector"]["trades"]["trades"] > 3
    for part in ("strategy", "trades", "buy_and_hold"):
        want, got = outputs["backtrader"][part], outputs["vector"][part]
        assert set(got) == set(want)
        for key in want:
            a, b = got[key], want[key]
            assert a == b or (isinstance(a, float) and abs(a - b) <= 1e-9 * max(1.0, abs(b))), (part, key, a, b)


def test_one_window_computes_each_model_once(tmp_path, monkeypatch):
    """On one set of bars (a sweep's window) the indicator's batch is computed once per model
    params, whatever the strategy-only params; other model params compute it again."""
    from btedge.indicators.ml import EnsembleSignal
    from btedge.vector.engine import frame_bars, signals_for, strategy_params

    made = []
    original = EnsembleSignal.detached.__func__
    monkeypatch.setattr(EnsembleSignal, "detached",
                        classmethod(lambda cls, bars, **kw: made.append(kw["horizon"]) or original(cls, bars, **kw)))
    bars = frame_bars("BTC", load(*FILES[13], start=5000, stop=5400))
    cls = get_strategy("ensemble")
    base = {**SMALL, "members": "xgb", "cache_dir": str(tmp_path)}
    sides = [signals_for(cls, bars, strategy_params(cls, {**base, **extra})).side
             for extra in ({}, {"min_confidence": 0.6}, {"stop_loss": 0.01, "direction": "both"}, {"horizon": 3})]
    assert made == [5, 3]
    np.testing.assert_array_equal(sides[0], sides[1])


def test_a_frame_without_volume_reads_as_the_feed_reads_it(tmp_path):
    """FrameData reads a missing volume column as 0; the vector engine's indicators see the same."""
    df = load(*FILES[12], start=3000, stop=3400).drop(columns=["volume"])
    params = {**SMALL, "members": "xgb", "min_confidence": 0.0, "direction": "both", "cache_dir": str(tmp_path)}
    fills, _ = compare_runs(get_strategy("ensemble"), df, params, BacktestConfig(benchmark=False))
    assert fills > 0


def test_sweep_runs_the_ensemble_in_the_vector_engine_and_agrees(tmp_path, caplog):
    """``btedge-sweep`` with an ML strategy: the vector engine (no fallback), its best runs
    re-run in backtrader agree; the strategy-only params share the window's models."""
    from btedge.sweeps.runner import run_sweep

    frames = [("BTC", load(*FILES[18], start=6000, stop=6400))]
    fixed = {**SMALL, "members": "xgb", "direction": "both", "cache_dir": str(tmp_path)}
    caplog.set_level(logging.INFO)
    result = run_sweep("ensemble", frames, {"min_confidence": [0.0, 0.45], "stop_loss": [0.0, 0.003]},
                       fixed=fixed, engine="vector", verify_top=2, lookbacks=(None,), n_offsets=1, seed=1)
    assert result.settings["engine"] == "vector" and len(result.runs) == 4 * 2  # 4 param sets, 2 windows
    assert result.runs["n_trades"].max() > 0
    checks = result.settings["verified"]
    assert len(checks) == 2 and all(c["agree"] for c in checks)
    assert not any("not the vector engine" in r.message for r in caplog.records)
    # each window's 2 folds trained once for its 4 param sets (the backtrader re-runs load them)
    assert sum(r.message.startswith("training") for r in caplog.records) == 2 * 2
