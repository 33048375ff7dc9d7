"""The control handle: run the fake gateway on its own thread and drive it from tests or scripts.

:class:`FakeGateway` owns a daemon thread with its own asyncio loop running a
:class:`~btedge.testkit.fakegateway.server.GatewayServer`. Every public method is thread-safe: it
runs the work on the gateway loop (``call_soon_threadsafe``) and waits for the result, so a test
can call ``gw.fill(...)`` while its own thread runs the ib_insync / ib_async loop.

Example::

    with FakeGateway(bars="bars.csv", symbol="SPY", history=100) as gw:
        ib = IB(); ib.connect("127.0.0.1", gw.port, clientId=1)
        trade = ib.placeOrder(contract, MarketOrder("BUY", 10))
        gw.fill(trade.order.orderId, price=100.0)
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import logging
import threading
import time
from typing import Any, Callable, TypeVar

from . import messages as msg
from .bars import load_bars
from .contracts import Instrument, instrument_for
from .orders import Event, Execution, Filled, Order, PlaceRequest, Position
from .protocol import ClientMessage
from .server import ERROR_TEXT, GatewayConfig, GatewayServer

log = logging.getLogger(__name__)
T = TypeVar("T")
FAILURE_KINDS = ("historical", "realtime")


class FakeGateway:
    """A loopback fake TWS / IB Gateway for tests and dry runs.

    Args:
        bars: scripted bars of the main instrument: CSV path, DataFrame or list (see ``bars.load_bars``).
        symbol, sec_type: the main instrument (``instrument_for`` defaults); or pass ``instrument``.
        history: how many scripted bars have already happened at start (default: all).
        host, port: where to listen (``port=0`` picks a free port).
        **config: any :class:`GatewayConfig` field (``server_version``, ``auto_fill``,
            ``commission_timing``, ``accounts``, ``cash``, ``forming_bar``…).
    """

    def __init__(self, bars: Any = None, symbol: str = "SPY", sec_type: str = "STK",
                 instrument: Instrument | None = None, history: int | None = None,
                 host: str = "127.0.0.1", port: int = 0, **config: Any) -> None:
        self.server = GatewayServer(GatewayConfig(**config), host, port)
        self.instrument = self.server.add_instrument(
            instrument or instrument_for(symbol, sec_type), load_bars(bars) if bars is not None else None, history)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 5.0) -> "FakeGateway":
        """Start the loop thread and listen; returns self (``gw.port`` is then the bound port)."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.server.start())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.server.stop())
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-ib-gateway", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or failure:
            raise RuntimeError(f"fake gateway did not start: {failure[0] if failure else 'timeout'}")
        return self

    def stop(self) -> None:
        """Close every connection, stop listening and end the thread."""
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)
        self._thread = None
        self._loop = None

    def __enter__(self) -> "FakeGateway":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def config(self) -> GatewayConfig:
        """The live settings (read them freely; change them with :meth:`configure`)."""
        return self.server.config

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 5.0, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the gateway loop and return its result."""
        if self._loop is None:
            return fn(*args, **kwargs)
        if threading.current_thread() is self._thread:
            return fn(*args, **kwargs)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout)

    def configure(self, **settings: Any) -> None:
        """Change :class:`GatewayConfig` fields at run time, e.g. ``configure(auto_fill=True)``."""
        def apply() -> None:
            fresh = GatewayConfig(**{**vars(self.server.config), **settings})
            for key, value in vars(fresh).items():
                setattr(self.server.config, key, value)
            self.server.ledger.account = fresh.accounts[0]
        self.call(apply)

    # ---- instruments and bars ----------------------------------------------------------------------
    def add_instrument(self, instrument: Instrument, bars: Any = None, history: int | None = None) -> Instrument:
        """Serve another instrument (with its own bar script)."""
        loaded = load_bars(bars) if bars is not None else None
        return self.call(self.server.add_instrument, instrument, loaded, history)

    def push_bars(self, count: int = 1, symbol: str | None = None) -> int:
        """Make the next ``count`` scripted bars happen: auto-fill, realtime bars, keepUpToDate updates."""
        return self.call(self.server.push_bars, count, symbol)

    def remaining_bars(self, symbol: str | None = None) -> int:
        """Scripted bars not pushed yet (of ``symbol``, default the main instrument)."""
        inst = self.server.registry.by_symbol(symbol) if symbol else self.instrument
        return self.call(lambda: self.server.scripts[inst.con_id].remaining)

    # ---- orders ----------------------------------------------------------------------------------
    def orders(self) -> list[Order]:
        """Copies of every transmitted order."""
        return self.call(lambda: [copy.copy(o) for o in self.server.book.orders.values()])

    def wait_for_order(self, order_id: int, client_id: int | None = None, status: str | None = None,
                       timeout: float = 3.0) -> Order:
        """Wait until the gateway has the order (optionally in ``status``); return a copy."""
        def probe() -> Order | None:
            try:
                order = self.server.book.find(order_id, client_id)
            except KeyError:
                return None
            return copy.copy(order) if status is None or order.status == status else None
        return self._wait(lambda: self.call(probe), timeout, f"order {order_id}" + (f" in status {status}" if status else ""))

    def fill(self, order_id: int, quantity: float | None = None, price: float | None = None,
             client_id: int | None = None) -> Order:
        """Fill an order (all that remains by default) at ``price`` (default: limit or last close)."""
        self.wait_for_order(order_id, client_id)
        return self.call(self._apply, order_id, client_id, lambda o: self.server.book.fill(o, quantity, price))

    def partial_fill(self, order_id: int, quantity: float, price: float | None = None,
                     client_id: int | None = None) -> Order:
        """Fill part of an order; it stays Submitted with the rest remaining."""
        return self.fill(order_id, quantity, price, client_id)

    def reject(self, order_id: int, reason: str = "fake gateway rejection", client_id: int | None = None) -> Order:
        """Reject a working order: error 201."""
        self.wait_for_order(order_id, client_id)
        return self.call(self._apply, order_id, client_id, lambda o: self.server.book.reject(o, reason))

    def cancel(self, order_id: int, reason: str = "", client_id: int | None = None) -> Order:
        """Cancel a working order from the gateway side: orderStatus(Cancelled) + error 202."""
        self.wait_for_order(order_id, client_id)
        return self.call(self._apply, order_id, client_id, lambda o: self.server.book.cancel(o, 202, reason))

    def _apply(self, order_id: int, client_id: int | None, action: Callable[[Order], list[Event]]) -> Order:
        order = self.server.book.find(order_id, client_id)
        self.server.dispatch(action(order))
        return copy.copy(order)

    def release_commissions(self) -> int:
        """Send the commission reports held in ``commission_timing='manual'`` mode."""
        return self.call(self.server.release_commissions)

    def executions(self) -> list[Execution]:
        """Copies of every execution so far."""
        return self.call(lambda: [copy.copy(e) for e in self.server.book.executions])

    def positions(self) -> list[Position]:
        """Copies of the non-flat positions."""
        return self.call(lambda: [copy.copy(p) for p in self.server.ledger.positions.values() if p.quantity])

    def account_values(self) -> dict[str, float]:
        """The account tags (NetLiquidation, TotalCashBalance, …) as the gateway computes them."""
        return self.call(self.server.account_values)

    # ---- order faults: the reconciliation cases of the live broker ---------------------------------
    def correct_execution(self, exec_id: str, shares: float | None = None, price: float | None = None) -> Execution:
        """Send a correction of execution ``exec_id`` (same execId base, next suffix) to its client;
        it replaces the original (``shares`` / ``price`` default to the original's)."""
        def apply() -> Execution:
            original = next((e for e in self.server.book.executions if e.exec_id == exec_id), None)
            if original is None:
                known = ", ".join(e.exec_id for e in self.server.book.executions) or "none"
                raise KeyError(f"no execution {exec_id!r}; known: {known}")
            events = self.server.book.correct(original, shares, price)
            self.server.dispatch(events)
            return copy.copy(events[0].execution)
        return self.call(apply)

    def hold_position(self, quantity: float, avg_cost: float, symbol: str | None = None) -> Position:
        """Put a position in the account that no API order made (shares bought by hand)."""
        def apply() -> Position:
            inst = self.server.registry.by_symbol(symbol) if symbol else self.instrument
            position = self.server.book.hold(self.server.config.accounts[0], inst, quantity, avg_cost)
            self.server.publish_account()
            return copy.copy(position)
        return self.call(apply)

    def foreign_fill(self, client_id: int, order_id: int, action: str = "BUY", quantity: float = 100.0,
                     price: float | None = None, order_ref: str = "", symbol: str | None = None) -> Order:
        """Another API client's market order (its ``order_id`` may equal one of ours), placed and
        filled at once; only that client's sessions get its messages."""
        def apply() -> Order:
            inst = self.server.registry.by_symbol(symbol) if symbol else self.instrument
            book = self.server.book
            events = book.place(PlaceRequest(client_id, order_id, inst, action, float(quantity), "MKT", None, None,
                                             order_ref=order_ref))
            order = book.orders[(client_id, order_id)]
            events += book.fill(order, None, price)
            self.server.dispatch(events)
            return copy.copy(order)
        return self.call(apply)

    def fill_then_drop_before_execution(self, order_id: int, price: float | None = None,
                                        client_id: int | None = None) -> Execution:
        """Fill an order but send its client only the commission report, then drop the connection:
        the execution itself reaches the client only through ``reqExecutions`` after a reconnect."""
        self.wait_for_order(order_id, client_id)

        def apply() -> Execution:
            book = self.server.book
            order = book.find(order_id, client_id)
            execution = next(e.execution for e in book.fill(order, None, price) if isinstance(e, Filled))
            owners = [s for s in self.server.sessions if s.client_id == order.client_id]
            for session in owners:
                session.send(msg.commission_report(execution))
            # close after the report is written (an abort would discard it)
            self._loop.call_later(0.05, lambda: [self.server.drop_connections(s.client_id) for s in owners])
            return copy.copy(execution)
        execution = self.call(apply)
        self._wait(lambda: True if execution.order.client_id not in self.connected_clients() else None, 3.0,
                   "the drop after the commission report")
        return execution

    def lose_cancel_race(self, order_id: int, client_id: int | None = None) -> None:
        """The next cancel of this order fills it instead (at its natural price) and answers 161."""
        self.wait_for_order(order_id, client_id)
        self.call(lambda: self.server.book.race_fills.add(self.server.book.find(order_id, client_id).key))

    def adjust_cash(self, amount: float) -> dict[str, float]:
        """Move the account's cash by ``amount`` (negative: a loss) and publish the account values."""
        def apply() -> dict[str, float]:
            self.server.ledger.cash += amount
            self.server.publish_account()
            return self.server.account_values()
        return self.call(apply)

    # ---- faults ----------------------------------------------------------------------------------
    def inject_error(self, code: int, req_id: int = -1, text: str | None = None,
                     client_id: int | None = None) -> int:
        """Send ``error(req_id, code, text)`` to the connected clients (1100/1101/1102, 162, 10182…)."""
        if text is None and code not in ERROR_TEXT:
            text = f"fake gateway error {code}"
        return self.call(self.server.inject_error, code, req_id, text, client_id)

    def fail_next(self, kind: str = "historical", code: int = 162, text: str | None = None) -> None:
        """Answer the next ``kind`` request (historical / realtime) with error ``code`` instead of data."""
        if kind not in FAILURE_KINDS:
            raise ValueError(f"kind={kind!r}: expected one of {FAILURE_KINDS}")
        self.call(lambda: self.server.pending_failures.setdefault(kind, []).append(
            (code, text if text is not None else ERROR_TEXT.get(code, f"fake gateway error {code}"))))

    def drop_connections(self, client_id: int | None = None) -> int:
        """Abort the client sockets (all, or one clientId); the clients see a disconnect."""
        return self.call(self.server.drop_connections, client_id)

    def refuse_connections(self, seconds: float) -> None:
        """Stop listening for ``seconds`` (connects are refused), then listen on the same port again."""
        if self._loop is None:
            raise RuntimeError("the gateway is not running; call start() first")
        asyncio.run_coroutine_threadsafe(self.server.refuse_connections(seconds), self._loop)
        self._wait(lambda: True if self.server._server is None else None, 2.0, "listener to close")

    def roll_back_next_valid_id(self, value: int, notify: bool = True) -> None:
        """Announce ``value`` as nextValidId from now on (a gateway restart that lost its ids).

        ``notify`` also sends it at once to the connected clients. Undo with
        :meth:`clear_next_valid_id_override`.
        """
        def apply() -> None:
            self.server.config.next_valid_id_override = value
            if notify:
                self.server.send_next_valid_id(value)
        self.call(apply)

    def clear_next_valid_id_override(self) -> None:
        """Go back to announcing one above the highest orderId used."""
        self.call(lambda: setattr(self.server.config, "next_valid_id_override", None))

    # ---- connection and data faults: the watchdog, reconnect and pacing cases of the live store ------
    def leave_unanswered(self, name: str, count: int = 1, after: int = 0) -> None:
        """Record but never answer ``count`` client messages called ``name`` (e.g.
        ``'reqOpenOrders'``, ``'reqHistoricalData'``), after letting the next ``after`` through."""
        self.call(self.server.add_fault, self.server.unanswered, name, count, after)

    def drop_on(self, name: str, count: int = 1, after: int = 0) -> None:
        """Drop the connection of the client that sends a message called ``name`` (before answering
        it), ``count`` times, after letting the next ``after`` through: ``drop_on('reqExecutions',
        after=1)`` lets a client's start-up sync pass and drops during its reconciliation."""
        self.call(self.server.add_fault, self.server.drop_on, name, count, after)

    def silence_streams(self, symbol: str | None = None) -> int:
        """Stop the open bar streams (of ``symbol``, or all) without any error; a new subscription
        flows again. Returns how many streams went silent."""
        return self.call(self.server.silence_streams, symbol)

    def hold_acknowledgements(self, count: int = 1) -> None:
        """Book the next ``count`` orders without sending openOrder / orderStatus: the client sees
        them unacknowledged until it asks for the open orders."""
        self.call(lambda: setattr(self.server, "silent_orders", self.server.silent_orders + count))

    def set_clock_offset(self, seconds: float) -> None:
        """Answer ``reqCurrentTime`` ``seconds`` ahead of the bar clock (the bars then look late)."""
        self.configure(clock_offset=float(seconds))

    # ---- records ---------------------------------------------------------------------------------
    def messages(self, name: str | None = None, client_id: int | None = None) -> list[ClientMessage]:
        """Every client message received so far (optionally by name, e.g. ``'placeOrder'``)."""
        return self.call(lambda: [m for m in self.server.recorded
                                  if (name is None or m.name == name)
                                  and (client_id is None or m.client_id == client_id)])

    def clear_messages(self) -> None:
        """Forget the recorded client messages."""
        self.call(self.server.recorded.clear)

    def wait_for_message(self, name: str, predicate: Callable[[ClientMessage], bool] | None = None,
                         timeout: float = 3.0) -> ClientMessage:
        """Wait until a client message called ``name`` (matching ``predicate``) has arrived."""
        def probe() -> ClientMessage | None:
            hits = [m for m in self.messages(name) if predicate is None or predicate(m)]
            return hits[-1] if hits else None
        return self._wait(probe, timeout, f"client message {name!r}")

    def connected_clients(self) -> list[int]:
        """clientIds of the live sessions."""
        return self.call(lambda: [s.client_id for s in self.server.sessions if s.client_id is not None])

    def subscriptions(self) -> list[tuple[int | None, str, int, str]]:
        """Open data subscriptions as ``(clientId, kind, reqId, symbol)``."""
        return self.call(self.server.subscriptions)

    def wait_for_subscription(self, kind: str = "historical", timeout: float = 3.0) -> tuple[int | None, str, int, str]:
        """Wait until a subscription of ``kind`` is open; return the newest."""
        def probe() -> tuple[int | None, str, int, str] | None:
            subs = [s for s in self.subscriptions() if s[1] == kind]
            return subs[-1] if subs else None
        return self._wait(probe, timeout, f"a {kind} subscription")

    @staticmethod
    def _wait(probe: Callable[[], T | None], timeout: float, what: str) -> T:
        deadline = time.monotonic() + timeout
        while True:
            result = probe()
            if result is not None:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"fake gateway: timed out after {timeout} s waiting for {what}")
            time.sleep(0.005)
