"""The co-pilot's guardrails: it can only veto the strategy's entries.

:func:`decide` allows an entry only when every check passes; anything missing, malformed, failed
or late is a veto (fails closed). Exits are never asked: the gate sees entries only, so the trades
it allows are a subset of the strategy's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from btedge.copilot.advice import Advice

SIDES = {1: "long", -1: "short"}


@dataclass(frozen=True)
class GateParams:
    """``threshold``: the advisor's minimum confidence; ``consensus``: if set, the minimum mean of
    the strategy's and the advisor's confidence (a strategy without a confidence is vetoed);
    ``max_exposure``: the largest |position| in units after the entry; ``cooldown``: bars after an
    allowed entry during which no other entry is allowed."""

    threshold: float = 0.6
    consensus: float | None = None
    max_exposure: float = math.inf
    cooldown: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"copilot threshold must be in [0, 1], got {self.threshold!r}")
        if self.consensus is not None and not 0.0 <= self.consensus <= 1.0:
            raise ValueError(f"copilot consensus must be in [0, 1] or None, got {self.consensus!r}")
        if not self.max_exposure > 0:
            raise ValueError(f"copilot max_exposure must be > 0, got {self.max_exposure!r}")
        if int(self.cooldown) < 0:
            raise ValueError(f"copilot cooldown must be >= 0 bars, got {self.cooldown!r}")


@dataclass(frozen=True)
class Decision:
    """``allowed`` and why (one line)."""

    allowed: bool
    reason: str


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def decide(side: int, advice: object, params: GateParams, strategy_confidence: float | None = None,
           exposure_after: float = 0.0, bars_since_entry: float = math.inf) -> Decision:
    """Allow the strategy's entry on ``side`` (+1 / -1) or veto it.

    ``advice``: an :class:`Advice`, or anything else (None: no reply in time; an exception: the
    call failed) which vetoes. ``exposure_after``: |position| after the entry, in units.
    """
    if side not in SIDES:
        return Decision(False, f"not an entry side: {side!r}")
    if not isinstance(advice, Advice):
        what = "no advice in time" if advice is None else f"advisor failed: {advice}"
        return Decision(False, f"{what}: no trade")
    if advice.stance != SIDES[side]:
        return Decision(False, f"advisor says {advice.stance}, strategy wants {SIDES[side]}: veto")
    if not _finite(advice.confidence) or advice.confidence < params.threshold:
        return Decision(False, f"advisor confidence {advice.confidence} below {params.threshold}: veto")
    if params.consensus is not None:
        if not _finite(strategy_confidence):
            return Decision(False, "consensus needs the strategy's confidence, it has none: veto")
        mean = (float(strategy_confidence) + advice.confidence) / 2.0
        if mean < params.consensus:
            return Decision(False, f"consensus {mean:.2f} below {params.consensus}: veto")
    if not _finite(exposure_after) or abs(exposure_after) > params.max_exposure:
        return Decision(False, f"exposure {exposure_after} above the cap {params.max_exposure}: veto")
    if not (isinstance(bars_since_entry, (int, float)) and bars_since_entry >= params.cooldown):
        return Decision(False, f"cooldown: {bars_since_entry} bars since the last entry < {params.cooldown}: veto")
    return Decision(True, f"advisor agrees ({advice.stance} {advice.confidence:.2f}): {advice.rationale}")
