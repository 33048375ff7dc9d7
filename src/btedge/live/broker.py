"""IBBroker: backtrader orders through one IBStore, journaled, reconciled and risk-gated.

The :class:`~btedge.live.journal.Journal` (one SQLite file per account and run name) owns this
strategy's orders, fills and position. Every order is journaled before it is sent and carries its
client order id ``'<order_ref>:<run_name>:<n>'`` as ``orderRef``; every execution IB reports is
booked by the journal exactly once per execId base, and only when its orderRef, clientId and
account are this journal's. The strategy's position is what the journal booked: shares held in
the account that the journal did not trade are reported, never traded (``foreign``).

Order states follow :mod:`btedge.live.orders` (legal transitions only). On every connect and
reconnect the store calls :meth:`IBBroker.check_account` and :meth:`IBBroker.reconcile` before
anything new is sent. Order ids are never reused: the next id is above both IB's ``nextValidId``
and every id in the journal.
"""
from __future__ import annotations

import collections
import datetime as dt
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import backtrader as bt

from btedge.live import orders as states
from btedge.live import parsing
from btedge.live.journal import UNREPORTED_EXEC_PREFIX, ExecutionReport, Journal, OrderRecord
from btedge.live.reconcile import Reconciliation, foreign_holdings, settle_orders
from btedge.live.risk import LiveTradingRefused, RiskGate, check_accounts, mask_account
from btedge.live.store import IBStore

log = logging.getLogger(__name__)

_EPS = 1e-9
_IB_FINAL = {"Cancelled": states.CANCELLED, "ApiCancelled": states.CANCELLED, "Inactive": states.REJECTED}
_EXECTYPES = {kind: exectype for exectype, kind in parsing.ORDER_TYPES.items()}
_EARLY_COMMISSIONS_KEPT = 500
FOREIGN_CHOICES = ("ignore", "adopt")


@dataclass
class _PendingFill:
    """A booked execution whose backtrader notification waits for its commission."""

    order: bt.Order
    before: tuple[float, float]
    size: float
    price: float
    when: float
    since: float


