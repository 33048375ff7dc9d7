"""Watchdogs of a live session: pure decisions with injectable clocks, acted on by store and feeds.

- :class:`StreamWatch`: a live bar stream with no update for ``stall_periods`` bar periods while
  the market is open has stalled (the feed warns and resubscribes).
- :func:`bar_age_periods`: how late a bar reaches the strategy, in bar periods (the feed marks a
  bar older than ``stale_periods`` as not tradable and logs a strategy lagging the bar clock).
- :class:`AckWatch`: orders the client sent that IB has not acknowledged after ``ack_timeout``
  seconds (the store warns and asks IB for the open orders' status).
- :func:`market_open`: IB's ``liquidHours`` / ``tradingHours`` string, read for one instant.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)

#: client-side statuses of an order IB has not acknowledged yet
UNACKED = frozenset({"PendingSubmit", "ApiPending"})


def market_open(hours: str, time_zone: str, when: float) -> bool:
    """Is ``when`` (UTC epoch seconds) inside a session of IB's hours string?

    ``hours`` looks like ``'20250102:0930-20250102:1600;20250103:CLOSED'`` in ``time_zone``
    (IB's ``timeZoneId``). A day the string does not list, an empty string or an unknown zone
    counts as open: the watchdog then errs on the side of warning.
    """
    if not hours:
        return True
    try:
        zone = ZoneInfo(time_zone) if time_zone else dt.timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        return True
    local = dt.datetime.fromtimestamp(when, zone)
    day = local.strftime("%Y%m%d")
    listed = False
    for session in hours.split(";"):
        start, _, end = session.partition("-")
        if not start.startswith(day) and not end.startswith(day):
            continue
        listed = True
        if not end or start.endswith("CLOSED"):
            continue
        try:
            begin = dt.datetime.strptime(start, "%Y%m%d:%H%M").replace(tzinfo=zone)
            finish = dt.datetime.strptime(end, "%Y%m%d:%H%M").replace(tzinfo=zone)
        except ValueError:
            return True
        if begin <= local < finish:
            return True
    return not listed


def bar_age_periods(bar_start: float, bar_seconds: float, now: float) -> float:
    """How many bar periods after its end a bar starting at ``bar_start`` is seen at ``now``."""
    return (now - (bar_start + bar_seconds)) / bar_seconds


class StreamWatch:
    """Decides when a live stream has stalled: no update for ``periods`` bar periods.

    Args:
        bar_seconds: the stream's bar period.
        periods: bar periods of silence that count as a stall.
        clock: monotonic seconds (default :func:`time.monotonic`).
    """

    def __init__(self, bar_seconds: float, periods: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = bar_seconds * periods
        self.clock = clock
        self._last: float | None = None
        self.stalls = 0

    def arm(self) -> None:
        """Start watching (a fresh subscription counts as an update)."""
        self._last = self.clock()

    def disarm(self) -> None:
        """Stop watching (no subscription, or the connection is down)."""
        self._last = None

    def seen(self) -> None:
        """Any update of the stream (a new bar or a revision of the forming one)."""
        if self._last is not None:
            self._last = self.clock()

    def stalled(self) -> float | None:
        """Seconds of silence when they reach the limit (then disarmed), else None."""
        if self._last is None:
            return None
        silent = self.clock() - self._last
        if silent < self.limit:
            return None
        self._last = None
        self.stalls += 1
        return silent


class AckWatch:
    """Orders sent but not acknowledged by IB within ``timeout`` seconds, each reported once.

    ``check(trades)`` takes the client's trades (``ib.openTrades()``) and returns those newly
    overdue: still ``PendingSubmit``/``ApiPending`` ``timeout`` s after they were first seen so.
    """

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.clock = clock
        self._since: dict[int, float] = {}
        self._reported: set[int] = set()
        self.overdue_count = 0

    def check(self, trades: list[Any]) -> list[Any]:
        now = self.clock()
        pending = {t.order.orderId: t for t in trades if t.orderStatus.status in UNACKED}
        for order_id in list(self._since):
            if order_id not in pending:
                del self._since[order_id]
                self._reported.discard(order_id)
        overdue = []
        for order_id, trade in pending.items():
            since = self._since.setdefault(order_id, now)
            if now - since >= self.timeout and order_id not in self._reported:
                self._reported.add(order_id)
                overdue.append(trade)
        self.overdue_count += len(overdue)
        return overdue
