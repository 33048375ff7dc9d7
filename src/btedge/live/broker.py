"""IBBroker: backtrader orders through one IBStore, with risk gates in front of every order.

Fills come from ``execDetails`` keyed by ``execId`` and are applied once their commission report
is in, whichever of the two arrives first (a fill whose commission never comes is applied with
zero commission after ``commission_wait`` seconds). Completion is decided from the executed
size, not from ``orderStatus``, which IB does not guarantee. Every order carries
``orderRef = '<order_ref>:<bt ref>:<run id>'`` so a restarted process recognises its own orders,
and order ids come from :meth:`IBStore.next_order_id`, which never reuses one.
"""
from __future__ import annotations

import collections
import logging
import math
import time
import uuid
from typing import Any

import backtrader as bt

from btedge.live import parsing
from btedge.live.reconcile import adopt_orphans, book_execution, reconcile
from btedge.live.risk import RiskGate, check_accounts
from btedge.live.store import IBStore

log = logging.getLogger(__name__)

_CANCELLED = frozenset({"Cancelled", "ApiCancelled", "Inactive"})
_EPS = 1e-9


class IBBroker(bt.broker.BrokerBase):
    """
    Broker for Interactive Brokers: market, limit, stop, stop-limit and bracket orders.

    IB status -> backtrader: PendingSubmit/PreSubmitted -> Submitted, Submitted -> Accepted,
    executions -> Partial / Completed, Cancelled (error 202) -> Canceled (Expired when the
    order had a ``valid`` and was not cancelled by us), Inactive / errors 201, 103, ... ->
    Rejected (and a risk cooldown). Orders the risk gate refuses are Rejected without being sent.

    Params:
      - ``store`` (required): the shared :class:`~btedge.live.store.IBStore`
      - ``risk`` (default: ``None``): a :class:`~btedge.live.risk.RiskGate`; None: no limits
      - ``order_ref`` (default: ``'btedge'``): prefix of every ``orderRef``
      - ``live`` / ``confirmed`` (default: ``False``): both needed to trade a non-paper account
      - ``commission_wait`` (default: ``5.0``): seconds a fill waits for its commission report
      - ``cancel_orphans`` (default: ``False``): cancel open orders of an earlier run (same
        ``order_ref`` prefix) at start; otherwise they are only logged
      - ``trade_backfill`` (default: ``False``): allow orders while the order's feed is not
        ``LIVE`` (backfill bars are history: by default orders on them are Rejected unsent)
    """

    params = (
        ("store", None),
        ("risk", None),
        ("order_ref", "btedge"),
        ("live", False),
        ("confirmed", False),
        ("commission_wait", 5.0),
        ("cancel_orphans", False),
        ("trade_backfill", False),
    )

    def __init__(self) -> None:
        super().__init__()
        if not isinstance(self.p.store, IBStore):
            raise ValueError(f"IBBroker needs store=IBStore(...), got {type(self.p.store).__name__}")
        if ":" in self.p.order_ref or not self.p.order_ref:
            raise ValueError(f"order_ref must be a non-empty string without ':', got {self.p.order_ref!r}")
        self.store: IBStore = self.p.store
        self.risk: RiskGate = self.p.risk or RiskGate()
        self.run_id = uuid.uuid4().hex[:8]
        self.notifs: collections.deque[bt.Order] = collections.deque()
        self.positions: dict[Any, bt.Position] = {}
        self.orders: dict[int, bt.Order] = {}  # IB orderId -> bt order
        self._ib_orders: dict[int, Any] = {}  # bt ref -> IB Order
        self._executed: set[str] = set()
        self._awaiting: dict[str, tuple[Any, float]] = {}
        self._cancel_requested: set[int] = set()
        self._last_values: dict[str, float] = {}
        self._flattening = False
        self.store.broker = self

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        super().start()
        self.store.connect()
        check_accounts(self.store.accounts(), live=self.p.live, confirmed=self.p.confirmed)
        adopt_orphans(self)
        self.startingcash, self.startingvalue = self.getcash(), self.getvalue()
        ib = self.store.ib
        ib.orderStatusEvent += self._on_status
        ib.execDetailsEvent += self._on_exec
        ib.commissionReportEvent += self._on_commission

    def stop(self) -> None:
        # the IB handlers stay attached: a shutdown may still cancel orders and see them end
        working = self.open_orders()
        if working:
            log.warning("cerebro stopped with %d order(s) working at IB: %s", len(working),
                        ", ".join(self.ib_order(o).orderRef for o in working))

    def next(self) -> None:
        # no pump here: the feeds pump while they wait, and one more pass before the strategy's
        # next() would only decode more messages between a bar and the order it triggers
        self._flush_stale_fills()
        if self.risk.update_value(self.getvalue()):
            self.flatten()

    def get_notification(self) -> bt.Order | None:
        return self.notifs.popleft() if self.notifs else None

    def notify(self, order: bt.Order) -> None:
        self.notifs.append(order.clone())
        self.store.wake()

    # -- account ---------------------------------------------------------------------------
    def _account_value(self, tag: str) -> float:
        """The account's ``tag`` (BASE currency first); the last known value while disconnected."""
        values = [v for v in self.store.ib.accountValues() if v.tag == tag]
        values.sort(key=lambda v: v.currency != "BASE")
        for value in values:
            try:
                self._last_values[tag] = float(value.value)
                break
            except ValueError:
                continue
        return self._last_values.get(tag, math.nan)

    def getcash(self) -> float:
        cash = self._account_value("TotalCashValue")
        return cash if math.isfinite(cash) else self._account_value("TotalCashBalance")

    def getvalue(self, datas: list | None = None) -> float:
        if datas:
            return sum(self.getposition(d).size * d.close[0] * self._multiplier(d) for d in datas)
        return self._account_value("NetLiquidation")

    def getposition(self, data: Any) -> bt.Position:
        position = self.positions.get(data)
        if position is None:
            position = self.positions[data] = bt.Position()
            self._seed_position(data, position)
        return position

    def _seed_position(self, data: Any, position: bt.Position) -> None:
        contract = getattr(data, "contract", None)
        if contract is None:
            return
        for held in self.store.ib.positions():
            if held.contract.conId == contract.conId and held.position:
                position.set(held.position, held.avgCost / self._multiplier(data))
                log.info("%s: position %+g from the account", data._name or contract.symbol, held.position)

    @staticmethod
    def _multiplier(data: Any) -> float:
        contract = getattr(data, "contract", None)
        return float(getattr(contract, "multiplier", "") or 1.0)

    # -- orders in ---------------------------------------------------------------------------
    def buy(self, owner, data, size, price=None, plimit=None, exectype=None, valid=None, tradeid=0,
            oco=None, trailamount=None, trailpercent=None, parent=None, transmit=True, **kwargs):
        return self._submit(bt.BuyOrder, owner, data, size, price, plimit, exectype, valid, tradeid,
                            oco, trailamount, trailpercent, parent, transmit, kwargs)

    def sell(self, owner, data, size, price=None, plimit=None, exectype=None, valid=None, tradeid=0,
             oco=None, trailamount=None, trailpercent=None, parent=None, transmit=True, **kwargs):
        return self._submit(bt.SellOrder, owner, data, size, price, plimit, exectype, valid, tradeid,
                            oco, trailamount, trailpercent, parent, transmit, kwargs)

    def _submit(self, cls, owner, data, size, price, plimit, exectype, valid, tradeid, oco,
                trailamount, trailpercent, parent, transmit, kwargs) -> bt.Order:
        if oco is not None or trailamount or trailpercent:
            raise ValueError("IBBroker does not support oco or trailing orders; use buy_bracket / sell_bracket")
        order = cls(owner=owner, data=data, size=size, price=price, pricelimit=plimit, exectype=exectype,
                    valid=valid, tradeid=tradeid, parent=parent, transmit=transmit)
        order.addinfo(**kwargs)
        order.addcomminfo(self.getcommissioninfo(data))
        if not self._allowed(order):
            order.reject(self)
            self.notify(order)
            if parent is not None and parent.alive():  # a bracket without its legs must not stand
                log.warning("order %d refused: cancelling its parent %d", order.ref, parent.ref)
                self.cancel(parent)
            return order
        self._place(order, valid)
        return order

    def _allowed(self, order: bt.Order) -> bool:
        data = order.data
        if not (self.p.trade_backfill or self._flattening) and getattr(data, "_laststatus", None) != data.LIVE:
            log.info("order %d on %s refused: the feed is %s, not LIVE (backfill bars are history)",
                     order.ref, data._name or "data", data._getstatusname(data._laststatus))
            return False
        parent = order.parent
        if parent is not None and not parent.alive() and parent.status != bt.Order.Completed:
            log.warning("order %d: parent %d is %s; child not sent", order.ref, parent.ref, parent.getstatusname())
            return False
        position = self.getposition(order.data).size
        if parent is not None:
            position += parent.executed.remsize
        name = order.data._name or str(getattr(order.data.contract, "symbol", "data"))
        return bool(self.risk.check(name, order.size, position))

    def _place(self, order: bt.Order, valid: Any) -> None:
        data = order.data
        contract = getattr(data, "contract", None)
        if contract is None:
            raise ValueError(f"{data._name or 'data'}: IBBroker needs an IBData feed (no qualified contract)")
        ib_order = parsing.make_order(self.store.lib, action="BUY" if order.isbuy() else "SELL",
                                      size=order.size, exectype=order.exectype, price=order.price,
                                      plimit=order.pricelimit, valid=valid)
        ib_order.orderId = self.store.next_order_id()
        ib_order.orderRef = f"{self.p.order_ref}:{order.ref}:{self.run_id}"
        ib_order.transmit = bool(order.transmit)
        if order.parent is not None:
            ib_order.parentId = self._ib_orders[order.parent.ref].orderId
        self.orders[ib_order.orderId] = order
        self._ib_orders[order.ref] = ib_order
        order.submit(self)
        self.notify(order)
        log.info("place %s %s %g %s id=%d ref=%s%s", ib_order.action, contract.symbol, ib_order.totalQuantity,
                 ib_order.orderType, ib_order.orderId, ib_order.orderRef,
                 f" parent={ib_order.parentId}" if order.parent is not None else "")
        self.store.ib.placeOrder(contract, ib_order)

    def cancel(self, order: bt.Order) -> None:
        ib_order = self._ib_orders.get(order.ref)
        if ib_order is None or not order.alive():
            return
        self._cancel_requested.add(ib_order.orderId)
        log.info("cancel id=%d ref=%s", ib_order.orderId, ib_order.orderRef)
        self.store.ib.cancelOrder(ib_order)

    def flatten(self) -> None:
        """Cancel every live order and close every position with a market order."""
        for order in list(self.orders.values()):
            if order.alive():
                self.cancel(order)
        self._flattening = True
        try:
            for data, position in self.positions.items():
                if position.size:
                    log.warning("flatten %s: %+g", data._name or "data", position.size)
                    (self.sell if position.size > 0 else self.buy)(None, data, abs(position.size))
        finally:
            self._flattening = False

    def ib_order(self, order: bt.Order) -> Any:
        """The IB ``Order`` sent for a backtrader order (``None`` if it was never sent)."""
        return self._ib_orders.get(order.ref)

    def open_orders(self) -> list[bt.Order]:
        """bt orders still alive at IB."""
        return [o for o in self.orders.values() if o.alive()]

    # -- IB events ---------------------------------------------------------------------------
    def _on_status(self, trade: Any) -> None:
        order = self.orders.get(trade.order.orderId)
        if order is None or not order.alive():
            return
        status = trade.orderStatus.status
        if status in _CANCELLED:
            code = trade.log[-1].errorCode if trade.log else 0
            self._end(order, trade.order.orderId, code, status)
        elif parsing.order_status(status) == bt.Order.Accepted and order.status == bt.Order.Submitted:
            order.accept(self)
            self.notify(order)

    def _end(self, order: bt.Order, order_id: int, code: int, why: str) -> None:
        if code in parsing.REJECT_CODES or why == "Inactive":
            log.warning("order %d rejected (%s %s)", order_id, why, code or "")
            order.reject(self)
            self.risk.record_reject()
        elif order.valid and order_id not in self._cancel_requested:
            log.info("order %d expired (%s)", order_id, why)
            order.status = bt.Order.Expired  # Order.expire() only works on backtest time
        else:
            log.info("order %d cancelled (%s)", order_id, why)
            order.cancel()
        self.notify(order)

    def on_error(self, req_id: int, code: int, message: str) -> bool:
        order = self.orders.get(req_id)
        if order is None:
            return False
        log.warning("order %d: IB error %d: %s", req_id, code, message)
        if order.alive() and (code in parsing.REJECT_CODES or code in parsing.CANCEL_CODES):
            self._end(order, req_id, code, f"error {code}")
        return True

    def _on_exec(self, trade: Any, fill: Any) -> None:
        exec_id = fill.execution.execId
        if exec_id in self._executed or exec_id in self._awaiting:
            return
        if fill.commissionReport.execId == exec_id:
            self._apply_fill(fill)
        else:
            self._awaiting[exec_id] = (fill, time.monotonic())

    def _on_commission(self, trade: Any, fill: Any, report: Any) -> None:
        exec_id = fill.execution.execId
        if exec_id in self._executed:
            log.debug("commission %.4g for %s after the fill was booked", report.commission, exec_id)
            return
        self._awaiting.pop(exec_id, None)
        self._apply_fill(fill)

    def _flush_stale_fills(self) -> None:
        now = time.monotonic()
        for exec_id, (fill, since) in list(self._awaiting.items()):
            if now - since >= self.p.commission_wait:
                log.warning("no commission report for %s after %.0f s: booking it with 0 commission",
                            exec_id, now - since)
                del self._awaiting[exec_id]
                self._apply_fill(fill)

    def _order_for(self, execution: Any) -> bt.Order | None:
        order = self.orders.get(execution.orderId)
        if order is not None:
            return order
        prefix, ref, run = (execution.orderRef.split(":") + ["", "", ""])[:3]
        if prefix == self.p.order_ref and run == self.run_id:
            return next((o for o in self.orders.values() if str(o.ref) == ref), None)
        return None

    def _apply_fill(self, fill: Any) -> None:
        ex = fill.execution
        self._executed.add(ex.execId)
        order = self._order_for(ex)
        if order is None:
            log.info("execution %s (order %d, ref %r) is not from this run: ignored", ex.execId, ex.orderId, ex.orderRef)
            return
        size = ex.shares if ex.side == "BOT" else -ex.shares
        commission = fill.commissionReport.commission if fill.commissionReport.execId == ex.execId else 0.0
        self._execute(order, size, ex.price, commission, bt.date2num(fill.time))
        log.info("fill %s %+g @ %.6g comm %.4g order=%d %s", ex.execId, size, ex.price, commission,
                 ex.orderId, order.getstatusname())

    def _execute(self, order: bt.Order, size: float, price: float, commission: float, when: float) -> None:
        book_execution(order, self.getposition(order.data), size, price, commission, when)
        if abs(order.executed.remsize) < _EPS:
            order.completed()
        else:
            order.partial()
        self.notify(order)

    # -- restart and reconnect -----------------------------------------------------------------
    def on_connection_lost(self) -> None:
        log.warning("broker: connection lost with %d open order(s); nothing is resent", len(self.open_orders()))

    def on_reconnected(self) -> None:
        """Reconcile orders, executions and positions with IB before anything new is sent."""
        reconcile(self)
