"""The instruction a vision-language advisor gets with the chart."""
from __future__ import annotations

from typing import Any

SYSTEM = ("You are a cautious trading co-pilot. You look at a candle chart with support and resistance "
          "(dashed), a Laguerre filter (solid) and an anomaly score panel, and you may only hold trades back.")


def build_prompt(context: dict[str, Any] | None) -> str:
    """The user message text: what the strategy wants, then the reply format (strict JSON)."""
    context = context or {}
    wants = context.get("wants", "an entry")
    symbol = context.get("symbol", "the instrument")
    return (f"The strategy wants {wants} on {symbol} at the next bar. Describe the chart in one phrase "
            "(trend, chop, breakout or failed retest), then answer with ONLY this JSON object: "
            '{"stance": "long" | "short" | "flat", "confidence": <number 0..1>, "rationale": "<one line>"}')
