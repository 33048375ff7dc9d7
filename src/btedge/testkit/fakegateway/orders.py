"""Order book, fill engine and account ledger of the fake gateway (no I/O).

Every state change returns a list of events (:class:`OrderUpdate`, :class:`Filled`,
:class:`Cancelled`, :class:`OrderError`); the server turns them into TWS messages. Orders are
keyed by ``(clientId, orderId)`` and kept across connections, as TWS does.

Fill rules of the auto-fill mode (:meth:`OrderBook.on_bar`), applied to each newly pushed bar:

- ``MKT``: fills at the bar's open.
- ``LMT`` buy: fills when ``low <= limit`` at ``min(open, limit)``; sell mirrors it.
- ``STP`` buy: triggers when ``high >= stop`` and fills at ``max(open, stop)``; sell mirrors it.
- ``STP LMT``: triggers as a stop, then fills like a limit at ``min(max(open, stop), limit)`` (buy).
- Bracket children become active when their parent has filled, from the *next* bar on; a filled
  child cancels its siblings (IB's implicit OCA), as does a fill in a shared ``ocaGroup``.
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable, Union

from .bars import Bar
from .contracts import Instrument

log = logging.getLogger(__name__)

ORDER_TYPES = ("MKT", "LMT", "STP", "STP LMT")
ACTIVE = ("PendingSubmit", "PreSubmitted", "Submitted")
DONE = ("Filled", "Cancelled", "ApiCancelled", "Inactive")


@dataclass
class Order:
    """One order as TWS tracks it."""

    client_id: int
    order_id: int
    perm_id: int
    instrument: Instrument
    action: str
    quantity: float
    order_type: str
    lmt_price: float | None = None
    aux_price: float | None = None
    tif: str = "DAY"
    oca_group: str = ""
    account: str = ""
    order_ref: str = ""
    parent_id: int = 0
    transmit: bool = True
    outside_rth: bool = False
    status: str = "PendingSubmit"
    filled: float = 0.0
    avg_fill_price: float = 0.0
    last_fill_price: float = 0.0
    triggered: bool = False
    active_from: int = 0
    completed_time: str = ""
    completed_status: str = ""

    @property
    def key(self) -> tuple[int, int]:
        """``(clientId, orderId)``."""
        return (self.client_id, self.order_id)

    @property
    def remaining(self) -> float:
        """Quantity still to fill."""
        return max(self.quantity - self.filled, 0.0)

    @property
    def is_active(self) -> bool:
        """Working (or waiting for its parent): not filled, cancelled or rejected."""
        return self.status in ACTIVE

    @property
    def side(self) -> int:
        """+1 for BUY, -1 for SELL."""
        return 1 if self.action == "BUY" else -1


@dataclass
class Execution:
    """One fill (``execDetails``) with its commission (``commissionReport``)."""

    exec_id: str
    order: Order
    time: int
    shares: float
    price: float
    cum_qty: float
    avg_price: float
    commission: float
    realized_pnl: float | None


@dataclass
class Position:
    """A position of one account in one instrument."""

    account: str
    instrument: Instrument
    quantity: float = 0.0
    avg_cost: float = 0.0


@dataclass(frozen=True)
class OrderUpdate:
    """The order's state changed: send openOrder + orderStatus."""

    order: Order


@dataclass(frozen=True)
class Filled:
    """An execution happened: send execDetails, orderStatus, commissionReport, account updates."""

    execution: Execution


@dataclass(frozen=True)
class Cancelled:
    """The order was cancelled: send orderStatus(Cancelled) and, when ``code``, an error."""

    order: Order
    code: int | None = 202
    reason: str = ""


@dataclass(frozen=True)
class OrderError:
    """An error about an order id (201 reject, 103 duplicate id, 135 unknown order, …)."""

    client_id: int
    order_id: int
    code: int
    message: str
    order: Order | None = None


Event = Union[OrderUpdate, Filled, Cancelled, OrderError]


