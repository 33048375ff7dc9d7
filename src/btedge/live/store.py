"""IBStore: the one IB connection shared by every IBData feed and the IBBroker.

No threads and no singleton: the store owns one client ``IB`` object on the thread cerebro runs
in, and the feeds and broker pump its event loop with :meth:`IBStore.pump` while they wait. On a dropped socket or error 1100 the next pump reconnects with exponential backoff,
raises the order-id counter above every id already used (a gateway may roll ``nextValidId``
back), lets the broker reconcile open orders, completed orders, executions and positions, and
only then resubscribes every feed, which backfills the gap.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any, Protocol

from btedge.live import _ib
from btedge.live.parsing import CONNECTION_LOST_CODES, DATA_KEPT_CODES, DATA_LOST_CODES, make_contract
from btedge.live.risk import mask_account

log = logging.getLogger(__name__)

_EARLY_COMMISSIONS_KEPT = 500
#: (host, port, client id) of the stores connected in this process: one connection each
_IN_USE: set[tuple[str, int, int]] = set()


class Subscriber(Protocol):
    """What the store needs from a feed (``IBData``) or the broker (``IBBroker``)."""

    def on_connection_lost(self) -> None: ...
    def on_reconnected(self) -> None: ...
    def on_error(self, req_id: int, code: int, message: str) -> bool: ...


class IBStore:
    """One IB connection per process, pumped from backtrader's own loop.

    Args:
        host, port, client_id: where TWS / IB Gateway listens (7497 paper TWS, 4002 paper
            Gateway) and this program's client id.
        client: ``'ib_async'`` or ``'ib_insync'``; default: :func:`btedge.live._ib.client`.
        ib: an ``IB`` instance to use instead of a new one (tests inject one).
        timeout: seconds for connecting and for each startup request.
        connect_attempts: tries for the first connection before giving up.
        reconnect_attempts: tries per reconnect before giving up (-1: forever).
        backoff, backoff_max: first and largest wait between tries, in seconds (doubling).

    Events (methods called on registered subscribers): ``on_connection_lost()``,
    ``on_reconnected()`` (the broker first, then the feeds), ``on_error(req_id, code, msg)``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 7497, client_id: int = 1, *,
                 client: str | None = None, ib: Any = None, timeout: float = 10.0,
                 connect_attempts: int = 3, reconnect_attempts: int = 10, backoff: float = 1.0, backoff_max: float = 30.0) -> None:
        if not 0 < port < 65536:
            raise ValueError(f"port must be in 1..65535, got {port}")
        if not backoff > 0 or backoff_max < backoff:
            raise ValueError(f"need 0 < backoff <= backoff_max, got backoff={backoff}, backoff_max={backoff_max}")
        self.host, self.port, self.client_id = host, port, client_id
        self.timeout, self.connect_attempts, self.reconnect_attempts = timeout, connect_attempts, reconnect_attempts
        self.backoff, self.backoff_max = backoff, backoff_max
        self.lib = _ib.client(client)
        self.ib = ib if ib is not None else self.lib.IB()
        self.broker: Subscriber | None = None
        self.feeds: list[Subscriber] = []
        self.closed = False
        self.reconnects = 0
        self._lost = False
        self._max_order_id = 0
        # commission reports that came before their execution; IB also sends reports for other
        # clients' executions, which never get one, so only the newest few hundred are kept
        self._early_commissions: collections.OrderedDict[str, Any] = collections.OrderedDict()
        self._waiter: asyncio.Future | None = None
        self._owns_client_id = False
        self._hook_client()

    # -- connection ----------------------------------------------------------------------
    def connect(self) -> None:
        """Connect (with the reconnect backoff) and run the client's startup sync."""
        if self.ib.isConnected():
            return
        key = (self.host, self.port, self.client_id)
        if key in _IN_USE and not self._owns_client_id:
            raise ValueError(f"client id {self.client_id} at {self.host}:{self.port} is already used by another "
                             "IBStore in this process: share one store between all feeds and the broker")
        if not self._connect_with_backoff(self.connect_attempts):
            raise ConnectionError(f"could not connect to IB at {self.host}:{self.port} (client id {self.client_id})")
        _IN_USE.add(key)
        self._owns_client_id = True
        log.info("connected to %s:%s as client %s, accounts %s", self.host, self.port, self.client_id,
                 ", ".join(map(mask_account, self.accounts())) or "-")

    def accounts(self) -> list[str]:
        """Managed account ids (never log them unmasked)."""
        return list(self.ib.managedAccounts())

    def pump(self, timeout: float = 0.0) -> None:
        """Run the IB event loop until a feed queues a bar, the broker a notification, or
        ``timeout`` seconds pass (0: one pass); reconnect first when the connection is lost."""
        if self.closed:
            return
        if not self._lost and not self.ib.isConnected():
            self._connection_lost("socket closed")
        if self._lost:
            self._reconnect()
            return
        try:
            if timeout > 0:
                self._wait_for_wake(timeout)
            else:
                self.ib.sleep(0)
        except ConnectionError:  # the client raises it from inside sleep when the socket drops
            self._connection_lost("socket closed while waiting")

    def wake(self) -> None:
        """End the current :meth:`pump` early: a feed queued a bar or the broker a notification."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wait_for_wake(self, timeout: float) -> None:
        # A future made before the loop runs cannot miss a wake-up that arrives in the same loop
        # pass (ib.waitOnUpdate can: it subscribes one step after data already pending is read).
        self._waiter = self.lib.util.getLoop().create_future()
        try:
            self.lib.util.run(asyncio.wait_for(self._waiter, timeout))
        except asyncio.TimeoutError:
            pass
        finally:
            self._waiter = None

    def stop(self) -> None:
        """Disconnect for good; feeds then end."""
        if not self.closed:
            self.closed = True
            if self._owns_client_id:
                _IN_USE.discard((self.host, self.port, self.client_id))
                self._owns_client_id = False
            self.ib.disconnect()
            log.info("disconnected from %s:%s", self.host, self.port)

    @property
    def connected(self) -> bool:
        return not self._lost and not self.closed and self.ib.isConnected()

    def _connect_with_backoff(self, attempts: int) -> bool:
        delay, attempt = self.backoff, 0
        while attempts < 0 or attempt < attempts:
            attempt += 1
            try:
                self.ib.connect(self.host, self.port, clientId=self.client_id, timeout=self.timeout)
                self._raise_order_ids()
                return True
            except (OSError, TimeoutError, ConnectionError) as exc:
                log.warning("connect attempt %d to %s:%s failed (%s); retrying in %.1f s",
                            attempt, self.host, self.port, type(exc).__name__, delay)
            self.ib.disconnect()
            time.sleep(delay)  # nothing to pump while disconnected
            delay = min(delay * 2.0, self.backoff_max)
        return False

    def _connection_lost(self, why: str) -> None:
        if self._lost or self.closed:
            return
        self._lost = True
        self.wake()
        log.warning("IB connection lost (%s): will reconnect", why)
        for sub in self._subscribers():
            sub.on_connection_lost()

    def _reconnect(self) -> None:
        self.ib.disconnect()
        if not self._connect_with_backoff(self.reconnect_attempts):
            log.error("giving up on reconnecting to %s:%s", self.host, self.port)
            self.closed = True
            return
        self._lost = False
        self.reconnects += 1
        log.info("reconnected (#%d): reconciling before anything new is sent", self.reconnects)
        for sub in self._subscribers():  # broker first: reconcile, then feeds resubscribe
            sub.on_reconnected()

    def _subscribers(self) -> list[Subscriber]:
        return ([self.broker] if self.broker is not None else []) + list(self.feeds)

    # -- order ids -------------------------------------------------------------------------
    def next_order_id(self) -> int:
        """A fresh order id, strictly above every id this store has used."""
        self._raise_order_ids()
        order_id = self.ib.client.getReqId()
        self._max_order_id = max(self._max_order_id, order_id)
        return order_id

    def _raise_order_ids(self) -> None:
        self.ib.client.updateReqId(self._max_order_id + 1)

    # -- contracts -------------------------------------------------------------------------
    def qualify(self, spec: str | Any) -> Any:
        """A qualified contract for a contract string (``'SPY'``, ``'ES:FUT:CME:202612'``) or Contract."""
        contract = make_contract(spec, self.lib) if isinstance(spec, str) else spec
        qualified = self.ib.qualifyContracts(contract)
        if not qualified or not getattr(qualified[0], "conId", 0):
            raise ValueError(f"IB has no unique contract for {spec!r}: check symbol, exchange, currency, expiry")
        return qualified[0]

    # -- client hooks ----------------------------------------------------------------------
    def _hook_client(self) -> None:
        ib = self.ib
        ib.disconnectedEvent += self._on_disconnected
        ib.errorEvent += self._on_error
        ib.execDetailsEvent += self._replay_commission
        wrapper = ib.wrapper
        original = wrapper.commissionReport

        def commission_report(report: Any) -> None:
            if report.execId not in wrapper.fills:  # came before its execDetails: keep it
                self._early_commissions[report.execId] = report
                while len(self._early_commissions) > _EARLY_COMMISSIONS_KEPT:
                    self._early_commissions.popitem(last=False)
                log.debug("commission for %s before its execution: held", report.execId)
                return
            original(report)

        wrapper.commissionReport = commission_report
        self._original_commission = original

    def _replay_commission(self, trade: Any, fill: Any) -> None:
        report = self._early_commissions.pop(fill.execution.execId, None)
        if report is not None:
            self._original_commission(report)

    def _on_disconnected(self) -> None:
        if not self.closed:
            self._connection_lost("disconnected")

    def _on_error(self, req_id: int, code: int, message: str, *_: Any) -> None:
        if code in CONNECTION_LOST_CODES:
            self._connection_lost(f"error {code}")
        elif code in DATA_LOST_CODES | DATA_KEPT_CODES:
            log.info("IB connectivity restored (%d): resubscribing feeds", code)
            for feed in self.feeds:
                feed.on_reconnected()
        for sub in self._subscribers():
            if sub.on_error(req_id, code, message):
                return
