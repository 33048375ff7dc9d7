"""The order state machine of the live journal: legal transitions only.

States (as journaled): ``Submitted`` (journaled, then sent to IB),
``Accepted`` (IB acknowledged it), ``Partial``, and the final ``Filled``, ``Cancelled``,
``Expired``, ``Rejected`` and ``Lost`` (IB's open orders, completed orders and executions all lack
it after a reconnect). An event that asks for an illegal move (``Filled -> Partial`` from a late
execution correction, ``Cancelled -> Accepted`` from a stale status) is not applied: the broker logs
it at WARNING and settles the order from the facts (:func:`settle`).

::

    Submitted --> Accepted --> Partial --> Filled
        |            |            |
        +------------+------------+--> Cancelled / Expired / Rejected / Lost

A fill is a fact, not a state request: it is always booked (by the journal); only the state
follows the rules. An order whose cancel lost the race and filled completely settles to ``Filled``.
"""
from __future__ import annotations

from dataclasses import dataclass

SUBMITTED, ACCEPTED, PARTIAL = "Submitted", "Accepted", "Partial"
FILLED, CANCELLED, EXPIRED, REJECTED, LOST = "Filled", "Cancelled", "Expired", "Rejected", "Lost"

FINAL = frozenset({FILLED, CANCELLED, EXPIRED, REJECTED, LOST})
#: states in which an order may still fill
WORKING = frozenset({SUBMITTED, ACCEPTED, PARTIAL})
_ENDS = frozenset({CANCELLED, EXPIRED, REJECTED, LOST})

#: state -> the states it may move to
LEGAL: dict[str, frozenset[str]] = {
    SUBMITTED: frozenset({ACCEPTED, PARTIAL, FILLED}) | _ENDS,
    ACCEPTED: frozenset({PARTIAL, FILLED}) | _ENDS,
    PARTIAL: frozenset({PARTIAL, FILLED}) | _ENDS,
    FILLED: frozenset(),
    CANCELLED: frozenset(),
    EXPIRED: frozenset(),
    REJECTED: frozenset(),
    LOST: frozenset(),
}


@dataclass(frozen=True)
class Transition:
    """The answer to "may ``old`` become ``new``?": ``legal``, and the state to keep."""

    old: str
    new: str
    legal: bool

    @property
    def state(self) -> str:
        """The state to journal: ``new`` when legal, else ``old``."""
        return self.new if self.legal else self.old

    @property
    def changed(self) -> bool:
        return self.legal and self.new != self.old


def transition(old: str, new: str) -> Transition:
    """Check one move. Staying in the same non-final state is legal (a no-op); ``Partial ->
    Partial`` is a further partial fill."""
    if old not in LEGAL or new not in LEGAL:
        raise ValueError(f"unknown order state {old if old not in LEGAL else new!r}; known: {sorted(LEGAL)}")
    legal = new in LEGAL[old] or (new == old and old not in FINAL)
    return Transition(old, new, legal)


def after_fill(filled: float, size: float) -> str:
    """The state an execution puts an order in: ``Filled`` when all of ``size`` is done."""
    return FILLED if abs(filled) >= abs(size) - 1e-9 else PARTIAL


def settle(current: str, filled: float, size: float, ib_final: str | None) -> str:
    """The state that the facts support, for reconciliation and illegal events.

    Args:
        current: the journaled state.
        filled: unsigned shares booked for the order (from the journal's executions).
        size: the order's unsigned size.
        ib_final: the final state IB reports (``Cancelled``, ``Rejected``, ...) or None while it
            is working (or unknown).
    """
    if filled >= size - 1e-9:
        return FILLED
    if ib_final is not None:
        return ib_final
    if current in FINAL:
        return current
    return PARTIAL if filled > 1e-9 else current