@dataclass
class CommissionModel:
    """IB-like fixed-rate commissions: per share (stocks), per contract (futures), % (FX, crypto)."""

    per_share: float = 0.005
    minimum: float = 1.0
    max_pct: float = 0.01
    per_contract: float = 2.25
    pct_of_value: float = 0.0018

    def __call__(self, instrument: Instrument, shares: float, price: float) -> float:
        value = abs(shares) * price * instrument.multiplier_value
        if instrument.sec_type == "FUT":
            return round(abs(shares) * self.per_contract, 2)
        if instrument.sec_type in ("CASH", "CRYPTO"):
            return round(max(value * self.pct_of_value, self.minimum), 2)
        fee = max(abs(shares) * self.per_share, self.minimum)
        return round(min(fee, value * self.max_pct) if value else fee, 2)


@dataclass
class PlaceRequest:
    """The parsed prefix of a placeOrder message (what the engine needs)."""

    client_id: int
    order_id: int
    instrument: Instrument
    action: str
    quantity: float
    order_type: str
    lmt_price: float | None
    aux_price: float | None
    tif: str = "DAY"
    oca_group: str = ""
    account: str = ""
    order_ref: str = ""
    transmit: bool = True
    parent_id: int = 0
    outside_rth: bool = False


class Ledger:
    """Cash, realized P&L and positions of the paper account(s)."""

    def __init__(self, account: str, cash: float, currency: str = "USD") -> None:
        self.account = account
        self.currency = currency
        self.cash = cash
        self.realized_pnl = 0.0
        self.positions: dict[tuple[str, int], Position] = {}

    def position(self, account: str, instrument: Instrument) -> Position:
        """The (possibly flat) position of ``account`` in ``instrument``."""
        key = (account, instrument.con_id)
        if key not in self.positions:
            self.positions[key] = Position(account, instrument)
        return self.positions[key]

    def apply_fill(self, account: str, instrument: Instrument, signed_qty: float, price: float,
                   commission: float) -> float | None:
        """Book a fill; returns the realized P&L it closed (net of commission), None if it closed nothing."""
        pos = self.position(account, instrument)
        mult = instrument.multiplier_value
        realized = -commission
        closing = bool(pos.quantity) and (pos.quantity > 0) != (signed_qty > 0)
        if closing:
            closed = min(abs(signed_qty), abs(pos.quantity))
            per_unit_cost = pos.avg_cost / mult
            realized += closed * (price - per_unit_cost) * mult * (1 if pos.quantity > 0 else -1)
        new_qty = pos.quantity + signed_qty
        if new_qty == 0:
            pos.avg_cost = 0.0
        elif pos.quantity == 0 or (pos.quantity > 0) != (new_qty > 0):
            pos.avg_cost = price * mult
        elif abs(new_qty) > abs(pos.quantity):
            pos.avg_cost = (pos.avg_cost * abs(pos.quantity) + price * mult * abs(signed_qty)) / abs(new_qty)
        pos.quantity = new_qty
        self.cash -= signed_qty * price * mult + commission
        self.realized_pnl += realized
        return realized if closing else None

    def account_values(self, prices: Callable[[Instrument], float]) -> dict[str, float]:
        """Account tags computed from cash and positions marked at ``prices``."""
        gross = sum(abs(p.quantity) * prices(p.instrument) * p.instrument.multiplier_value
                    for p in self.positions.values())
        market = sum(p.quantity * prices(p.instrument) * p.instrument.multiplier_value
                     for p in self.positions.values())
        unrealized = sum(p.quantity * prices(p.instrument) * p.instrument.multiplier_value
                         - p.quantity * p.avg_cost for p in self.positions.values())
        net = self.cash + market
        margin = 0.25 * gross
        return {
            "NetLiquidation": net, "TotalCashValue": self.cash, "TotalCashBalance": self.cash,
            "CashBalance": self.cash, "GrossPositionValue": gross, "StockMarketValue": market,
            "EquityWithLoanValue": net, "AvailableFunds": net - margin, "ExcessLiquidity": net - margin,
            "BuyingPower": 4 * (net - margin), "InitMarginReq": margin, "MaintMarginReq": margin,
            "UnrealizedPnL": unrealized, "RealizedPnL": self.realized_pnl,
        }