class IBBroker(bt.broker.BrokerBase):
    """
    Broker for Interactive Brokers: market, limit, stop, stop-limit and bracket orders, journaled.

    IB status -> backtrader: PendingSubmit/PreSubmitted -> Submitted, Submitted -> Accepted,
    executions -> Partial / Completed, Cancelled (error 202) -> Canceled (Expired when the
    order had a ``valid`` and was not cancelled by us), Inactive / errors 201, 103, ... ->
    Rejected (and ``reducing`` for ``reject_cooldown``). Orders the risk gate refuses are
    Rejected without being sent; orders it clips go out smaller (``order.size`` says how much).

    Params:
      - ``store`` (required): the shared :class:`~btedge.live.store.IBStore`
      - ``risk`` (default: ``None``): a :class:`~btedge.live.risk.RiskGate`; None: no limits
      - ``state_dir`` (default: ``None``): where the journal lives; None: the per-user state
        directory (:func:`btedge.live.journal.default_state_dir`)
      - ``run_name`` (default: ``'default'``): the journal's run; a restart with the same run
        name resumes its orders and position (keep the client id the same too)
      - ``order_ref`` (default: ``'btedge'``): prefix of every ``orderRef``
      - ``account`` (default: ``''``): the account to trade; '' takes the first managed one
      - ``live`` / ``confirmed`` (default: ``False``): both needed to trade a non-paper account
      - ``commission_wait`` (default: ``5.0``): seconds a fill's notification waits for its
        commission report (the journal attaches a later one anyway)
      - ``cancel_orphans`` (default: ``False``): cancel the working orders of this run name's
        earlier processes at start instead of resuming them
      - ``foreign`` (default: ``'ignore'``): shares in the account the journal did not trade:
        ``'ignore'`` reports them and never trades them; ``'adopt'`` takes IB's holding (with
        IB's average price) as the strategy's position
      - ``cancel_wait`` (default: ``5.0``): seconds a halt waits for its cancels each bar before
        it flattens
      - ``trade_backfill`` (default: ``False``): allow orders while the order's feed is not
        ``LIVE`` (backfill bars are history: by default orders on them are Rejected unsent)
    """

    params = (
        ("store", None),
        ("risk", None),
        ("state_dir", None),
        ("run_name", "default"),
        ("order_ref", "btedge"),
        ("account", ""),
        ("live", False),
        ("confirmed", False),
        ("commission_wait", 5.0),
        ("cancel_orphans", False),
        ("foreign", "ignore"),
        ("cancel_wait", 5.0),
        ("trade_backfill", False),
    )

    def __init__(self) -> None:
        super().__init__()
        if not isinstance(self.p.store, IBStore):
            raise ValueError(f"IBBroker needs store=IBStore(...), got {type(self.p.store).__name__}")
        if ":" in self.p.order_ref or not self.p.order_ref:
            raise ValueError(f"order_ref must be a non-empty string without ':', got {self.p.order_ref!r}")
        if self.p.foreign not in FOREIGN_CHOICES:
            raise ValueError(f"foreign must be one of {FOREIGN_CHOICES}, got {self.p.foreign!r}")
        self.store: IBStore = self.p.store
        self.risk: RiskGate = self.p.risk or RiskGate()
        self.journal: Journal | None = None
        self.notifs: collections.deque[bt.Order] = collections.deque()
        self.positions: dict[Any, bt.Position] = {}
        self._by_ref: dict[str, bt.Order] = {}  # client order id -> bt order (this process)
        self._ref_of: dict[int, str] = {}  # bt ref -> client order id
        self._ib_orders: dict[str, Any] = {}  # client order id -> IB Order (ours and resumed)
        self._ref_by_id: dict[int, str] = {}  # IB orderId -> client order id (this client id)
        self._resumed: set[str] = set()  # working orders of earlier processes, taken over
        self._flatten_refs: set[str] = set()
        self._cancel_requested: set[str] = set()
        self._awaiting: dict[str, _PendingFill] = {}
        self._early_commissions: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._account: str | None = None
        self._needs_reconcile = True
        self._hooked: Any = None
        self._reported: set[str] = set()
        self._last_values: dict[str, float] = {}
        self._zone_pending = True
        self.store.attach_broker(self)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        super().start()
        self.store.connect()  # the store checks the account and reconciles (see reconcile())
        if self._needs_reconcile and self.store.connected:
            self.check_account(self.store.accounts())
            self.reconcile()
        self.startingcash, self.startingvalue = self.getcash(), self.getvalue()
        ib = self.store.ib
        ib.orderStatusEvent += self._on_status

    def stop(self) -> None:
        # the IB handlers stay attached: a shutdown may still cancel orders and see them end
        working = self.open_orders()
        if working:
            log.warning("cerebro stopped with %d order(s) working at IB: %s (journal %s)", len(working),
                        ", ".join(self.ib_order(o).orderRef for o in working),
                        self.journal.path if self.journal else "-")

    def next(self) -> None:
        # no pump here: the feeds pump while they wait
        self._flush_stale_fills()
        self._bind_resumed_orders()
        self._cancel_stale_legs()
        if self.risk.resume_requested():
            self._resume()
        if self._zone_pending:
            self._take_exchange_zone()
        self.risk.update_value(self.getvalue())
        if self.risk.halted and self.risk.flatten_required:
            self._enforce_flat()

    def _take_exchange_zone(self) -> None:
        """The daily-loss trading day follows the first feed's exchange (its ``timeZoneId``)."""
        feeds = [f for f in getattr(self.store, "feeds", []) if hasattr(f, "time_zone")]
        if not feeds:
            return
        zone = feeds[0].time_zone()
        if zone is None:
            return  # not connected yet: asked again on the next bar
        self._zone_pending = False
        if not zone or not self.risk.set_time_zone(zone):
            log.warning("no exchange time zone for %s: the daily-loss trading day is the UTC date",
                        getattr(feeds[0], "symbol", "the first feed"))

    def get_notification(self) -> bt.Order | None:
        return self.notifs.popleft() if self.notifs else None

    def notify(self, order: bt.Order) -> None:
        self.notifs.append(order.clone())
        self.store.wake()

    # -- account guard -----------------------------------------------------------------------
    def check_account(self, accounts: list[str]) -> None:
        """Check the managed accounts on every connect and reconnect (the store calls it).

        A non-paper account needs ``live`` and ``confirmed``; the traded account must not change
        across a reconnect (that halts trading, without flattening anything). Opens the journal
        on the first call.

        Raises:
            LiveTradingRefused: a live account without ``live``/``confirmed``, or the account
                asked for (``account``) is not managed by this login.
        """
        accounts = list(accounts)
        try:
            check_accounts(accounts, live=self.p.live, confirmed=self.p.confirmed)
        except LiveTradingRefused as exc:
            if self._account is not None:
                self.risk.halt(f"after a reconnect: {exc}", flatten=False, persist=False)
            raise
        wanted = self.p.account or accounts[0]
        if self._account is not None and self._account not in accounts:
            self.risk.halt(f"the account changed across a reconnect: was {mask_account(self._account)}, "
                           f"IB now manages {', '.join(map(mask_account, accounts))}; restart to trade "
                           "the new account (its own journal)", flatten=False, persist=False)
            return
        if self._account is None:
            if wanted not in accounts:
                raise LiveTradingRefused(f"account {mask_account(wanted)} is not managed by this login "
                                         f"({', '.join(map(mask_account, accounts))}): fix --account")
            self._open_journal(wanted)

    def _open_journal(self, account: str) -> None:
        self._account = account
        self.journal = Journal.open(self.p.state_dir, account, self.p.run_name)
        self.risk.attach(self.journal)
        for exec_id, commission in self._early_commissions.items():
            self.journal.record_commission(exec_id, commission)
        self._early_commissions.clear()
        self.store.raise_order_ids(self.journal.max_order_id())

    # -- reconciliation ----------------------------------------------------------------------
    def reconcile(self) -> None:
        """Settle the journal with IB before anything new is sent (the store calls it on every
        connect and reconnect): open orders, completed orders, executions since the journal's
        last one (booked once), then positions. Orders of this run name's earlier processes are
        resumed (or cancelled, ``cancel_orphans``); an order is declared Lost only when IB's
        open orders, completed orders and executions all lack it.

        Raises:
            ConnectionError: the connection dropped (or a request went unanswered) meanwhile;
                the store reconnects and calls this again.
        """
        if self.journal is None:
            self.check_account(self.store.accounts())
        self._hook_client()
        ib, store = self.store.ib, self.store
        open_trades = store.request("reqOpenOrders", ib.reqOpenOrdersAsync)
        completed = store.request("reqCompletedOrders", lambda: ib.reqCompletedOrdersAsync(apiOnly=True))
        fills = store.request("reqExecutions", lambda: ib.reqExecutionsAsync(self._exec_filter()))
        held = store.request("reqPositions", ib.reqPositionsAsync)
        if not ib.isConnected():
            raise ConnectionError("socket closed during reconciliation")
        with self.journal.batch():
            for fill in sorted(fills, key=lambda f: f.time):
                self._on_execution(fill.contract, fill.execution)
        view = Reconciliation(self.journal, self._account, store.client_id, self.journal.process,
                              open_trades, completed)
        for verdict in settle_orders(view):
            if verdict.unreported > _EPS:
                self._book_unreported(verdict, held)
            self._apply_verdict(verdict)
        for trade in open_trades:
            self._report_unknown(trade)
        for gap in foreign_holdings(self.journal, self._account, held):
            self._foreign(gap)
        self._sync_all_positions()
        self._needs_reconcile = False
        log.info("reconciled: %d working order(s) in the journal, positions %s", len(self.journal.working_orders()),
                 {s: size for s, size, _ in self.journal.positions().values()} or "flat")

    def on_connection_lost(self) -> None:
        """Nothing new is sent until the next :meth:`reconcile`."""
        self._needs_reconcile = True
        log.warning("broker: connection lost with %d order(s) working; nothing is sent until reconciled",
                    len(self.journal.working_orders()) if self.journal else 0)

    def _exec_filter(self) -> Any:
        last = self.journal.last_execution_time() if self.journal else None
        if last is None:
            return self.store.lib.ExecutionFilter()
        since = dt.datetime.fromtimestamp(last - 600, dt.timezone.utc)  # a margin; bookings are idempotent
        return self.store.lib.ExecutionFilter(time=since.strftime("%Y%m%d-%H:%M:%S"))

    def _apply_verdict(self, verdict: Any) -> None:
        record = verdict.record
        if verdict.trade is not None and record.client_ref not in self._by_ref:
            self._ib_orders[record.client_ref] = verdict.trade.order
            self._ref_by_id[verdict.trade.order.orderId] = record.client_ref
            if verdict.state in states.WORKING and record.client_ref not in self._resumed:
                self._resumed.add(record.client_ref)
                if self.p.cancel_orphans:
                    log.warning("open order %s (id %d) is from an earlier run: cancelling (cancel_orphans)",
                                record.client_ref, verdict.trade.order.orderId)
                    self._cancel_ref(record.client_ref)
                else:
                    log.warning("open order %s (id %d, %s %g) is from an earlier run of %r: resumed, not resent",
                                record.client_ref, verdict.trade.order.orderId, record.side, record.size,
                                self.p.run_name)
        if verdict.state != record.state:
            self._move(record.client_ref, verdict.state, verdict.why, force=True)

    def _book_unreported(self, verdict: Any, held: Any) -> None:
        """Book the shares a completed order filled whose executions IB no longer reports (one
        booking per order; its price is estimated and said so, its commission unknown)."""
        record = verdict.record
        signed = verdict.unreported if record.side == "BUY" else -verdict.unreported
        price, source = self._unreported_price(record, signed, held)
        ident = record.perm_id or getattr(verdict.trade.order, "permId", 0) or record.order_id or 0
        self.journal.book_execution(ExecutionReport(
            f"{UNREPORTED_EXEC_PREFIX}{ident}.01", record.client_ref, record.client_id, record.account,
            record.order_id or 0, record.con_id, signed, price, time.time()))
        log.error("order %s: booked %+g %s from IB's completed order at %.6g (%s; IB no longer reports its "
                  "executions, so price and commission are estimates)", record.client_ref, signed, record.symbol,
                  price, source)

    def _unreported_price(self, record: OrderRecord, signed: float, held: Any) -> tuple[float, str]:
        own, own_avg = self.journal.position(record.con_id)
        ib = next((p for p in held if p.account == self._account and p.contract.conId == record.con_id), None)
        if ib is not None and own * signed >= 0 and abs(float(ib.position) - own - signed) <= _EPS:
            ib_avg = ib.avgCost / float(ib.contract.multiplier or 1.0)
            return (float(ib.position) * ib_avg - own * own_avg) / signed, "from the account's average cost"
        limit = record.limit_price if record.limit_price is not None else record.stop_price
        if limit is not None:
            return limit, "its limit or stop price"
        data = self._data_for(record.con_id)
        if data is not None and len(data):
            return float(data.close[0]), "the last close"
        return (ib.avgCost / float(ib.contract.multiplier or 1.0) if ib is not None else 0.0,
                "the account's average cost")

    def _report_unknown(self, trade: Any) -> None:
        order = trade.order
        key = f"order:{order.permId or order.orderId}"
        if self._owned(trade) is None and key not in self._reported:
            self._reported.add(key)
            log.warning("open order %d (%s %g %s, orderRef %r) was not placed by this run: left alone, never "
                        "counted as the strategy's", order.orderId, order.action, order.totalQuantity,
                        trade.contract.symbol, order.orderRef)

    def _foreign(self, gap: Any) -> None:
        if self.p.foreign == "adopt":
            log.warning("%s: adopting the account's %+g (avg %.6g) as the strategy's position (foreign='adopt')",
                        gap.symbol, gap.held, gap.avg_price)
            self.journal.adopt_position(gap.con_id, gap.symbol, gap.held, gap.avg_price)
            return
        key = f"{gap.con_id}:{gap.foreign:g}"
        if key not in self._reported:
            self._reported.add(key)
            log.warning("%s: the account holds %+g, this strategy traded %+g: %+g are not the strategy's "
                        "(foreign='ignore': reported, never traded by it)", gap.symbol, gap.held, gap.own, gap.foreign)

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
        """The strategy's position in ``data``: what the journal booked, never the account's."""
        position = self.positions.get(data)
        if position is None:
            position = self.positions[data] = bt.Position()
            self._sync_position(data)
        return position

    def _sync_position(self, data: Any) -> None:
        contract = getattr(data, "contract", None)
        if contract is None or self.journal is None:
            return
        size, price = self.journal.position(contract.conId)
        position = self.positions.setdefault(data, bt.Position())
        if abs(position.size - size) > _EPS or abs(position.price - price) > _EPS:
            position.set(size, price)

    def _sync_all_positions(self) -> None:
        for data in self.positions:
            self._sync_position(data)

    @staticmethod
    def _multiplier(data: Any) -> float:
        contract = getattr(data, "contract", None)
        return float(getattr(contract, "multiplier", "") or 1.0)

    def _data_for(self, con_id: int) -> Any:
        for data in [*self.positions, *getattr(self.store, "feeds", [])]:
            if getattr(getattr(data, "contract", None), "conId", None) == con_id:
                return data
        return None

    # -- risk --------------------------------------------------------------------------------
    def risk_status(self) -> dict[str, object]:
        """Trading state (``active`` / ``reducing`` / ``halted``), halt reason, counts of refused and
        clipped orders, the last risk message, and the journal path."""
        return {**self.risk.status(), "journal": str(self.journal.path) if self.journal else ""}

    def _working(self, con_id: int) -> float:
        """Signed unfilled size of the working orders in a contract (bracket legs excluded)."""
        if self.journal is None:
            return 0.0
        return sum(r.remaining for r in self.journal.working_orders() if r.con_id == con_id and not r.parent_ref)

    def _resume(self) -> None:
        if self.risk.resume():
            path = f"{self.risk.limits.kill_switch}.resume"
            try:
                os.remove(path)
            except OSError:
                pass
            log.warning("resume file %s seen: trading resumed", path)

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
                trailamount, trailpercent, parent, transmit, kwargs, flatten: bool = False) -> bt.Order:
        if oco is not None or trailamount or trailpercent:
            raise ValueError("IBBroker does not support oco or trailing orders; use buy_bracket / sell_bracket")
        if not flatten and self._may_send(data):  # a decision on a backfill bar takes nothing over
            resumed = self._take_over(cls, owner, data, size, exectype, parent)
            if resumed is not None:
                return resumed
        refusal, size = self._gate(cls, data, abs(size), parent, transmit, flatten)
        # journaled and sent first; the backtrader order (~0.1 ms to build and notify) after
        sent = None if refusal else self._place(cls is bt.BuyOrder, data, size, price, plimit, exectype, valid,
                                                parent, transmit)
        order = cls(owner=owner, data=data, size=size, price=price, pricelimit=plimit, exectype=exectype,
                    valid=valid, tradeid=tradeid, parent=parent, transmit=transmit)
        order.addinfo(**kwargs)
        order.addcomminfo(self.getcommissioninfo(data))
        if sent is None:
            order.reject(self)
            self.notify(order)
            if parent is not None and parent.alive():  # a bracket without its legs must not stand
                log.warning("order %d refused: cancelling its parent %d", order.ref, parent.ref)
                self.cancel(parent)
            return order
        self._placed(order, *sent, flatten)
        return order

    def _may_send(self, data: Any) -> bool:
        """Connected, reconciled, and the feed LIVE (or ``trade_backfill``): what :meth:`_gate`
        requires before anything else."""
        return (self.journal is not None and not self._needs_reconcile and self.store.connected
                and (self.p.trade_backfill or getattr(data, "_laststatus", None) == data.LIVE))

    def _gate(self, cls, data, size: float, parent, transmit: bool, flatten: bool) -> tuple[str, float]:
        """('' or why it is refused, the size that may go out)."""
        name = data._name or str(getattr(getattr(data, "contract", None), "symbol", "data"))
        if self.journal is None or self._needs_reconcile or not self.store.connected:
            log.warning("order on %s refused: not connected and reconciled with IB", name)
            return "not connected", size
        if not (self.p.trade_backfill or flatten) and getattr(data, "_laststatus", None) != data.LIVE:
            log.info("order on %s refused: the feed is %s, not LIVE (backfill bars are history)",
                     name, data._getstatusname(data._laststatus))
            return "feed not live", size
        if parent is not None and not parent.alive() and parent.status != bt.Order.Completed:
            log.warning("order on %s: parent %d is %s; child not sent", name, parent.ref, parent.getstatusname())
            return "parent dead", size
        if flatten:
            return "", size
        con_id = data.contract.conId
        position = self.journal.position(con_id)[0]
        working = self._working(con_id)  # a bracket's parent is journaled (and counted) already
        signed = size if cls is bt.BuyOrder else -size
        decision = self.risk.check(name, signed, position, working,
                                   clip=parent is None and bool(transmit))
        return ("" if decision else decision.reason), abs(decision.size) if decision else size

    def _place(self, buy: bool, data: Any, size: float, price: Any, plimit: Any, exectype: Any, valid: Any,
               parent: Any, transmit: bool) -> tuple[str, Any, Any]:
        """Journal the order (committed), then send it: nothing else sits between the strategy's
        decision and the order on the socket. Returns (client order id, IB order, contract)."""
        contract = getattr(data, "contract", None)
        if contract is None:
            raise ValueError(f"{data._name or 'data'}: IBBroker needs an IBData feed (no qualified contract)")
        ib_order = parsing.make_order(self.store.lib, action="BUY" if buy else "SELL", size=size,
                                      exectype=exectype, price=price, plimit=plimit, valid=valid)
        ib_order.orderId = self.store.next_order_id()  # above the journal's ids: raised when it opened
        ref = self.journal.next_client_ref(self.p.order_ref)
        ib_order.orderRef = ref
        ib_order.account = self._account
        ib_order.transmit = bool(transmit)
        parent_ref = self._ref_of.get(parent.ref) if parent is not None else None
        if parent_ref is not None:
            ib_order.parentId = self._ib_orders[parent_ref].orderId
        self.journal.add_order(OrderRecord(
            ref, ib_order.orderId, None, self.store.client_id, self._account, contract.conId, contract.symbol,
            _contract_text(contract), ib_order.action, float(ib_order.totalQuantity), ib_order.orderType,
            _price(ib_order.lmtPrice), _price(ib_order.auxPrice), parent_ref, states.SUBMITTED, 0.0,
            self.journal.process))
        self._ib_orders[ref] = ib_order  # known to cancel_all before it can be working at IB
        self.store.ib.placeOrder(contract, ib_order)
        return ref, ib_order, contract

    def _placed(self, order: bt.Order, ref: str, ib_order: Any, contract: Any, flatten: bool) -> None:
        """The sent order's backtrader side (no IB event can arrive before: the loop is not run)."""
        self._track(order, ref, ib_order)
        if flatten:
            self._flatten_refs.add(ref)
        order.submit(self)
        self.notify(order)
        log.info("placed %s %s %g %s id=%d ref=%s%s%s", ib_order.action, contract.symbol, ib_order.totalQuantity,
                 ib_order.orderType, ib_order.orderId, ref, f" parent={ib_order.parentId}" if ib_order.parentId else "",
                 " (flatten)" if flatten else "")

    def _track(self, order: bt.Order, ref: str, ib_order: Any) -> None:
        self._by_ref[ref] = order
        self._ref_of[order.ref] = ref
        self._ib_orders[ref] = ib_order
        self._ref_by_id[ib_order.orderId] = ref

    def cancel(self, order: bt.Order) -> None:
        ref = self._ref_of.get(order.ref)
        if ref is not None and order.alive():
            self._cancel_ref(ref)

    def _cancel_ref(self, ref: str) -> bool:
        ib_order = self._ib_orders.get(ref)
        if ib_order is None or not self.store.connected:
            return False
        if ref not in self._cancel_requested:
            self._cancel_requested.add(ref)
            log.info("cancel id=%d ref=%s", ib_order.orderId, ref)
            self.store.ib.cancelOrder(ib_order)
        return True

    def cancel_all(self, timeout: float) -> bool:
        """Cancel every working order of this journal (this process's and resumed ones) and pump
        until IB confirms them all or ``timeout`` seconds pass; True when none is left working."""
        return self._cancel_and_wait(timeout, keep_flatten=False)

    def _cancel_and_wait(self, timeout: float, keep_flatten: bool) -> bool:
        def pending() -> list[str]:
            if self.journal is None:
                return []
            return [r.client_ref for r in self.journal.working_orders()
                    if r.client_id == self.store.client_id and r.client_ref in self._ib_orders
                    and not (keep_flatten and r.client_ref in self._flatten_refs)]

        for ref in pending():
            self._cancel_ref(ref)
        deadline = time.monotonic() + timeout
        while pending() and self.store.connected and time.monotonic() < deadline:
            self.store.pump(0.05)
        left = pending()
        if left:
            log.warning("%d order(s) still working after %.1f s of cancels: %s", len(left), timeout, ", ".join(left))
        return not left

    def flatten(self) -> None:
        """Cancel every working order, wait for the cancels, then close the journal's positions
        with market orders (split to ``max_order_size``)."""
        if self._cancel_and_wait(self.p.cancel_wait, keep_flatten=True):
            self._close_positions()

    def _enforce_flat(self) -> None:
        """While a flattening halt lasts: cancels first, then flatten, every bar until flat."""
        if self.journal is None or self._needs_reconcile or not self.store.connected:
            return
        if any(r.client_ref in self._flatten_refs for r in self.journal.working_orders()):
            return  # a flatten is on its way
        self.flatten()

    def _close_positions(self) -> None:
        for con_id, (symbol, size, _) in self.journal.positions().items():
            data = self._data_for(con_id)
            if data is None:
                key = f"noflat:{con_id}"
                if key not in self._reported:
                    self._reported.add(key)
                    log.error("cannot flatten %s %+g: no feed for it in this session", symbol, size)
                continue
            log.warning("flatten %s: %+g", symbol, size)
            for part in self.risk.split(-size):
                cls = bt.BuyOrder if part > 0 else bt.SellOrder
                self._submit(cls, None, data, abs(part), None, None, None, None, 0, None, None, None, None,
                             True, {}, flatten=True)

    def ib_order(self, order: bt.Order) -> Any:
        """The IB ``Order`` sent for a backtrader order (``None`` if it was never sent)."""
        ref = self._ref_of.get(order.ref)
        return self._ib_orders.get(ref) if ref else None

    @property
    def orders(self) -> dict[int, bt.Order]:
        """IB orderId -> bt order, for the orders of this process and the resumed ones."""
        return {self._ib_orders[ref].orderId: order for ref, order in self._by_ref.items()}

    def open_orders(self) -> list[bt.Order]:
        """bt orders still alive at IB (this process's, and resumed orders once their feed is known)."""
        return [o for o in self._by_ref.values() if o.alive()]

    # -- resumed orders ------------------------------------------------------------------------
    def _bind_resumed_orders(self) -> None:
        """Give each resumed working order a bt order once its feed is known."""
        for ref in list(self._resumed):
            if ref in self._by_ref:
                continue
            record = self.journal.order(ref) if self.journal else None
            if record is None or record.state not in states.WORKING:
                self._resumed.discard(ref)
                continue
            data = self._data_for(record.con_id)
            if data is not None and len(data):  # a bt order reads the feed's current bar
                self._resumed_order(record, data, owner=None)

    def _cancel_stale_legs(self) -> None:
        """Cancel the working stop / take-profit legs whose parent filled but whose position is
        gone (closed by the strategy or the account is flat or reversed in that contract): such
        a leg would open a new position. After a restart the strategy does not know the legs it
        resumed, so its own exit cannot cancel them."""
        if self.journal is None or self._needs_reconcile or not self.store.connected:
            return
        for record in self.journal.working_orders():
            if not record.parent_ref or record.client_ref not in self._ib_orders \
                    or record.client_ref in self._cancel_requested:
                continue
            parent = self.journal.order(record.parent_ref)
            if parent is None or parent.state != states.FILLED:
                continue  # still waiting for its entry
            protected = self.journal.position(record.con_id)[0] * (1.0 if record.side == "SELL" else -1.0)
            if protected <= _EPS:
                log.warning("bracket leg %s (%s %g %s) protects a position that is closed: cancelled (it would "
                            "open a new one)", record.client_ref, record.side, abs(record.remaining), record.symbol)
                self._cancel_ref(record.client_ref)

    def _resumed_order(self, record: OrderRecord, data: Any, owner: Any) -> bt.Order:
        cls = bt.BuyOrder if record.side == "BUY" else bt.SellOrder
        price = record.limit_price if record.order_type in ("LMT",) else record.stop_price
        order = cls(owner=owner, data=data, size=record.size - record.filled, price=price,
                    pricelimit=record.limit_price if record.order_type == "STP LMT" else None,
                    exectype=_EXECTYPES.get(record.order_type, bt.Order.Market))
        order.addcomminfo(self.getcommissioninfo(data))
        self._track(order, record.client_ref, self._ib_orders[record.client_ref])
        order.submit(self)
        order.accept(self)
        self.notify(order)
        return order

    def _take_over(self, cls, owner, data, size, exectype, parent) -> bt.Order | None:
        """A strategy order the same as a resumed working order (feed, side, type, size) is that
        order: returned instead of sending a second one."""
        if not self._resumed or parent is not None or getattr(data, "contract", None) is None:
            return None
        side = "BUY" if cls is bt.BuyOrder else "SELL"
        kind = parsing.ORDER_TYPES.get(bt.Order.Market if exectype is None else exectype)
        for ref in list(self._resumed):
            record = self.journal.order(ref)
            if (record is None or record.state not in states.WORKING or record.con_id != data.contract.conId
                    or record.side != side or record.order_type != kind
                    or abs(record.size - record.filled - abs(size)) > _EPS):
                continue
            self._resumed.discard(ref)
            order = self._by_ref.get(ref)
            if order is None:
                order = self._resumed_order(record, data, owner)
            order.owner = owner
            log.warning("%s %g on %s: the same order from an earlier run is working (%s): taken over, not resent",
                        side, abs(size), data._name or "data", ref)
            return order
        return None

    # -- IB events ---------------------------------------------------------------------------
    def _hook_client(self) -> None:
        """See every execution and commission report IB sends (live and from reqExecutions),
        before the client library decides whether to emit an event for it."""
        ib = self.store.ib
        if self._hooked is ib:
            return
        self._hooked = ib
        wrapper = ib.wrapper
        exec_details, commission_report = wrapper.execDetails, wrapper.commissionReport

        def on_exec_details(req_id: int, contract: Any, execution: Any) -> None:
            exec_details(req_id, contract, execution)
            self._on_execution(contract, execution)

        def on_commission_report(report: Any) -> None:
            self._on_commission(report.execId, report.commission)
            commission_report(report)

        wrapper.execDetails, wrapper.commissionReport = on_exec_details, on_commission_report

    def _owned(self, trade: Any) -> OrderRecord | None:
        order = trade.order
        if self.journal is None or not order.orderRef:
            return None
        return self.journal.owns(order.orderRef, order.clientId, self._account)

    def _on_status(self, trade: Any) -> None:
        record = self._owned(trade)
        if record is None:
            return
        status = trade.orderStatus.status
        if status in _IB_FINAL:
            target = _IB_FINAL[status]
            code = trade.log[-1].errorCode if trade.log else 0
            if code in parsing.REJECT_CODES:
                target = states.REJECTED
            self._end(record, target, f"{status} {code or ''}".strip())
        elif parsing.order_status(status) == bt.Order.Accepted and record.state == states.SUBMITTED:
            self._move(record.client_ref, states.ACCEPTED, status)

    def _end(self, record: OrderRecord, target: str, why: str) -> None:
        order = self._by_ref.get(record.client_ref)
        if target == states.CANCELLED and order is not None and order.valid \
                and record.client_ref not in self._cancel_requested:
            target = states.EXPIRED
        if record.state in states.FINAL:
            return
        self._move(record.client_ref, target, why)
        if target == states.REJECTED:
            log.warning("order %s rejected (%s)", record.client_ref, why)
            self.risk.record_reject()

    def on_error(self, req_id: int, code: int, message: str) -> bool:
        ref = self._ref_by_id.get(req_id)
        if ref is None or self.journal is None:
            return False
        log.warning("order %d (%s): IB error %d: %s", req_id, ref, code, message)
        record = self.journal.order(ref)
        if record is not None and record.state in states.WORKING:
            if code in parsing.REJECT_CODES:
                self._end(record, states.REJECTED, f"error {code}")
            elif code in parsing.CANCEL_CODES:
                self._end(record, states.CANCELLED, f"error {code}")
        return True

    def _move(self, ref: str, target: str, why: str, force: bool = False) -> None:
        """Journal a state change (legal ones only; ``force`` is reconciliation's settled state)
        and mirror it on the bt order."""
        record = self.journal.order(ref)
        if record is None:
            return
        step = states.transition(record.state, target)
        if not step.legal and not force:
            ib_final = record.state if record.state in states.FINAL else None
            settled = states.settle(record.state, record.filled, record.size, ib_final)
            log.warning("order %s: illegal %s -> %s (%s): settled to %s from its fills", ref, record.state,
                        target, why, settled)
            target = settled
        if target != record.state:
            self.journal.set_state(ref, target, why)
        self._mirror(ref, target)

    def _mirror(self, ref: str, state: str) -> None:
        order = self._by_ref.get(ref)
        if order is None or not order.alive():
            return
        if state == states.ACCEPTED and order.status == bt.Order.Submitted:
            order.accept(self)
        elif state == states.CANCELLED:
            log.info("order %s cancelled", ref)
            order.cancel()
        elif state == states.EXPIRED:
            log.info("order %s expired", ref)
            order.status = bt.Order.Expired  # Order.expire() only works on backtest time
        elif state in (states.REJECTED, states.LOST):
            order.reject(self)
        else:
            return
        self.notify(order)

    def _on_execution(self, contract: Any, execution: Any) -> None:
        if self.journal is None:
            return  # before the first reconciliation, which asks IB for the executions again
        report = ExecutionReport(
            execution.execId, execution.orderRef or "", execution.clientId, execution.acctNumber,
            execution.orderId, contract.conId, execution.shares if execution.side == "BOT" else -execution.shares,
            execution.price, _epoch(execution.time))
        before = self.journal.position(contract.conId)
        with self.journal.batch():  # the booking and the state change it causes: one transaction
            booking = self.journal.book_execution(report)
            if booking.kind in ("foreign", "duplicate"):
                return
            record = self.journal.order(booking.client_ref)
            if booking.kind != "correction":
                self._move(record.client_ref, states.after_fill(record.filled, record.size), f"fill {report.exec_id}")
        data = self._data_for(contract.conId)
        if data is not None:
            self._sync_position(data)
        if booking.kind == "correction":
            log.warning("execution correction %s on %s: %+g shares, price %.6g; position now %+g (replaces the "
                        "first report, never adds)", report.exec_id, record.symbol, booking.delta, report.price,
                        booking.position)
            return
        log.info("fill %s %+g @ %.6g %s (%s): position %+g", report.exec_id, report.shares, report.price,
                 record.symbol, record.client_ref, booking.position)
        order = self._by_ref.get(record.client_ref)
        if order is None:
            return
        self._awaiting[report.exec_id] = _PendingFill(order, before, report.shares, report.price,
                                                      bt.date2num(_utc(execution.time)), time.monotonic())
        if booking.commission is not None:
            self._notify_fill(report.exec_id, booking.commission)

    def _on_commission(self, exec_id: str, commission: float) -> None:
        if self.journal is None:
            self._early_commissions[exec_id] = commission
            while len(self._early_commissions) > _EARLY_COMMISSIONS_KEPT:
                self._early_commissions.popitem(last=False)
            return
        self.journal.record_commission(exec_id, commission)
        if exec_id in self._awaiting:
            self._notify_fill(exec_id, commission)

    def _flush_stale_fills(self) -> None:
        now = time.monotonic()
        for exec_id, pending in list(self._awaiting.items()):
            if now - pending.since >= self.p.commission_wait:
                log.warning("no commission report for %s after %.0f s: notified with 0 commission (the journal "
                            "attaches it if it comes)", exec_id, now - pending.since)
                self._notify_fill(exec_id, 0.0)

    def _notify_fill(self, exec_id: str, commission: float) -> None:
        pending = self._awaiting.pop(exec_id)
        order = pending.order
        if not order.alive():
            log.warning("fill %s on %s order %d: booked in the journal; the bt order stays %s", exec_id,
                        order.getstatusname(), order.ref, order.getstatusname())
            return
        _execute(order, pending, commission)
        self.notify(order)


