"""The chart co-pilot: a chart snapshot, an advisor that reads it, and a gate that can only veto.

- :mod:`.snapshot`: a candle chart PNG of the last N bars with the strategy's indicators.
- :mod:`.advice`: :class:`Advice` and the strict parser of a model's reply.
- advisors, each ``advise(snapshot, context) -> Advice``: :class:`RulesAdvisor` (the default, no
  model), :class:`ChatAdvisor` (an OpenAI-compatible chat endpoint that takes images) and
  :class:`TransformersAdvisor` (a local vision-language model from a folder).
- :mod:`.gate`: the guardrails (veto only, confidence threshold, consensus, exposure cap,
  cooldown); anything malformed, slow or failed means no trade.
- :mod:`.journal`: the JSONL advice journal (image hash, prompt, reply, decision) that a
  backtest replays deterministically.
- :mod:`.worker`: runs the advisor outside ``next()``; :mod:`.strategy`: ``copilot_gated(cls)``.
"""
from __future__ import annotations

from btedge.copilot.advice import Advice, AdviceError, parse_advice
from btedge.copilot.gate import Decision, GateParams, decide
from btedge.copilot.rules import RulesAdvisor

__all__ = ["Advice", "AdviceError", "Decision", "GateParams", "RulesAdvisor", "decide", "parse_advice"]
