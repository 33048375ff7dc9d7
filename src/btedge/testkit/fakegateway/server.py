"""The asyncio TWS server: connections, request handlers, subscriptions and event fan-out.

Everything here runs on one event loop (the gateway's own thread when started through
:class:`~btedge.testkit.fakegateway.control.FakeGateway`). Handlers are synchronous: each decodes
one client message, updates state and writes the answers. Control methods (``push_bars``,
``fill``, ``inject_error``…) are plain methods too; ``control.py`` calls them on the loop.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from . import messages as msg
from .bars import Bar, BarScript, aggregate, bar_size_seconds, duration_seconds, parse_time
from .contracts import Instrument, InstrumentRegistry
from .orders import (
    Cancelled,
    CommissionModel,
    Event,
    Execution,
    Filled,
    Ledger,
    Order,
    OrderBook,
    OrderError,
    OrderUpdate,
    PlaceRequest,
)
from .protocol import (
    API_MAGIC,
    MAX_SERVER_VERSION,
    MIN_SERVER_VERSION,
    ClientMessage,
    In,
    ProtocolError,
    decode_client_message,
    encode_frame,
    frame_length,
    negotiate_version,
    parse_handshake,
    split_payload,
)

log = logging.getLogger(__name__)

ERROR_TEXT = {
    162: "Historical Market Data Service error message:API historical data query cancelled",
    200: "No security definition has been found for the request",
    201: "Order rejected - reason:",
    202: "Order Canceled - reason:",
    326: "Unable to connect as the client id is already in use. Retry with a unique client id.",
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    1101: "Connectivity between IB and TWS has been restored- data lost.",
    1102: "Connectivity between IB and TWS has been restored- data maintained.",
    2104: "Market data farm connection is OK:usfarm",
    2106: "HMDS data farm connection is OK:ushmds",
    2158: "Sec-def data farm connection is OK:secdefil",
    10182: "Failed to request live updates (disconnected).",
}
COMMISSION_TIMINGS = ("after", "before", "manual")
SUMMARY_EXTRA = {"AccountType": ("INDIVIDUAL", ""), "Cushion": ("1", ""), "DayTradesRemaining": ("-1", ""),
                 "Leverage": ("0", ""), "SettledCash": (None, "USD"), "AccruedCash": ("0", "USD")}


@dataclass
class GatewayConfig:
    """Behaviour switches of the fake gateway (settable at run time through ``FakeGateway.configure``;
    ``record_limit`` and ``cash`` only take effect at construction)."""

    accounts: tuple[str, ...] = ("DU1234567",)
    server_version: int | None = None
    initial_order_id: int = 1
    cash: float = 1_000_000.0
    auto_fill: bool = False
    forming_bar: bool = True
    commission_timing: str = "after"
    order_status_on_fill: bool = True
    reject_sends_inactive: bool = False
    farm_status: bool = True
    next_valid_id_override: int | None = None
    clock_offset: float = 0.0
    commission_on_req_executions: bool = True
    record_limit: int | None = 100_000

    def __post_init__(self) -> None:
        if not self.accounts or not all(self.accounts):
            raise ValueError("accounts: give at least one non-empty account id, e.g. ('DU1234567',)")
        if self.commission_timing not in COMMISSION_TIMINGS:
            raise ValueError(f"commission_timing={self.commission_timing!r}: expected one of {COMMISSION_TIMINGS}")
        if self.server_version is not None and not 100 <= self.server_version <= MAX_SERVER_VERSION:
            raise ValueError(f"server_version={self.server_version}: expected {MIN_SERVER_VERSION}.."
                             f"{MAX_SERVER_VERSION} (100..156 only to test that clients refuse it), "
                             "or None to negotiate")


@dataclass
class HistoricalSubscription:
    """A ``keepUpToDate`` historical request kept open on one session."""

    req_id: int
    instrument: Instrument
    bar_seconds: int
    format_date: int


@dataclass
class Session:
    """One client connection."""

    writer: asyncio.StreamWriter
    server_version: int
    client_id: int | None = None
    positions: bool = False
    account_updates: str = ""
    account_multi: dict[int, str] = field(default_factory=dict)
    historical: dict[int, HistoricalSubscription] = field(default_factory=dict)
    realtime: dict[int, Instrument] = field(default_factory=dict)
    market_data: dict[int, Instrument] = field(default_factory=dict)

    def send(self, fields: list[object]) -> None:
        """Write one framed message (dropped silently when the socket is closing)."""
        if not self.writer.is_closing():
            self.writer.write(encode_frame(fields))


class GatewayServer:
    """The fake TWS: serve instruments and bar scripts, keep orders and the account."""

    def __init__(self, config: GatewayConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or GatewayConfig()
        self.host, self.port = host, port
        self.registry = InstrumentRegistry()
        self.scripts: dict[int, BarScript] = {}
        self.ledger = Ledger(self.config.accounts[0], self.config.cash)
        self.book = OrderBook(self.ledger, CommissionModel(), self.last_price, self.now)
        self.sessions: list[Session] = []
        self.recorded: deque[ClientMessage] = deque(maxlen=self.config.record_limit)
        self.pending_failures: dict[str, list[tuple[int, str]]] = {}
        self.held_commissions: list[Execution] = []
        #: request faults: message name -> [how many to let through first, how many to hit]
        self.unanswered: dict[str, list[int]] = {}
        self.drop_on: dict[str, list[int]] = {}
        #: (session id, reqId) of streams silenced without an error; orders placed silently
        self.silenced: set[tuple[int, int]] = set()
        self.silent_orders = 0
        self._server: asyncio.AbstractServer | None = None
        self._refuse_until = 0.0
        self._handlers: dict[int, Callable[[Session, ClientMessage], None]] = {
            In.START_API: self._on_start_api,
            In.REQ_IDS: self._on_req_ids,
            In.REQ_CURRENT_TIME: lambda s, m: s.send(msg.current_time(int(self.now() + self.config.clock_offset))),
            In.REQ_MANAGED_ACCTS: lambda s, m: s.send(msg.managed_accounts(self.config.accounts)),
            In.REQ_CONTRACT_DETAILS: self._on_req_contract_details,
            In.REQ_HISTORICAL_DATA: self._on_req_historical_data,
            In.CANCEL_HISTORICAL_DATA: lambda s, m: s.historical.pop(m.int("reqId"), None),
            In.REQ_REAL_TIME_BARS: self._on_req_real_time_bars,
            In.CANCEL_REAL_TIME_BARS: lambda s, m: s.realtime.pop(m.int("reqId"), None),
            In.REQ_MKT_DATA: self._on_req_mkt_data,
            In.CANCEL_MKT_DATA: lambda s, m: s.market_data.pop(m.int("reqId"), None),
            In.REQ_HEAD_TIMESTAMP: self._on_req_head_timestamp,
            In.PLACE_ORDER: self._on_place_order,
            In.CANCEL_ORDER: self._on_cancel_order,
            In.REQ_GLOBAL_CANCEL: self._on_global_cancel,
            In.REQ_OPEN_ORDERS: lambda s, m: self._send_open_orders(s, s.client_id),
            In.REQ_ALL_OPEN_ORDERS: lambda s, m: self._send_open_orders(s, None),
            In.REQ_COMPLETED_ORDERS: self._on_req_completed_orders,
            In.REQ_EXECUTIONS: self._on_req_executions,
            In.REQ_POSITIONS: self._on_req_positions,
            In.CANCEL_POSITIONS: lambda s, m: setattr(s, "positions", False),
            In.REQ_ACCOUNT_UPDATES: self._on_req_account_updates,
            In.REQ_ACCOUNT_UPDATES_MULTI: self._on_req_account_updates_multi,
            In.CANCEL_ACCOUNT_UPDATES_MULTI: lambda s, m: s.account_multi.pop(m.int("reqId"), None),
            In.REQ_ACCOUNT_SUMMARY: self._on_req_account_summary,
        }

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> int:
        """Listen on ``host:port`` (port 0 picks a free one); return the bound port."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("fake gateway listening on %s:%d", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        self.drop_connections()

    async def refuse_connections(self, seconds: float) -> None:
        """Stop listening for ``seconds`` (clients get ConnectionRefused), then listen again."""
        if self._server is not None:
            self._server.close()
            self._server = None
        self._refuse_until = time.monotonic() + seconds
        await asyncio.sleep(seconds)
        if self._refuse_until <= time.monotonic() + 1e-3 and self._server is None:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
            log.info("fake gateway listening again on %s:%d", self.host, self.port)

    def drop_connections(self, client_id: int | None = None) -> int:
        """Close the sockets of every session (or of one clientId); return how many were closed."""
        dropped = 0
        for session in list(self.sessions):
            if client_id is None or session.client_id == client_id:
                session.writer.transport.abort()
                self.sessions.remove(session)
                dropped += 1
        return dropped

    # ---- data set-up -------------------------------------------------------------------------
    def add_instrument(self, instrument: Instrument, bars: list[Bar] | None = None,
                       history: int | None = None, bar_seconds: int | None = None) -> Instrument:
        """Register an instrument and (optionally) its bar script."""
        self.registry.add(instrument)
        if bars:
            self.scripts[instrument.con_id] = BarScript(bars, history, bar_seconds)
        return instrument

    def now(self) -> int:
        """The gateway clock: the end of the newest scripted bar, else the wall clock."""
        times = [t for t in (s.now() for s in self.scripts.values()) if t is not None]
        return max(times) if times else int(time.time())

    def last_price(self, instrument: Instrument) -> float:
        """Close of the newest bar that has happened (0 when none)."""
        script = self.scripts.get(instrument.con_id)
        last = script.last if script else None
        return last.close if last else 0.0

    # ---- connection handling -----------------------------------------------------------------
    async def _read_frame(self, reader: asyncio.StreamReader) -> bytes:
        length = frame_length(await reader.readexactly(4))
        return await reader.readexactly(length)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session: Session | None = None
        try:
            magic = await reader.readexactly(len(API_MAGIC))
            if magic != API_MAGIC:
                raise ProtocolError(f"connection did not start with {API_MAGIC!r} but {magic!r}")
            handshake = parse_handshake(await self._read_frame(reader))
            version = negotiate_version(handshake, self.config.server_version)
            if not handshake.min_version <= version <= handshake.max_version:
                log.warning("answering server version %d outside the client's range v%d..%d", version,
                            handshake.min_version, handshake.max_version)
            session = Session(writer, version)
            session.send(msg.server_hello(version, self.now()))
            while not writer.is_closing():
                fields = split_payload(await self._read_frame(reader))
                message = decode_client_message(fields, session.client_id, time.time())
                self.recorded.append(message)
                self._dispatch_request(session, message)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            # shutdown: end normally, or Python 3.11's StreamReaderProtocol logs a traceback
            # when it asks the cancelled handler task for its exception (fixed in 3.12)
            pass
        except ProtocolError as exc:
            log.warning("closing a connection: %s", exc)
        finally:
            if session is not None and session in self.sessions:
                self.sessions.remove(session)
            writer.transport.abort()

    def _dispatch_request(self, session: Session, message: ClientMessage) -> None:
        if self._take_fault(self.drop_on, message.name):
            log.info("fault: dropping client %s on its %s", session.client_id, message.name)
            self.drop_connections(session.client_id)
            return
        if self._take_fault(self.unanswered, message.name):
            log.info("fault: leaving %s of client %s unanswered", message.name, session.client_id)
            return
        handler = self._handlers.get(message.msg_id)
        if handler is None:
            log.debug("no handler for %s (id %d); recorded only", message.name, message.msg_id)
            return
        try:
            handler(session, message)
        except Exception:  # one bad request must not kill the session
            log.exception("fake gateway failed to handle %s %s", message.name, list(message.fields))

    @staticmethod
    def _take_fault(faults: dict[str, list[int]], name: str) -> bool:
        fault = faults.get(name)
        if fault is None or fault[1] <= 0:
            return False
        if fault[0] > 0:
            fault[0] -= 1
            return False
        fault[1] -= 1
        return True

    @staticmethod
    def add_fault(faults: dict[str, list[int]], name: str, count: int, after: int) -> None:
        """Hit the ``count`` messages called ``name`` that follow the next ``after`` ones."""
        if count < 1 or after < 0:
            raise ValueError(f"need count >= 1 and after >= 0, got count={count}, after={after}")
        faults[name] = [after, count]

    def _send_error(self, session: Session, req_id: int, code: int, text: str | None = None) -> None:
        session.send(msg.error(req_id, code, ERROR_TEXT.get(code, "") if text is None else text,
                               session.server_version))

    def next_valid_id(self, client_id: int) -> int:
        """The id announced to a client: the override (rollback) if set, else the book's next id."""
        if self.config.next_valid_id_override is not None:
            return self.config.next_valid_id_override
        return self.book.next_order_id(client_id, self.config.initial_order_id)

    def _on_start_api(self, session: Session, message: ClientMessage) -> None:
        client_id = message.int("clientId")
        if any(s.client_id == client_id for s in self.sessions):
            self._send_error(session, -1, 326)
            session.writer.close()
            return
        session.client_id = client_id
        self.sessions.append(session)
        session.send(msg.next_valid_id(self.next_valid_id(client_id)))
        session.send(msg.managed_accounts(self.config.accounts))
        if self.config.farm_status:
            for code in (2104, 2106, 2158):
                self._send_error(session, -1, code)

    def _on_req_ids(self, session: Session, message: ClientMessage) -> None:
        session.send(msg.next_valid_id(self.next_valid_id(session.client_id or 0)))

    # ---- contracts and data --------------------------------------------------------------------
    def _resolve(self, session: Session, req_id: int, message: ClientMessage) -> Instrument | None:
        hits = self.registry.find(message.params)
        if len(hits) != 1:
            self._send_error(session, req_id, 200)
            return None
        return hits[0]

    def _on_req_contract_details(self, session: Session, message: ClientMessage) -> None:
        req_id = message.int("reqId")
        hits = self.registry.find(message.params)
        if not hits:
            self._send_error(session, req_id, 200)
            return
        for inst in hits:
            session.send(msg.contract_data(req_id, inst, session.server_version))
        session.send(msg.contract_data_end(req_id))

    def _take_failure(self, kind: str) -> tuple[int, str] | None:
        queue = self.pending_failures.get(kind)
        return queue.pop(0) if queue else None

    def visible_bars(self, script: BarScript) -> list[Bar]:
        """History plus the next bar's opening tick (the bar now forming, when ``forming_bar``)."""
        return self._bars_since(script, script.bars[0].time)

    def _on_req_historical_data(self, session: Session, message: ClientMessage) -> None:
        req_id = message.int("reqId")
        failure = self._take_failure("historical")
        if failure:
            self._send_error(session, req_id, failure[0], failure[1])
            return
        inst = self._resolve(session, req_id, message)
        if inst is None:
            return
        script = self.scripts.get(inst.con_id)
        try:
            bar_seconds = bar_size_seconds(message.get("barSizeSetting"))
            duration = duration_seconds(message.get("durationStr"))
            end_text = message.get("endDateTime").strip()
            end = parse_time(end_text, "endDateTime") if end_text else None
        except ValueError as exc:
            self._send_error(session, req_id, 321, f"Error validating request:-'{exc}'")
            return
        if script is None or bar_seconds % script.bar_seconds:
            size = script.bar_seconds if script else "no"
            self._send_error(session, req_id, 162, f"Historical Market Data Service error message:"
                             f"HMDS query returned no data (scripted bars are {size} s)")
            return
        keep = message.flag("keepUpToDate")
        if keep and end is not None:
            self._send_error(session, req_id, 321, "Error validating request:-'endDateTime must be empty "
                             "when keepUpToDate=True'")
            return
        bars = script.history(end) if end is not None else self.visible_bars(script)
        buckets = aggregate(bars, bar_seconds)
        end_ref = end if end is not None else self.now()
        buckets = [b for b in buckets if b.time >= end_ref - duration]
        format_date = message.int("formatDate", 1)
        daily = bar_seconds >= 86400
        rows = [(msg.format_bar_date(b.time, format_date, daily, inst.time_zone), b) for b in buckets]
        start_text = msg.ib_time(end_ref - duration)
        session.send(msg.historical_data(req_id, start_text, msg.ib_time(end_ref), rows))
        if keep:
            session.historical[req_id] = HistoricalSubscription(req_id, inst, bar_seconds, format_date)

    def _on_req_real_time_bars(self, session: Session, message: ClientMessage) -> None:
        req_id = message.int("reqId")
        failure = self._take_failure("realtime")
        if failure:
            self._send_error(session, req_id, failure[0], failure[1])
            return
        inst = self._resolve(session, req_id, message)
        if inst is not None:
            session.realtime[req_id] = inst

    def _on_req_mkt_data(self, session: Session, message: ClientMessage) -> None:
        req_id = message.int("reqId")
        inst = self._resolve(session, req_id, message)
        if inst is None:
            return
        session.market_data[req_id] = inst
        session.send(msg.market_data_type(req_id, 1))
        self._send_ticks(session, req_id, inst)

    def _send_ticks(self, session: Session, req_id: int, inst: Instrument) -> None:
        price = self.last_price(inst)
        if price:
            session.send(msg.tick_price(req_id, 1, price - inst.min_tick, 100))  # bid
            session.send(msg.tick_price(req_id, 2, price + inst.min_tick, 100))  # ask
            session.send(msg.tick_price(req_id, 4, price, 100))  # last

    def _on_req_head_timestamp(self, session: Session, message: ClientMessage) -> None:
        req_id = message.int("reqId")
        inst = self._resolve(session, req_id, message)
        script = self.scripts.get(inst.con_id) if inst else None
        if script is not None:
            session.send(msg.head_timestamp(req_id, script.bars[0].time))

    # ---- pushing bars --------------------------------------------------------------------------
    def push_bars(self, count: int = 1, symbol: str | None = None) -> int:
        """Advance the scripts ``count`` time steps; return how many bars were pushed.

        A step pushes the earliest pending bar time across the instruments (all instruments
        with a bar at that time), so scripts with different calendars stay in time order.
        """
        scripts = ([self.scripts[self.registry.by_symbol(symbol).con_id]] if symbol
                   else list(self.scripts.values()))
        pushed = 0
        for _ in range(count):
            pending = [s for s in scripts if s.remaining]
            if not pending:
                break
            step_time = min(s.bars[s.cursor].time for s in pending)
            step = [(s, s.advance(1)[0]) for s in pending if s.bars[s.cursor].time == step_time]
            self.book.bar_index += 1
            for script, bar in step:
                inst = self._instrument_of(script)
                if self.config.auto_fill:
                    self.dispatch(self.book.on_bar(inst, bar))
                self._emit_bar(inst, script, bar)
                pushed += 1
        return pushed

    def _instrument_of(self, script: BarScript) -> Instrument:
        con_id = next(cid for cid, s in self.scripts.items() if s is script)
        return self.registry.get(con_id)

    def _emit_bar(self, inst: Instrument, script: BarScript, bar: Bar) -> None:
        for session in list(self.sessions):
            for req_id, sub_inst in session.realtime.items():
                if sub_inst.con_id == inst.con_id and (id(session), req_id) not in self.silenced:
                    session.send(msg.realtime_bar(req_id, bar))
            for req_id, sub_inst in session.market_data.items():
                if sub_inst.con_id == inst.con_id:
                    self._send_ticks(session, req_id, inst)
            for sub in session.historical.values():
                if sub.instrument.con_id == inst.con_id and (id(session), sub.req_id) not in self.silenced:
                    self._emit_update(session, sub, script, bar)

    def _emit_update(self, session: Session, sub: HistoricalSubscription, script: BarScript, bar: Bar) -> None:
        """Send the bucket holding ``bar`` (final) and, if it starts a new one, the forming bucket."""
        bar_bucket = bar.time - bar.time % sub.bar_seconds
        buckets = aggregate(self._bars_since(script, bar_bucket), sub.bar_seconds)
        for bucket in buckets:
            date = msg.format_bar_date(bucket.time, sub.format_date, sub.bar_seconds >= 86400,
                                       sub.instrument.time_zone)
            session.send(msg.historical_data_update(sub.req_id, date, bucket))

    def _bars_since(self, script: BarScript, start: int) -> list[Bar]:
        """Visible bars (history and the forming tick) starting at or after ``start``; O(bucket)."""
        first = script.cursor
        while first > 0 and script.bars[first - 1].time >= start:
            first -= 1
        bars = script.bars[first:script.cursor]
        if self.config.forming_bar and script.remaining:
            nxt = script.bars[script.cursor]
            bars.append(Bar(nxt.time, nxt.open, nxt.open, nxt.open, nxt.open, 0.0, nxt.open, 0))
        return bars

    # ---- orders ----------------------------------------------------------------------------------
    def _on_place_order(self, session: Session, message: ClientMessage) -> None:
        order_id = message.int("orderId")
        inst = self._resolve(session, order_id, message)
        if inst is None:
            return
        req = PlaceRequest(
            client_id=session.client_id or 0, order_id=order_id, instrument=inst,
            action=message.get("action").upper(), quantity=message.float("totalQuantity", 0.0) or 0.0,
            order_type=message.get("orderType").upper(), lmt_price=message.float("lmtPrice"),
            aux_price=message.float("auxPrice"), tif=message.get("tif") or "DAY",
            oca_group=message.get("ocaGroup"), account=message.get("account"),
            order_ref=message.get("orderRef"), transmit=message.flag("transmit"),
            parent_id=message.int("parentId"), outside_rth=message.flag("outsideRth"))
        events = self.book.place(req)
        if self.silent_orders > 0:  # booked, but no openOrder / orderStatus: never acknowledged
            self.silent_orders -= 1
            log.info("fault: order %d of client %s booked without an acknowledgement", order_id, session.client_id)
            events = [e for e in events if not isinstance(e, OrderUpdate)]
        self.dispatch(events)

    def _on_cancel_order(self, session: Session, message: ClientMessage) -> None:
        order_id = message.int("orderId")
        order = self.book.orders.get((session.client_id or 0, order_id))
        if order is None:
            self.dispatch(self.book.cancel_unknown(session.client_id or 0, order_id))
        else:
            self.dispatch(self.book.cancel(order))

    def _on_global_cancel(self, session: Session, message: ClientMessage) -> None:
        for order in self.book.open_orders():
            if order.is_active:
                self.dispatch(self.book.cancel(order))

    def _send_open_orders(self, session: Session, client_id: int | None) -> None:
        for order in self.book.open_orders(client_id):
            session.send(msg.open_order(order, session.server_version))
            session.send(msg.order_status(order))
        session.send(msg.open_order_end())

    def _on_req_completed_orders(self, session: Session, message: ClientMessage) -> None:
        for order in self.book.completed_orders():
            session.send(msg.completed_order(order, session.server_version))
        session.send(msg.completed_orders_end())

    def _on_req_executions(self, session: Session, message: ClientMessage) -> None:
        req_id = message.int("reqId")
        since_text = message.get("time").strip()
        try:
            since = parse_time(since_text, "execution filter time") if since_text else None
        except ValueError as exc:
            self._send_error(session, req_id, 321, f"Error validating request:-'{exc}'")
            return
        for ex in self.book.executions_for(message.int("clientId"), message.get("symbol"),
                                           message.get("side"), since):
            session.send(msg.exec_details(req_id, ex))
            if self.config.commission_on_req_executions:
                session.send(msg.commission_report(ex))
        session.send(msg.exec_details_end(req_id))

    def dispatch(self, events: list[Event]) -> None:
        """Turn order-book events into messages for the owning client and the subscribers."""
        for event in events:
            if isinstance(event, OrderUpdate):
                self._send_order_update(event.order)
            elif isinstance(event, Filled):
                self._send_fill(event.execution)
            elif isinstance(event, Cancelled):
                self._send_cancel(event)
            elif isinstance(event, OrderError):
                self._send_order_error(event)

    def _owner_sessions(self, client_id: int) -> list[Session]:
        return [s for s in self.sessions if s.client_id == client_id]

    def _send_order_update(self, order: Order) -> None:
        for session in self._owner_sessions(order.client_id):
            session.send(msg.open_order(order, session.server_version))
            session.send(msg.order_status(order))

    def _send_fill(self, ex: Execution) -> None:
        order = ex.order
        for s in self._owner_sessions(order.client_id):
            if self.config.commission_timing == "before":
                s.send(msg.commission_report(ex))
            s.send(msg.exec_details(-1, ex))
            if self.config.order_status_on_fill:
                s.send(msg.order_status(order))
            if order.status == "Filled":
                s.send(msg.open_order(order, s.server_version))
            if self.config.commission_timing == "after":
                s.send(msg.commission_report(ex))
        if self.config.commission_timing == "manual":
            self.held_commissions.append(ex)
        self.publish_account()

    def release_commissions(self) -> int:
        """Send the commission reports held back in ``commission_timing='manual'`` mode."""
        held, self.held_commissions = self.held_commissions, []
        for ex in held:
            for session in self._owner_sessions(ex.order.client_id):
                session.send(msg.commission_report(ex))
        return len(held)

    def _send_cancel(self, event: Cancelled) -> None:
        order = event.order
        for s in self._owner_sessions(order.client_id):
            s.send(msg.order_status(order))
            if event.code is not None:
                self._send_error(s, order.order_id, event.code, ERROR_TEXT.get(event.code, "") + event.reason)

    def _send_order_error(self, event: OrderError) -> None:
        for s in self._owner_sessions(event.client_id):
            self._send_error(s, event.order_id, event.code, event.message)
            if event.order is not None and event.code == 201 and self.config.reject_sends_inactive:
                s.send(msg.order_status(event.order))

    # ---- account ---------------------------------------------------------------------------------
    def account_values(self) -> dict[str, float]:
        """The account's tags now (cash, net liquidation, P&L…)."""
        return self.ledger.account_values(self.last_price)

    def _on_req_positions(self, session: Session, message: ClientMessage) -> None:
        session.positions = True
        for pos in self.ledger.positions.values():
            session.send(msg.position(pos))
        session.send(msg.position_end())

    def _send_account_values(self, session: Session, account: str) -> None:
        values = self.account_values()
        for key, value in values.items():
            session.send(msg.account_value(key, f"{value:.2f}", "USD", account))
        for key in ("TotalCashBalance", "CashBalance", "NetLiquidation"):
            session.send(msg.account_value(key, f"{values[key]:.2f}", "BASE", account))
        session.send(msg.account_value("AccountCode", account, "", account))
        for pos in self.ledger.positions.values():
            if pos.account == account:
                session.send(msg.portfolio_value(pos, self.last_price(pos.instrument), 0.0))
        session.send(msg.account_time(self.now()))

    def _on_req_account_updates(self, session: Session, message: ClientMessage) -> None:
        account = message.get("acctCode") or self.config.accounts[0]
        if not message.flag("subscribe"):
            session.account_updates = ""
            return
        session.account_updates = account
        self._send_account_values(session, account)
        session.send(msg.account_download_end(account))

    def _on_req_account_updates_multi(self, session: Session, message: ClientMessage) -> None:
        req_id = message.int("reqId")
        account = message.get("account") or self.config.accounts[0]
        session.account_multi[req_id] = account
        self._send_multi(session, req_id, account)
        session.send(msg.account_update_multi_end(req_id))

    def _send_multi(self, session: Session, req_id: int, account: str) -> None:
        for key, value in self.account_values().items():
            session.send(msg.account_update_multi(req_id, account, key, f"{value:.2f}", "USD"))

    def _on_req_account_summary(self, session: Session, message: ClientMessage) -> None:
        req_id = message.int("reqId")
        tags = {t for t in message.get("tags").split(",") if t}
        values = self.account_values()
        for account in self.config.accounts:
            for tag, value in values.items():
                if not tags or tag in tags:
                    session.send(msg.account_summary(req_id, account, tag, f"{value:.2f}", "USD"))
            for tag, (text, currency) in SUMMARY_EXTRA.items():
                if not tags or tag in tags:
                    text = f"{self.ledger.cash:.2f}" if text is None else text
                    session.send(msg.account_summary(req_id, account, tag, text, currency))
        session.send(msg.account_summary_end(req_id))

    def publish_account(self) -> None:
        """Push positions, portfolio and account values to every subscribed session."""
        for session in list(self.sessions):
            if session.positions:
                for pos in self.ledger.positions.values():
                    session.send(msg.position(pos))
            if session.account_updates:
                self._send_account_values(session, session.account_updates)
            for req_id, account in session.account_multi.items():
                self._send_multi(session, req_id, account)

    # ---- control helpers -------------------------------------------------------------------------
    def inject_error(self, code: int, req_id: int = -1, text: str | None = None,
                     client_id: int | None = None) -> int:
        """Send ``error(req_id, code)`` to every session (or one clientId); return how many got it."""
        targets = [s for s in self.sessions if client_id is None or s.client_id == client_id]
        for session in targets:
            self._send_error(session, req_id, code, text)
        return len(targets)

    def send_next_valid_id(self, value: int) -> None:
        """Send an unsolicited ``nextValidId(value)`` to every session."""
        for session in self.sessions:
            session.send(msg.next_valid_id(value))

    def silence_streams(self, symbol: str | None = None) -> int:
        """Stop the open bar streams (of ``symbol``, or all) without an error; new ones flow."""
        count = 0
        for session in self.sessions:
            streams = [(r, h.instrument) for r, h in session.historical.items()]
            streams += list(session.realtime.items())
            for req_id, inst in streams:
                if symbol is None or inst.symbol == symbol:
                    self.silenced.add((id(session), req_id))
                    count += 1
        return count

    def subscriptions(self) -> list[tuple[int | None, str, int, str]]:
        """Open subscriptions as ``(clientId, kind, reqId, symbol)``."""
        out: list[tuple[int | None, str, int, str]] = []
        for s in self.sessions:
            out += [(s.client_id, "historical", r, h.instrument.symbol) for r, h in s.historical.items()]
            out += [(s.client_id, "realtime", r, i.symbol) for r, i in s.realtime.items()]
            out += [(s.client_id, "market_data", r, i.symbol) for r, i in s.market_data.items()]
        return out
