"""IBStore: the one IB connection shared by every IBData feed and the IBBroker.

No threads and no singleton: the store owns one client ``IB`` object on the thread cerebro runs
in, and the feeds and broker pump its event loop with :meth:`IBStore.pump` while they wait.

On every connect and reconnect, before anything new is sent, the store runs the same sequence
(:meth:`IBStore._sync`): raise the order-id counter above every id already used (a gateway may
roll ``nextValidId`` back), read IB's clock, let the broker check the account
(``broker.check_account``) and reconcile (``broker.reconcile``), and only then let every feed
resubscribe, backfilling from its last bar. A drop at any point of that sequence, reconciliation
included, goes back to reconnecting. Reconnects are retried without a limit (capped backoff);
``IBConfig.max_outage`` ends the session with :class:`OutageExceeded` instead. Error 326 (client
id in use) and IB refusing the API version end it at once with :class:`FatalConnectError`.

Connectivity events that keep the socket (1100/2110 lost, 1101/1102 restored) do not reconnect:
the feeds pause and, on 1101, resubscribe once; a burst of them sends no request twice.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any, Awaitable, Callable, Protocol, TypeVar

from btedge.live import _ib
from btedge.live.config import IBConfig
from btedge.live.pacing import HistoricalPacer
from btedge.live.parsing import (
    CONNECTION_LOST_CODES,
    CONNECTIVITY_LOST_CODES,
    DATA_KEPT_CODES,
    DATA_LOST_CODES,
    FATAL_CONNECT_CODES,
    make_contract,
)
from btedge.live.risk import LiveTradingRefused, mask_account
from btedge.live.watchdog import AckWatch

log = logging.getLogger(__name__)
T = TypeVar("T")

_WATCHDOG_EVERY = 0.25  # seconds between two checks of the order acknowledgements
_WATCHDOG_DEFER = 1.0  # a due check waits at most this long for a pump that brought no bar
HEARTBEAT_EVERY = 15.0  # seconds between two journal heartbeats in one state (the journal: alive < 120 s)
#: (host, port, client id) of the stores connected in this process: one connection each
_IN_USE: set[tuple[str, int, int]] = set()
_HEAP_FROZEN = False


def freeze_start_up_heap() -> None:
    """Once per process, before the first connection: collect garbage, then move every object
    that exists (imports, the strategy, its models) out of the cyclic collector's reach
    (``gc.freeze``). Otherwise each full collection scans them all, and one now and then lands
    between a bar and its order (0.2-0.3 s for 140k objects on the loaded 2-core machine)."""
    global _HEAP_FROZEN
    if _HEAP_FROZEN:
        return
    _HEAP_FROZEN = True
    gc.collect()
    gc.freeze()
    log.debug("start-up heap frozen: %d objects left out of cyclic collections", gc.get_freeze_count())


class OutageExceeded(ConnectionError):
    """No connection for longer than ``IBConfig.max_outage`` (``btedge-live`` exit code 4)."""


class FatalConnectError(ConnectionError):
    """IB refused this client for a reason a retry cannot fix: client id in use (326), API
    version (``btedge-live`` exit code 5)."""


class Feed(Protocol):
    """What the store needs from a feed (``IBData``)."""

    def on_connection_lost(self) -> None: ...
    def on_reconnected(self) -> None: ...
    def on_connectivity_lost(self) -> None: ...
    def on_data_restored(self, data_lost: bool) -> None: ...
    def on_error(self, req_id: int, code: int, message: str) -> bool: ...


class Broker(Protocol):
    """What the store needs from the broker (``IBBroker``)."""

    journal: Any

    def check_account(self, accounts: list[str]) -> None: ...
    def reconcile(self) -> None: ...
    def on_error(self, req_id: int, code: int, message: str) -> bool: ...


class IBStore:
    """One IB connection per process, pumped from backtrader's own loop.

    Args:
        config: an :class:`~btedge.live.config.IBConfig` (host, port, client id, timeouts,
            backoff, ``max_outage``, watchdog settings).
        ib: an ``IB`` instance to use instead of a new one (tests inject one).
        freeze_heap: before the first connection, collect and freeze the start-up heap
            (:func:`freeze_start_up_heap`, once per process); False leaves the collector alone
            (frozen objects are missing from ``gc.get_objects()`` / ``gc.get_referrers()``).

    Feeds register with :meth:`add_feed`, the broker with :meth:`attach_broker`. Subscribers
    are called, in this order, on a reconnect: ``broker.check_account(accounts)``,
    ``broker.reconcile()``, then every ``feed.on_reconnected()``.
    """

    def __init__(self, config: IBConfig | None = None, *, ib: Any = None, freeze_heap: bool = True) -> None:
        self.config = config = config or IBConfig()
        self.host, self.port, self.client_id = config.host, config.port, config.client_id
        self.lib = _ib.client(config.client)
        self.ib = ib if ib is not None else self.lib.IB()
        self.broker: Broker | None = None
        self.feeds: list[Feed] = []
        self.pacer = HistoricalPacer(identical_gap=config.identical_gap)
        self.closed = False
        self.reconnects = 0
        self.drops = 0
        #: why the session ended on a reconnect's account check (a live account without ``--live``)
        self.refusal: LiveTradingRefused | None = None
        self._lost = False
        self._lost_since: float | None = None
        self._fatal: tuple[int, str] | None = None
        self._connecting: asyncio.Future | None = None
        self._max_order_id = 0
        self._clock_offset = 0.0
        self._connectivity_lost_at = float("-inf")
        self._acks = AckWatch(config.ack_timeout)
        self._next_watch = 0.0
        self._beat_state, self._next_beat = "", 0.0
        self._waiter: asyncio.Future | None = None
        self._woken = False
        self._owns_client_id = False
        self._freeze_heap = freeze_heap
        self._gc_paused = False
        self._hook_client()

    # -- registration --------------------------------------------------------------------------
    def add_feed(self, feed: Feed) -> None:
        """Register a feed: it is told about drops, reconnects and its requests' errors."""
        if not any(f is feed for f in self.feeds):  # identity: a bt feed's == builds a line operation
            self.feeds.append(feed)

    def remove_feed(self, feed: Feed) -> None:
        self.feeds = [f for f in self.feeds if f is not feed]

    def attach_broker(self, broker: Broker) -> None:
        """Register the one broker: it checks the account and reconciles on every (re)connect."""
        if self.broker is not None and self.broker is not broker:
            raise ValueError("this IBStore already has a broker: one IBBroker per store")
        self.broker = broker

    @property
    def journal(self) -> Any:
        """The broker's order journal (None without a broker or before it opened one)."""
        return getattr(self.broker, "journal", None) if self.broker is not None else None

    # -- connection ----------------------------------------------------------------------------
    def connect(self) -> None:
        """Connect (with backoff, ``connect_attempts`` tries) and run the (re)connect sequence.

        Raises:
            FatalConnectError: IB refused this client id (326) or the API version.
            ConnectionError: no connection after ``connect_attempts`` tries.
        """
        if self.ib.isConnected() or self._lost:
            return
        if self._freeze_heap:
            freeze_start_up_heap()
        key = (self.host, self.port, self.client_id)
        if key in _IN_USE and not self._owns_client_id:
            raise ValueError(f"client id {self.client_id} at {self.host}:{self.port} is already used by another "
                             "IBStore in this process: share one store between all feeds and the broker")
        if not self._connect_with_backoff(self.config.connect_attempts):
            raise ConnectionError(f"could not connect to IB at {self.host}:{self.port} (client id {self.client_id}) "
                                  f"after {self.config.connect_attempts} tries: is TWS / IB Gateway running with "
                                  "the API enabled on that port? Fix: --host / --port")
        _IN_USE.add(key)
        self._owns_client_id = True
        log.info("connected to %s:%s as client %s, accounts %s", self.host, self.port, self.client_id,
                 ", ".join(map(mask_account, self.accounts())) or "-")
        try:
            self._sync(first=True)
        except ConnectionError as exc:
            self._connection_lost(f"{exc} during the start-up reconciliation")

    def accounts(self) -> list[str]:
        """Managed account ids (never log them unmasked)."""
        return list(self.ib.managedAccounts())

    def pump(self, timeout: float = 0.0) -> None:
        """Run the IB event loop until a feed queues a bar, the broker a notification, or
        ``timeout`` seconds pass (0: one pass); reconnect first when the connection is lost.
        When a wait ends because a bar (or notification) came, the cyclic garbage collector is
        off until the next pump, which runs the collection put off (so none lands between a bar
        and its order). The order watchdog, the heartbeat and the journal's checkpoint run at the
        start of a pump that is going to wait (the last bar was handled, no feed has one queued);
        a pump with a bar queued elsewhere (``timeout`` 0) puts them off, at most
        ``_WATCHDOG_DEFER`` s.

        Raises:
            OutageExceeded: disconnected for longer than ``max_outage``.
            FatalConnectError: IB refused the client on a reconnect.
        """
        self._resume_gc()
        if self.closed:
            return
        if not self._lost and not self.ib.isConnected():
            self._connection_lost("socket closed")
        if self._lost:
            self._reconnect()
            return
        self._watch_orders(0.0 if timeout > 0 else _WATCHDOG_DEFER)  # idle now: see above
        self._woken = False
        try:
            if timeout > 0:
                self._wait_for_wake(timeout)
            else:
                self.ib.sleep(0)
        except ConnectionError:  # the client raises it from inside sleep when the socket drops
            self._connection_lost("socket closed while waiting")
            return
        if self._woken and timeout > 0 and gc.isenabled():
            gc.disable()  # no collection between this bar and its order: the next pump runs it
            self._gc_paused = True

    def _resume_gc(self) -> None:
        """Turn the collector back on after a bar's run, and run the collection it put off."""
        if not self._gc_paused:
            return
        self._gc_paused = False
        gc.enable()
        (young, middle, _), (every, middle_every, _) = gc.get_count(), gc.get_threshold()
        if every and young > every:
            gc.collect(1 if middle >= middle_every else 0)

    def wake(self) -> None:
        """End the current :meth:`pump` early: a feed queued a bar or the broker a notification."""
        self._woken = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wait_for_wake(self, timeout: float) -> None:
        # A future made before the loop runs cannot miss a wake-up that arrives in the same loop
        # pass (ib.waitOnUpdate can: it subscribes one step after data already pending is read).
        # A plain future and a timer, no task: a Ctrl-C inside leaves nothing to complain later.
        loop = self.lib.util.getLoop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, lambda: waiter.done() or waiter.set_result(None))
        try:
            self.lib.util.run(waiter)
        finally:
            timer.cancel()
            self._waiter = None

    def request(self, what: str, factory: Callable[[], Awaitable[T]]) -> T:
        """Run one request (``factory()`` makes its coroutine) with the request watchdog.

        An answer missing after ``timeout`` s is logged at WARNING and the request sent again,
        up to ``request_retries`` times; then the connection counts as broken.

        Raises:
            ConnectionError: unanswered after every try, or the socket dropped meanwhile.
        """
        tries = self.config.request_retries + 1
        for attempt in range(1, tries + 1):
            if not self.ib.isConnected():
                raise ConnectionError(f"{what}: not connected")
            task = asyncio.ensure_future(asyncio.wait_for(factory(), self.config.timeout),
                                         loop=self.lib.util.getLoop())
            try:
                return self.lib.util.run(task)
            except BaseException as exc:
                task.cancel()  # a Ctrl-C here must not leave a task to report a timeout later
                if not isinstance(exc, asyncio.TimeoutError):
                    raise
                log.warning("%s unanswered after %.0f s (try %d of %d)%s", what, self.config.timeout,
                            attempt, tries, ": sending it again" if attempt < tries else "")
        raise ConnectionError(f"{what} unanswered after {tries} tries")

    def now(self) -> float:
        """IB's clock (UTC epoch seconds), from the offset read at the last (re)connect."""
        return time.time() + self._clock_offset

    def stop(self) -> None:
        """Disconnect for good (also after the store gave up by itself); feeds then end."""
        self._resume_gc()
        self.closed = True
        if self._owns_client_id:
            _IN_USE.discard((self.host, self.port, self.client_id))
            self._owns_client_id = False
        if self.ib.isConnected():
            self.ib.disconnect()
            log.info("disconnected from %s:%s", self.host, self.port)
        self._settle_tasks()

    def _settle_tasks(self) -> None:
        """End the client's requests still pending on this thread's loop (a Ctrl-C or SIGTERM
        inside a blocking request leaves one): cancelled and collected here, none can report a
        'Task exception was never retrieved' traceback later."""
        loop = self.lib.util.getLoop()
        if loop.is_running() or loop.is_closed():
            return
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

    @property
    def connected(self) -> bool:
        return not self._lost and not self.closed and self.ib.isConnected()

    def _connect_with_backoff(self, attempts: int | None) -> bool:
        """Try to connect ``attempts`` times (None: until ``max_outage``); False when out of tries."""
        delay, attempt = self.config.backoff, 0
        while attempts is None or attempt < attempts:
            attempt += 1
            self._fatal = None
            try:
                self._connect_once()
                self._raise_order_ids()
                return True
            except (OSError, TimeoutError, ConnectionError, asyncio.TimeoutError, asyncio.CancelledError) as exc:
                reason = type(exc).__name__
            self.ib.disconnect()
            self._raise_if_fatal()
            if attempts is not None and attempt >= attempts:
                break
            self._raise_if_outage_exceeded()
            self._heartbeat("RECONNECTING")
            log.warning("connect attempt %d to %s:%s failed (%s); retrying in %.1f s",
                        attempt, self.host, self.port, reason, delay)
            time.sleep(delay)  # nothing to pump while disconnected
            delay = min(delay * 2.0, self.config.backoff_max)
        return False

    def _connect_once(self) -> None:
        """One connect; a fatal error (326) arriving meanwhile cancels it at once (the client
        itself would wait for its whole timeout)."""
        loop = self.lib.util.getLoop()
        self._connecting = asyncio.ensure_future(
            self.ib.connectAsync(self.host, self.port, clientId=self.client_id, timeout=self.config.timeout), loop=loop)
        try:
            self.lib.util.run(self._connecting)
        finally:
            self._connecting = None

    def _raise_if_fatal(self) -> None:
        if self._fatal is not None:
            code, message = self._fatal
            self.closed = True
            hint = (f"another program (or a running btedge-live) uses client id {self.client_id}. "
                    "Fix: --client-id N with an unused N, or stop the other program") if code == 326 else message
            raise FatalConnectError(f"IB refused the connection (error {code}): {hint}")

    def _raise_if_outage_exceeded(self) -> None:
        limit = self.config.max_outage
        if limit is None or self._lost_since is None:
            return
        down = time.monotonic() - self._lost_since
        if down >= limit:
            self.closed = True
            raise OutageExceeded(f"no connection to IB at {self.host}:{self.port} for {down:.0f} s "
                                 f"(--max-outage {limit:g}): giving up")

    def _connection_lost(self, why: str) -> None:
        if self._lost or self.closed:
            return
        self._lost = True
        self._lost_since = time.monotonic()
        self.drops += 1
        self.wake()
        log.warning("IB connection lost (%s): will reconnect", why)
        self._heartbeat("RECONNECTING")
        for feed in self.feeds:
            feed.on_connection_lost()

    def _reconnect(self) -> None:
        """Reconnect until the whole (re)connect sequence succeeds; a drop inside it starts over."""
        while self._lost and not self.closed:
            self.ib.disconnect()
            self._raise_if_outage_exceeded()
            if not self._connect_with_backoff(None):
                return
            self._lost = False
            self.reconnects += 1
            log.info("reconnected (#%d) after %.1f s: reconciling before anything new is sent",
                     self.reconnects, time.monotonic() - (self._lost_since or time.monotonic()))
            try:
                self._sync(first=False)
            except ConnectionError as exc:
                log.warning("connection lost again during the reconnect sequence (%s): reconnecting", exc)
                self._lost = True
            except LiveTradingRefused as exc:  # the broker halted already: end the session, no traceback
                log.error("after reconnect #%d: %s; trading halted, the session ends", self.reconnects, exc)
                self.refusal = exc
                self.stop()
        if not self._lost:
            self._lost_since = None

    def _sync(self, first: bool) -> None:
        """The (re)connect sequence: clock, account check, reconciliation, then the feeds."""
        self.read_clock()
        if self.broker is not None:
            self.broker.check_account(self.accounts())
            self.broker.reconcile()
        if not self.ib.isConnected():
            raise ConnectionError("socket closed")
        if not first:
            for feed in self.feeds:
                feed.on_reconnected()
        self._heartbeat("CONNECTED")

    def read_clock(self) -> None:
        """Ask IB for its time (at every (re)connect and before a feed backfills a gap)."""
        server = self.request("reqCurrentTime", self.ib.reqCurrentTimeAsync)
        self._clock_offset = server.timestamp() - time.time()

    def _subscribers(self) -> list[Any]:
        return ([self.broker] if self.broker is not None else []) + list(self.feeds)

    # -- watchdogs -------------------------------------------------------------------------------
    def _heartbeat(self, state: str) -> None:
        """Tell the journal this process is alive (on a change of state, else every 15 s)."""
        now = time.monotonic()
        journal = self.journal
        if journal is None or (state == self._beat_state and now < self._next_beat):
            return
        journal.heartbeat(state)
        self._beat_state, self._next_beat = state, now + HEARTBEAT_EVERY

    def _watch_orders(self, defer: float = 0.0) -> None:
        now = time.monotonic()
        if now < self._next_watch + defer:
            return
        self._heartbeat("LIVE")
        if self.journal is not None:
            self.journal.maintain()  # its disk syncs here, never on an order's commit
        self._next_watch = now + _WATCHDOG_EVERY
        overdue = self._acks.check(self.ib.openTrades())
        for trade in overdue:
            log.warning("order %d (%s) not acknowledged by IB after %.0f s: asking for its status",
                        trade.order.orderId, trade.order.orderRef, self._acks.timeout)
        if overdue:
            self.ib.client.reqOpenOrders()  # the answer updates the trades through the usual events

    @property
    def unacknowledged_warnings(self) -> int:
        """How many orders the acknowledgement watchdog reported."""
        return self._acks.overdue_count

    # -- order ids -------------------------------------------------------------------------------
    def next_order_id(self) -> int:
        """A fresh order id, strictly above every id this store has used."""
        self._raise_order_ids()
        order_id = self.ib.client.getReqId()
        self._max_order_id = max(self._max_order_id, order_id)
        return order_id

    def raise_order_ids(self, used: int) -> None:
        """Never hand out ``used`` or below again (the journal's highest id after a restart)."""
        self._max_order_id = max(self._max_order_id, used)
        self._raise_order_ids()

    def _raise_order_ids(self) -> None:
        self.ib.client.updateReqId(self._max_order_id + 1)

    # -- contracts -------------------------------------------------------------------------------
    def qualify(self, spec: str | Any) -> Any:
        """A qualified contract for a contract string (``'SPY'``, ``'ES:FUT:CME:202612'``) or Contract."""
        contract = make_contract(spec, self.lib) if isinstance(spec, str) else spec
        qualified = self.ib.qualifyContracts(contract)
        if not qualified or not getattr(qualified[0], "conId", 0):
            raise ValueError(f"IB has no unique contract for {spec!r}: check symbol, exchange, currency, expiry")
        return qualified[0]

    def contract_details(self, contract: Any) -> Any:
        """IB's details of a qualified contract (trading hours, time zone), None if unanswered."""
        try:
            details = self.request(f"reqContractDetails {contract.symbol}",
                                   lambda: self.ib.reqContractDetailsAsync(contract))
        except ConnectionError:
            return None
        return details[0] if details else None

    # -- client hooks ----------------------------------------------------------------------------
    def _hook_client(self) -> None:
        ib = self.ib
        ib.disconnectedEvent += self._on_disconnected
        ib.errorEvent += self._on_error
        # commissions: the broker sees every report (before the client library drops one whose
        # execution it has not seen yet) and the journal holds it until its execution is booked

    def _on_disconnected(self) -> None:
        if not self.closed:
            self._connection_lost("disconnected")

    def _on_error(self, req_id: int, code: int, message: str, *_: Any) -> None:
        if code in FATAL_CONNECT_CODES:
            self._fatal = (code, message)
            if self._connecting is not None:
                self._connecting.cancel()
        if code in CONNECTION_LOST_CODES:
            self._connection_lost(f"error {code}")
        elif code in CONNECTIVITY_LOST_CODES:
            self._connectivity_lost(code)
        elif code in DATA_LOST_CODES | DATA_KEPT_CODES:
            self._connectivity_restored(code, data_lost=code in DATA_LOST_CODES)
        for sub in self._subscribers():
            if sub.on_error(req_id, code, message):
                return

    def _connectivity_lost(self, code: int) -> None:
        if self._connectivity_lost_at > time.monotonic() - self.config.coalesce_seconds:
            log.info("IB connectivity event %d within %.0f s of the last: coalesced", code,
                     self.config.coalesce_seconds)
            return
        self._connectivity_lost_at = time.monotonic()
        log.warning("IB reports connectivity lost (%d); the socket is up: feeds wait for the restore", code)
        for feed in self.feeds:
            feed.on_connectivity_lost()

    def _connectivity_restored(self, code: int, data_lost: bool) -> None:
        log.info("IB connectivity restored (%d, data %s)", code, "lost" if data_lost else "kept")
        self._connectivity_lost_at = float("-inf")
        for feed in self.feeds:
            feed.on_data_restored(data_lost)
