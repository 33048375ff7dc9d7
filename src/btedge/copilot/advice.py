"""What an advisor says about a chart, and the strict parser of a model's reply."""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from typing import Any

#: Stances an advisor may take; ``long`` / ``short`` approve that side only, ``flat`` approves none.
STANCES = ("long", "short", "flat")
_JSON = re.compile(r"\{.*\}", re.DOTALL)


class AdviceError(ValueError):
    """A reply that is not a valid advice (the gate treats it as no trade)."""


@dataclass(frozen=True)
class Advice:
    """``stance`` in :data:`STANCES`, ``confidence`` in [0, 1], a one-line ``rationale``."""

    stance: str
    confidence: float
    rationale: str = ""

    def __post_init__(self) -> None:
        if self.stance not in STANCES:
            raise AdviceError(f"stance must be one of {STANCES}, got {self.stance!r}")
        if not isinstance(self.confidence, (int, float)) or isinstance(self.confidence, bool) \
                or not math.isfinite(self.confidence) or not 0.0 <= self.confidence <= 1.0:
            raise AdviceError(f"confidence must be a number in [0, 1], got {self.confidence!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_advice(text: str) -> Advice:
    """The advice in a model's reply: one JSON object ``{"stance": ..., "confidence": ...,
    "rationale": ...}``, alone or inside prose / a code fence. Anything else raises :class:`AdviceError`."""
    if not isinstance(text, str):
        raise AdviceError(f"reply is not text: {type(text).__name__}")
    match = _JSON.search(text)
    if not match:
        raise AdviceError(f"no JSON object in the reply: {text[:80]!r}")
    try:
        data = json.loads(match.group(0))
    except ValueError as exc:
        raise AdviceError(f"reply is not valid JSON ({exc}): {text[:80]!r}") from None
    if not isinstance(data, dict):
        raise AdviceError("reply JSON is not an object")
    stance = str(data.get("stance", "")).strip().lower()
    confidence = data.get("confidence")
    if isinstance(confidence, str):
        raise AdviceError(f"confidence must be a number, got the string {confidence!r}")
    return Advice(stance, float(confidence) if isinstance(confidence, (int, float)) and not isinstance(
        confidence, bool) else confidence, str(data.get("rationale", ""))[:500])
