"""IBBroker's bookkeeping against IB's record: fills into backtrader orders, reconciliation after
a reconnect, and the open orders an earlier run of the same program left behind."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import backtrader as bt

from btedge.live.risk import mask_account

if TYPE_CHECKING:
    from btedge.live.broker import IBBroker

log = logging.getLogger(__name__)
_EPS = 1e-9


def book_execution(order: bt.Order, position: bt.Position, size: float, price: float,
                   commission: float, when: float) -> None:
    """Apply one execution to ``position`` and ``order`` the way backtrader's own broker does,
    with IB's commission split between the closing and the opening part by size."""
    old_price = position.price
    psize, pprice, opened, closed = position.update(size, price)
    comminfo = order.comminfo
    closed_comm = commission * abs(closed) / abs(size) if size else 0.0
    order.execute(when, size, price,
                  closed, comminfo.getoperationcost(closed, old_price), closed_comm,
                  opened, comminfo.getoperationcost(opened, price), commission - closed_comm,
                  comminfo.getvaluesize(size, price), comminfo.profitandloss(-closed, old_price, price),
                  psize, pprice)


def adopt_orphans(broker: IBBroker) -> None:
    """Log (or cancel, with ``cancel_orphans``) open orders whose ``orderRef`` carries our prefix."""
    for trade in broker.store.ib.openTrades():
        if trade.order.orderRef.split(":")[0] != broker.p.order_ref:
            continue
        action = "cancelling" if broker.p.cancel_orphans else "leaving it alone"
        log.warning("open order %d (%s) is from an earlier run: %s", trade.order.orderId,
                    trade.order.orderRef, action)
        if broker.p.cancel_orphans:
            broker.store.ib.cancelOrder(trade.order)


def reconcile(broker: IBBroker) -> None:
    """After a reconnect: book missed executions (once, by execId), settle every order we think
    is alive from IB's open and completed orders, and take IB's positions where they differ.
    An order IB does not know is marked Rejected; nothing is ever resent."""
    ib = broker.store.ib
    trades = {t.order.orderId: t for t in ib.reqOpenOrders() + ib.reqCompletedOrders(apiOnly=True)}
    trades.update({t.order.orderId: t for t in ib.trades()})
    refs = {t.order.orderRef: t for t in trades.values() if t.order.orderRef}
    for fill in sorted(ib.reqExecutions(), key=lambda f: f.time):
        broker._on_exec(None, fill)
    for order_id, order in list(broker.orders.items()):
        if not order.alive():
            continue
        trade = trades.get(order_id) or refs.get(broker.ib_order(order).orderRef)
        if trade is None:
            log.error("order %d is unknown to IB after the reconnect: marking it rejected (not resent)", order_id)
            broker._end(order, order_id, 201, "lost")
        else:
            broker._on_status(trade)
    check_positions(broker, ib.reqPositions())
    log.info("reconciled: %d open order(s), %d fill(s) known", len(broker.open_orders()), len(broker._executed))


def check_positions(broker: IBBroker, held: list[Any]) -> None:
    """Compare our positions with IB's; on a mismatch log it and take IB's."""
    by_con = {p.contract.conId: p.position for p in held}
    accounts = broker.store.accounts()
    for data, position in broker.positions.items():
        contract = getattr(data, "contract", None)
        ib_size = by_con.get(getattr(contract, "conId", None), 0.0)
        if abs(ib_size - position.size) > _EPS:
            log.error("%s: position %+g here but %+g at IB (account %s): taking IB's", data._name or "data",
                      position.size, ib_size, mask_account(accounts[0]) if accounts else "-")
            position.set(ib_size, position.price if ib_size else 0.0)