class OrderBook:
    """Orders, executions and the ledger; every mutator returns the events to send."""

    def __init__(self, ledger: Ledger, commission: CommissionModel | None = None,
                 prices: Callable[[Instrument], float] | None = None,
                 clock: Callable[[], int] | None = None) -> None:
        self.ledger = ledger
        self.commission = commission or CommissionModel()
        self.prices = prices or (lambda inst: 0.0)
        self.clock = clock or (lambda: 0)
        self.orders: dict[tuple[int, int], Order] = {}
        self.held: dict[tuple[int, int], Order] = {}
        self.executions: list[Execution] = []
        self.race_fills: set[tuple[int, int]] = set()  # (clientId, orderId) whose cancel will lose
        self._perm_ids = itertools.count(1_000_001)
        self._exec_seq = itertools.count(1)
        self.bar_index = 0

    # ---- queries -------------------------------------------------------------------------
    def next_order_id(self, client_id: int, floor: int = 1) -> int:
        """One above the highest orderId this client has used (at least ``floor``)."""
        used = [oid for (cid, oid) in itertools.chain(self.orders, self.held) if cid == client_id]
        return max([floor, *(oid + 1 for oid in used)])

    def open_orders(self, client_id: int | None = None) -> list[Order]:
        """Working orders (of one client, or all when ``client_id`` is None or 0)."""
        return [o for o in self.orders.values()
                if o.is_active and (not client_id or o.client_id == client_id)]

    def completed_orders(self) -> list[Order]:
        """Filled, cancelled and rejected orders."""
        return [o for o in self.orders.values() if not o.is_active]

    def find(self, order_id: int, client_id: int | None = None) -> Order:
        """The transmitted order with this id (``KeyError`` naming what exists otherwise)."""
        hits = [o for (cid, oid), o in self.orders.items()
                if oid == order_id and (client_id is None or cid == client_id)]
        if len(hits) != 1:
            known = ", ".join(f"{cid}:{oid}" for cid, oid in self.orders) or "none"
            why = "no" if not hits else f"{len(hits)} (pass client_id)"
            raise KeyError(f"{why} order with orderId {order_id}; known clientId:orderId: {known}")
        return hits[0]

    # ---- placement -----------------------------------------------------------------------
    def place(self, req: PlaceRequest) -> list[Event]:
        """A placeOrder: new order, modification, held bracket leg, or an error."""
        key = (req.client_id, req.order_id)
        existing = self.orders.get(key)
        if existing is not None:
            return self._modify(existing, req)
        if req.order_type not in ORDER_TYPES:
            return [OrderError(req.client_id, req.order_id, 387,
                               f"Unsupported order type {req.order_type!r} in the fake gateway")]
        if req.quantity <= 0:
            return [OrderError(req.client_id, req.order_id, 434, "The order size cannot be zero")]
        if req.order_type in ("LMT", "STP LMT") and req.lmt_price is None:
            return [OrderError(req.client_id, req.order_id, 110, "The price does not conform to the "
                               "minimum price variation for this contract (limit price missing)")]
        if req.order_type in ("STP", "STP LMT") and req.aux_price is None:
            return [OrderError(req.client_id, req.order_id, 110, "Stop price missing")]
        order = Order(req.client_id, req.order_id, next(self._perm_ids), req.instrument, req.action,
                      req.quantity, req.order_type, req.lmt_price, req.aux_price, req.tif, req.oca_group,
                      req.account or self.ledger.account, req.order_ref, req.parent_id, req.transmit,
                      req.outside_rth, active_from=self.bar_index + 1)
        if not req.transmit:
            self.held[key] = order
            return []
        return self._activate_family(order)

    def _activate_family(self, order: Order) -> list[Event]:
        root = order.parent_id or order.order_id
        family = [o for k, o in list(self.held.items())
                  if k[0] == order.client_id and (o.order_id == root or o.parent_id == root)]
        for member in family:
            del self.held[member.key]
        events: list[Event] = []
        for member in sorted([*family, order], key=lambda o: o.order_id):
            self.orders[member.key] = member
            member.status = "PreSubmitted"
            events.append(OrderUpdate(member))
            if not self._waiting_for_parent(member):
                member.status = "Submitted"
                events.append(OrderUpdate(member))
        return events

    def _waiting_for_parent(self, order: Order) -> bool:
        parent = self.orders.get((order.client_id, order.parent_id)) if order.parent_id else None
        return parent is not None and parent.status != "Filled"

    def _modify(self, order: Order, req: PlaceRequest) -> list[Event]:
        if not order.is_active:
            return [OrderError(req.client_id, req.order_id, 103, "Duplicate order id")]
        if req.quantity < order.filled:
            return [OrderError(req.client_id, req.order_id, 10147,
                               f"New quantity {req.quantity} is below the filled {order.filled}")]
        order.quantity, order.lmt_price, order.aux_price = req.quantity, req.lmt_price, req.aux_price
        order.order_type, order.tif, order.order_ref = req.order_type, req.tif, req.order_ref
        return [OrderUpdate(order)]

    # ---- control -------------------------------------------------------------------------
    def cancel(self, order: Order, code: int | None = 202, reason: str = "") -> list[Event]:
        """Cancel an order and its untriggered children (an order in :attr:`race_fills` fills
        instead, as when a cancel loses the race against the market)."""
        if order.key in self.race_fills and order.is_active:
            self.race_fills.discard(order.key)
            return self.fill(order) + [OrderError(order.client_id, order.order_id, 161, "Cancel attempted when "
                                                  "order is not in a cancellable state: Filled")]
        if not order.is_active:
            return [OrderError(order.client_id, order.order_id, 161,
                               f"Cancel attempted when order is not in a cancellable state: {order.status}")]
        order.status = "Cancelled"
        order.completed_status = reason or "Cancelled by request"
        order.completed_time = self._time_text()
        events: list[Event] = [Cancelled(order, code, reason)]
        for child in self._children(order):
            events += self.cancel(child, code, "parent cancelled")
        return events

    def cancel_unknown(self, client_id: int, order_id: int) -> list[Event]:
        """A cancelOrder for an id with no working order."""
        if (client_id, order_id) in self.held:
            order = self.held.pop((client_id, order_id))
            order.status = "Cancelled"
            self.orders[order.key] = order
            return [Cancelled(order)]
        return [OrderError(client_id, order_id, 135, f"Can't find order with id ={order_id}")]

    def reject(self, order: Order, reason: str = "rejected by the fake gateway") -> list[Event]:
        """Reject a working order with error 201 (status Inactive)."""
        order.status = "Inactive"
        order.completed_status = reason
        order.completed_time = self._time_text()
        events: list[Event] = [OrderError(order.client_id, order.order_id, 201,
                                          f"Order rejected - reason:{reason}", order)]
        for child in self._children(order):
            events += self.cancel(child, None, "parent rejected")
        return events

    def fill(self, order: Order, quantity: float | None = None, price: float | None = None) -> list[Event]:
        """Execute ``quantity`` (default: all that remains) at ``price`` (default: a natural price)."""
        if not order.is_active:
            raise ValueError(f"order {order.client_id}:{order.order_id} is {order.status}, not working")
        if self._waiting_for_parent(order):
            raise ValueError(f"order {order.order_id} waits for its parent {order.parent_id} to fill")
        qty = order.remaining if quantity is None else float(quantity)
        if not 0 < qty <= order.remaining:
            raise ValueError(f"quantity={quantity}: must be > 0 and <= the remaining {order.remaining}")
        px = self._natural_price(order) if price is None else float(price)
        return self._execute(order, qty, px)

    def _natural_price(self, order: Order) -> float:
        if order.order_type == "LMT" and order.lmt_price is not None:
            return order.lmt_price
        last = self.prices(order.instrument)
        if last:
            return last
        return order.aux_price or order.lmt_price or 0.0

    def _execute(self, order: Order, qty: float, price: float) -> list[Event]:
        commission = self.commission(order.instrument, qty, price)
        realized = self.ledger.apply_fill(order.account, order.instrument, order.side * qty, price, commission)
        order.avg_fill_price = (order.avg_fill_price * order.filled + price * qty) / (order.filled + qty)
        order.filled += qty
        order.last_fill_price = price
        seq = next(self._exec_seq)
        execution = Execution(f"0000e0d5.{order.perm_id:08x}.{seq:02d}.01", order, self.clock(), qty,
                              price, order.filled, order.avg_fill_price, commission, realized)
        self.executions.append(execution)
        events: list[Event] = [Filled(execution)]
        if order.remaining <= 1e-12:
            order.status = "Filled"
            order.completed_time = self._time_text()
            order.completed_status = "Filled"
            events += self._after_complete_fill(order)
        return events

    def _after_complete_fill(self, order: Order) -> list[Event]:
        events: list[Event] = []
        for child in self._children(order):
            child.status = "Submitted"
            child.active_from = self.bar_index + 1
            events.append(OrderUpdate(child))
        siblings = [o for o in self.orders.values() if o is not order and o.is_active and (
            (order.parent_id and o.parent_id == order.parent_id and o.client_id == order.client_id)
            or (order.oca_group and o.oca_group == order.oca_group))]
        for sibling in siblings:
            events += self.cancel(sibling, None, "OCA group fill")
        return events

    def _children(self, order: Order) -> list[Order]:
        return [o for o in self.orders.values()
                if o.client_id == order.client_id and o.parent_id == order.order_id and o.is_active]

    def _time_text(self) -> str:
        return datetime.fromtimestamp(self.clock(), timezone.utc).strftime("%Y%m%d %H:%M:%S UTC")

    # ---- corrections and holdings --------------------------------------------------------
    def correct(self, execution: Execution, shares: float | None = None, price: float | None = None) -> list[Event]:
        """An execution correction: the same execId base with the next suffix, replacing
        ``execution`` (``shares`` / ``price`` default to the original's). The ledger and the order
        move by the difference; the original stays in the execution history, as IB reports both."""
        base, _, suffix = execution.exec_id.rpartition(".")
        new_shares = execution.shares if shares is None else float(shares)
        new_price = execution.price if price is None else float(price)
        order = execution.order
        commission = self.commission(order.instrument, new_shares, new_price)
        self.ledger.apply_fill(order.account, order.instrument, -order.side * execution.shares, execution.price,
                               -execution.commission)
        self.ledger.apply_fill(order.account, order.instrument, order.side * new_shares, new_price, commission)
        order.filled += new_shares - execution.shares
        corrected = Execution(f"{base}.{int(suffix) + 1:02d}", order, self.clock(), new_shares, new_price,
                              order.filled, order.avg_fill_price, commission, None)
        self.executions.append(corrected)
        return [Filled(corrected)]

    def hold(self, account: str, instrument: Instrument, quantity: float, avg_cost: float) -> Position:
        """Set a position the account holds without any API order (bought by hand before start)."""
        position = self.ledger.position(account, instrument)
        position.quantity, position.avg_cost = float(quantity), float(avg_cost) * instrument.multiplier_value
        return position

    # ---- auto-fill -----------------------------------------------------------------------
    def on_bar(self, instrument: Instrument, bar: Bar) -> list[Event]:
        """Fill the working orders of ``instrument`` that this new bar reaches (auto-fill mode)."""
        events: list[Event] = []
        for order in list(self.orders.values()):
            if (not order.is_active or order.instrument.con_id != instrument.con_id
                    or order.status != "Submitted" or order.active_from > self.bar_index):
                continue
            price = self.touch_price(order, bar)
            if price is not None and order.is_active:
                events += self._execute(order, order.remaining, price)
        return events

    def touch_price(self, order: Order, bar: Bar) -> float | None:
        """The price at which ``bar`` fills ``order``, or None (may mark a stop as triggered)."""
        buy = order.side > 0
        if order.order_type in ("STP", "STP LMT") and not order.triggered:
            stop = float(order.aux_price or 0.0)
            if (buy and bar.high >= stop) or (not buy and bar.low <= stop):
                order.triggered = True
                trigger_px = max(bar.open, stop) if buy else min(bar.open, stop)
                if order.order_type == "STP":
                    return trigger_px
                limit = float(order.lmt_price or 0.0)
                if (buy and trigger_px <= limit) or (not buy and trigger_px >= limit):
                    return trigger_px
            return None
        if order.order_type == "MKT":
            return bar.open
        limit = float(order.lmt_price or 0.0)
        if buy and bar.low <= limit:
            return min(bar.open, limit)
        if not buy and bar.high >= limit:
            return max(bar.open, limit)
        return None

    def executions_for(self, client_id: int = 0, symbol: str = "", side: str = "",
                       since: int | None = None) -> Iterable[Execution]:
        """Executions matching a reqExecutions filter (0 / '' mean any)."""
        for ex in self.executions:
            if client_id and ex.order.client_id != client_id:
                continue
            if symbol and ex.order.instrument.symbol.upper() != symbol.upper():
                continue
            if side and side.upper()[:1] != ex.order.action[:1]:
                continue
            if since is not None and ex.time < since:
                continue
            yield ex
