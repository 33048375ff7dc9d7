"""SignalQuality: balanced accuracy, log-loss against the causal prior and the IC, in the analyzer."""
from __future__ import annotations

import backtrader as bt
import numpy as np
import pytest

from btedge.analyzers import SignalQuality, signal_quality
from btedge.engine import make_feed
from btedge.metrics import signal as sig
from btedge.models.labels import LabelSpec, make_labels
from tests.support.btc import arrays, btc

N = 400


def test_signal_quality_adds_balanced_accuracy_log_loss_gain_and_ic():
    rng = np.random.default_rng(3)
    labels = rng.choice(3, size=300).astype(float)
    labels[-5:] = np.nan
    pred = np.where(rng.random(300) < 0.5, labels, rng.choice(3, size=300))
    proba = np.full((300, 3), 0.2)
    proba[np.arange(300), np.nan_to_num(pred).astype(int)] = 0.6
    realised = rng.normal(size=300) + (pred - 1)
    q = signal_quality(pred, labels, 5, proba, pred - 1, realised)
    ok = np.isfinite(labels)
    assert q["balanced_accuracy"] == pytest.approx(sig.balanced_accuracy(labels[ok], pred[ok]))
    prior_ll = sig.log_loss(labels[ok], sig.causal_prior(labels, 5)[ok])
    assert q["prior_log_loss"] == pytest.approx(prior_ll)
    assert q["log_loss_gain"] == pytest.approx(prior_ll - sig.log_loss(labels[ok], proba[ok])) and q["log_loss_gain"] > 0
    assert q["ic"] == pytest.approx(sig.information_coefficient(pred[ok] - 1, realised[ok])) and q["ic"] > 0.3


def test_without_probabilities_the_probability_scores_are_none():
    q = signal_quality(np.array([0.0, 1, 2, 2]), np.array([0.0, 1, 1, 2]), 1)
    assert q["balanced_accuracy"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert q["log_loss"] is None and q["log_loss_gain"] is None and q["ic"] is None


class _Probe(bt.Strategy):
    """Calls the sign of the last 3-bar move (no probabilities)."""

    def __init__(self) -> None:
        move = self.data.close - self.data.close(-3)
        self.ml_signal = bt.ind.If(move > 0, 1.0, bt.ind.If(move < 0, -1.0, 0.0))


def test_analyzer_matches_the_metrics_on_the_same_bars():
    df = btc(N)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed("BTC", df))
    cerebro.addstrategy(_Probe)
    cerebro.addanalyzer(SignalQuality, _name="sq", horizon=5, band=0.5, labels="fixed")
    strat = cerebro.run()[0]
    sq = strat.analyzers.sq.get_analysis()
    o, h, low, c, _ = arrays(df)
    labels = make_labels(h, low, c, LabelSpec(5, 0.5, "fixed"))
    move = np.full(N, np.nan)
    move[3:] = c[3:] - c[:-3]
    side = np.sign(move)
    ok = np.isfinite(side) & np.isfinite(labels)
    assert sq["n_scored"] == ok.sum()
    assert sq["balanced_accuracy"] == pytest.approx(sig.balanced_accuracy(labels[ok], side[ok] + 1))
    assert sq["log_loss"] is None  # the probe has no ensemble: no probabilities unless passed
    realised = sig.forward_open_return(o, 5)
    both = ok & np.isfinite(realised)  # the last labelled bar has no next-open return yet
    assert sq["ic"] == pytest.approx(sig.information_coefficient(side[both], realised[both]))


class _ProbIndicator(bt.Indicator):
    """The probe's call with probabilities leaning on it, named like EnsembleSignal's lines."""

    lines = ("p_short", "p_neutral", "p_long", "signal")

    def __init__(self) -> None:
        move = self.data.close - self.data.close(-3)
        self.lines.signal = bt.ind.If(move > 0, 1.0, bt.ind.If(move < 0, -1.0, 0.0))
        self.lines.p_long = 0.4 + 0.1 * self.lines.signal
        self.lines.p_short = 0.4 - 0.1 * self.lines.signal
        self.lines.p_neutral = 0.2 + 0.0 * self.lines.signal


class _ProbeWithLines(bt.Strategy):
    def __init__(self) -> None:
        self.ensemble = _ProbIndicator(self.data)
        self.ml_signal = self.ensemble.signal


def test_analyzer_log_loss_of_ensemble_lines_against_causal_prior():
    df = btc(N)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed("BTC", df))
    cerebro.addstrategy(_ProbeWithLines)
    cerebro.addanalyzer(SignalQuality, _name="sq", horizon=5, band=0.5, labels="fixed")
    sq = cerebro.run()[0].analyzers.sq.get_analysis()
    o, h, low, c, _ = arrays(df)
    labels = make_labels(h, low, c, LabelSpec(5, 0.5, "fixed"))
    move = np.full(N, np.nan)
    move[3:] = c[3:] - c[:-3]
    side = np.sign(move)
    proba = np.column_stack([0.4 - 0.1 * side, 0.2 + 0 * side, 0.4 + 0.1 * side])
    ok = np.isfinite(side) & np.isfinite(labels)
    assert sq["log_loss"] == pytest.approx(sig.log_loss(labels[ok], proba[ok]))
    assert sq["prior_log_loss"] == pytest.approx(sig.log_loss(labels[ok], sig.causal_prior(labels, 5)[ok]))
    realised = sig.forward_open_return(o, 5)
    both = ok & np.isfinite(realised)
    assert sq["ic"] == pytest.approx(sig.information_coefficient(proba[both, 2] - proba[both, 0], realised[both]))
