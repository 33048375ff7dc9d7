"""Reconciliation of the journal with IB's record: pure decisions, no broker, no connection.

:meth:`btedge.live.broker.IBBroker.reconcile` asks IB for its open orders, completed orders,
executions and positions, books the executions in the journal, and then applies what this module
decides:

- :func:`settle_orders`: the state each working journal order really is in. Open at IB: still
  working (resumed when an earlier process placed it). Completed at IB: its final state, settled
  against the executions the journal booked. Neither, but the journal has executions for it: the
  fills stand and the rest is cancelled. Neither and no executions: ``Lost``.
- :func:`foreign_holdings`: where the account's position differs from what the strategy traded.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

from btedge.live import orders as states
from btedge.live.journal import Journal, OrderRecord

log = logging.getLogger(__name__)
_EPS = 1e-9
_COMPLETED = {"Filled": states.FILLED, "Cancelled": states.CANCELLED, "ApiCancelled": states.CANCELLED,
              "Inactive": states.REJECTED}


@dataclass(frozen=True)
class Reconciliation:
    """What IB answered, and who is asking."""

    journal: Journal
    account: str
    client_id: int
    process: str
    open_trades: Sequence[Any]
    completed: Sequence[Any]


@dataclass(frozen=True)
class Verdict:
    """The settled ``state`` of one journal order, IB's ``trade`` for it (None if IB lacks it), why."""

    record: OrderRecord
    trade: Any
    state: str
    why: str
    unreported: float = 0.0  # shares IB says filled that none of the executions it reports account for


@dataclass(frozen=True)
class Gap:
    """A contract where the account holds ``held`` and the strategy traded ``own``."""

    con_id: int
    symbol: str
    held: float
    own: float
    avg_price: float

    @property
    def foreign(self) -> float:
        """Shares that are not the strategy's."""
        return self.held - self.own


def _by_ref(trades: Sequence[Any], account: str, client_id: int | None) -> dict[str, Any]:
    found = {}
    for trade in trades:
        order = trade.order
        if not order.orderRef or (order.account and order.account != account):
            continue
        if client_id is not None and order.clientId != client_id:
            continue
        found[order.orderRef] = trade
    return found


def settle_orders(view: Reconciliation) -> list[Verdict]:
    """A verdict for every working order of the journal (after its executions were booked)."""
    open_orders = _by_ref(view.open_trades, view.account, view.client_id)
    completed = _by_ref(view.completed, view.account, None)  # completed orders carry no clientId
    verdicts = []
    for record in view.journal.working_orders():
        if record.client_id != view.client_id:
            log.error("order %s was placed by client id %d; this session is client id %d and cannot see it: "
                      "left as %s (use --client-id %d for this run name)", record.client_ref, record.client_id,
                      view.client_id, record.state, record.client_id)
            continue
        verdicts.append(_settle(record, open_orders.get(record.client_ref), completed.get(record.client_ref)))
    return verdicts


def _settle(record: OrderRecord, working: Any, done: Any) -> Verdict:
    if working is not None:
        state = record.state
        if working.orderStatus.status == "Submitted" and state == states.SUBMITTED:
            state = states.ACCEPTED
        return Verdict(record, working, states.settle(state, record.filled, record.size, None), "open at IB")
    if done is not None:
        status = done.orderStatus.status
        final = _COMPLETED.get(status, states.CANCELLED)
        unreported = max(0.0, min(_ib_filled(done, record, final), record.size) - record.filled)
        if unreported > _EPS:
            log.error("order %s: IB completed it (%s) with %g filled, but the executions IB still reports "
                      "account for %g only (IB keeps them for a limited time): the other %g are booked from the "
                      "completed order", record.client_ref, status, record.filled + unreported, record.filled,
                      unreported)
            return Verdict(record, done, states.settle(record.state, record.filled + unreported, record.size,
                                                       None if final == states.FILLED else final),
                           f"completed at IB: {status}", unreported)
        ib_final = None if final == states.FILLED else final
        return Verdict(record, done, states.settle(record.state, record.filled, record.size, ib_final),
                       f"completed at IB: {status}")
    if record.filled > _EPS:
        return Verdict(record, None, states.settle(record.state, record.filled, record.size, states.CANCELLED),
                       "not working at IB; its executions are booked")
    log.error("order %s (%s %g) is in none of IB's open orders, completed orders or executions: Lost (not resent)",
              record.client_ref, record.side, record.size)
    return Verdict(record, None, states.LOST, "IB's open orders, completed orders and executions all lack it")


def _ib_filled(trade: Any, record: OrderRecord, final: str) -> float:
    """Unsigned shares IB says a completed order filled: all of it when Filled, else the order's
    ``filledQuantity`` (0 when IB leaves it unset)."""
    if final == states.FILLED:
        return record.size
    try:
        filled = float(getattr(trade.order, "filledQuantity", 0.0) or 0.0)
    except (TypeError, ValueError):
        return 0.0
    return filled if 0.0 <= filled < 1e300 else 0.0


def foreign_holdings(journal: Journal, account: str, held: Sequence[Any]) -> list[Gap]:
    """Contracts where the account's position (IB ``Position`` objects) differs from the strategy's."""
    ib = {p.contract.conId: p for p in held if p.account == account}
    mine = journal.positions()
    gaps = []
    for con_id in sorted(set(ib) | set(mine)):
        position = ib.get(con_id)
        size = float(position.position) if position is not None else 0.0
        own = mine[con_id][1] if con_id in mine else 0.0
        if abs(size - own) <= _EPS:
            continue
        if position is not None:
            multiplier = float(position.contract.multiplier or 1.0)
            gaps.append(Gap(con_id, position.contract.symbol, size, own, position.avgCost / multiplier))
        else:
            gaps.append(Gap(con_id, mine[con_id][0], 0.0, own, 0.0))
    return gaps
