"""Advice parsing and the gate: veto only, and every malformed, failed or missing reply is no trade."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from btedge.copilot.advice import STANCES, Advice, AdviceError, parse_advice
from btedge.copilot.gate import SIDES, GateParams, decide


@pytest.mark.parametrize("text, stance, confidence", [
    ('{"stance": "long", "confidence": 0.8, "rationale": "trend"}', "long", 0.8),
    ('Chart: breakout.\n```json\n{"stance": "SHORT", "confidence": 1}\n```', "short", 1.0),
    ('{"stance": "flat", "confidence": 0}', "flat", 0.0),
])
def test_valid_replies(text, stance, confidence):
    got = parse_advice(text)
    assert (got.stance, got.confidence) == (stance, confidence)


@pytest.mark.parametrize("text", [
    "", "I think it goes up", '{"stance": "long"}', '{"stance": "buy", "confidence": 0.9}',
    '{"stance": "long", "confidence": "0.9"}', '{"stance": "long", "confidence": 1.5}',
    '{"stance": "long", "confidence": NaN}', '{"stance": "long", "confidence": true}', '[1, 2]',
    '{"stance": "long", "confidence": 0.9', None,
])
def test_malformed_replies_raise(text):
    with pytest.raises(AdviceError):
        parse_advice(text)


def test_gate_reasons():
    p = GateParams(threshold=0.6, consensus=0.7, max_exposure=10, cooldown=3)
    ok = Advice("long", 0.9, "trend")
    assert decide(1, ok, p, strategy_confidence=0.8, exposure_after=5, bars_since_entry=4).allowed
    assert "no advice in time" in decide(1, None, p).reason
    assert "failed" in decide(1, AdviceError("HTTP 500"), p).reason
    assert "veto" in decide(-1, ok, p, 0.8, 5, 4).reason
    assert not decide(1, Advice("long", 0.5), p, 0.8, 5, 4).allowed
    assert "consensus needs" in decide(1, ok, p, None, 5, 4).reason
    assert not decide(1, ok, p, 0.4, 5, 4).allowed  # mean 0.65 < 0.7
    assert "exposure" in decide(1, ok, p, 0.8, 11, 4).reason
    assert "cooldown" in decide(1, ok, p, 0.8, 5, 2).reason
    with pytest.raises(ValueError, match="threshold"):
        GateParams(threshold=1.5)


junk = st.one_of(st.none(), st.text(max_size=20), st.integers(), st.floats(allow_nan=True),
                 st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
                 st.builds(AdviceError, st.text(max_size=10)), st.builds(TimeoutError))
advices = st.builds(Advice, st.sampled_from(STANCES), st.floats(0.0, 1.0), st.text(max_size=10))
numbers = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=200, deadline=None)
@given(side=st.sampled_from([1, -1, 0, 2]), advice=st.one_of(junk, advices),
       threshold=st.floats(0.0, 1.0), consensus=st.one_of(st.none(), st.floats(0.0, 1.0)),
       cap=st.floats(0.1, 100.0), cooldown=st.integers(0, 5), conf=numbers,
       exposure=st.one_of(st.floats(allow_nan=True, allow_infinity=True)),
       since=st.one_of(st.integers(0, 10), st.just(math.inf), st.just(math.nan)))
def test_gate_fails_closed(side, advice, threshold, consensus, cap, cooldown, conf, exposure, since):
    params = GateParams(threshold, consensus, cap, cooldown)
    decision = decide(side, advice, params, conf, exposure, since)
    if decision.allowed:  # every condition holds; anything else was a veto
        assert isinstance(advice, Advice) and side in SIDES and advice.stance == SIDES[side]
        assert advice.confidence >= threshold and abs(exposure) <= cap and since >= cooldown
        if consensus is not None:
            assert conf is not None and math.isfinite(conf) and (conf + advice.confidence) / 2 >= consensus


@settings(max_examples=150, deadline=None)
@given(reply=st.one_of(st.text(max_size=60), st.binary(max_size=30).map(lambda b: b.decode("latin-1"))))
def test_any_reply_that_does_not_parse_is_no_trade(reply):
    try:
        advice = parse_advice(reply)
    except AdviceError as exc:
        advice = exc
    decision = decide(1, advice, GateParams(threshold=0.0))
    assert decision.allowed == (isinstance(advice, Advice) and advice.stance == "long")