def _execute(order: bt.Order, fill: _PendingFill, commission: float) -> None:
    """Apply one execution to a bt order the way backtrader's own broker does, with IB's
    commission split between the closing and the opening part by size. The position is the
    journal's (already moved); a scratch copy of it before the fill gives the split."""
    scratch = bt.Position(*fill.before)
    old_price = scratch.price
    psize, pprice, opened, closed = scratch.update(fill.size, fill.price)
    comminfo = order.comminfo
    closed_comm = commission * abs(closed) / abs(fill.size) if fill.size else 0.0
    order.execute(fill.when, fill.size, fill.price,
                  closed, comminfo.getoperationcost(closed, old_price), closed_comm,
                  opened, comminfo.getoperationcost(opened, fill.price), commission - closed_comm,
                  comminfo.getvaluesize(fill.size, fill.price), comminfo.profitandloss(-closed, old_price, fill.price),
                  psize, pprice)
    if abs(order.executed.remsize) < _EPS:
        order.completed()
    else:
        order.partial()


def _utc(when: Any) -> dt.datetime:
    if isinstance(when, dt.datetime):
        return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc) \
            .replace(tzinfo=None)
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _epoch(when: Any) -> float:
    return _utc(when).replace(tzinfo=dt.timezone.utc).timestamp()


def _price(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and abs(value) < 1e300 else None


def _contract_text(contract: Any) -> str:
    parts = [contract.symbol, contract.secType, contract.exchange or "", contract.currency or "",
             getattr(contract, "lastTradeDateOrContractMonth", "") or ""]
    return ":".join(parts).rstrip(":")
