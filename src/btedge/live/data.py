"""IBData: historical backfill, then live bars, from one IBStore; only completed bars.

Default source: ``reqHistoricalData(keepUpToDate=True, formatDate=2)`` (UTC epoch dates). IB
keeps revising the newest bar, so a bar is emitted only once a later bar has started
(``bars[-2]`` on ``hasNewBar``). With ``rtbar=True`` the feed backfills with plain historical
bars and then aggregates 5-second real-time bars into the feed's bar size, emitting a bar as soon
as its last 5-second bar arrives. Bars are keyed by start time: after a reconnect the backfill
overlaps what was already delivered, and every bar at or before the last delivered one is dropped,
so the strategy sees no duplicates and no gap.

After a reconnect the backfill asks only for the span since the last delivered bar (the one the
journal recorded), through the store's :class:`~btedge.live.pacing.HistoricalPacer`, so no
identical request goes out within IB's 15 s and bursts stay under its limits. Watchdogs
(:mod:`btedge.live.watchdog`): a live stream silent for ``stall_periods`` bar periods while the
market is open is resubscribed with a WARNING; a bar that reaches the strategy more than
``stale_periods`` bar periods late is delivered as DELAYED (the broker trades only on LIVE bars)
with a WARNING, and a strategy lagging the bar clock is logged with its lag.
"""
from __future__ import annotations

import collections
import datetime as dt
import logging
import math
import time
from typing import Any

import backtrader as bt

from btedge.live import parsing
from btedge.live.store import IBStore
from btedge.live.watchdog import StreamWatch, bar_age_periods, market_open

log = logging.getLogger(__name__)

_EPOCH_ORDINAL = 719163.0  # datetime(1970, 1, 1).toordinal(), as btedge.feeds.frame
_RT_SECONDS = 5
_SUBSCRIBE, _BACKFILL, _LIVE = range(3)
Bar = tuple[float, float, float, float, float, float]  # (epoch start, open, high, low, close, volume)


def epoch_seconds(when: Any) -> float:
    """IB bar time (aware or naive-UTC datetime, date, or epoch number) to UTC epoch seconds."""
    if isinstance(when, dt.datetime):
        return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)).timestamp()
    if isinstance(when, dt.date):
        return dt.datetime(when.year, when.month, when.day, tzinfo=dt.timezone.utc).timestamp()
    return float(when)


class IBData(bt.feed.DataBase):
    """
    Live bars from Interactive Brokers through an :class:`~btedge.live.store.IBStore`.

    ``dataname`` is a contract string (``'SPY'``, ``'ES:FUT:CME:202612'``, ``'EURUSD:CASH'``,
    ``'BTC:CRYPTO:PAXOS'``, see :func:`btedge.live.parsing.parse_contract`) or an IB Contract.
    Lines are UTC; set ``tz`` to display in another zone.

    Notifications (``notify_data``): ``CONNECTED`` once subscribed, ``DELAYED`` while
    backfilling, ``LIVE`` when the backfill is drained, ``CONNBROKEN`` when the connection
    drops (a reconnect resubscribes and backfills the gap: ``DELAYED`` then ``LIVE`` again),
    ``NOTSUBSCRIBED`` while a request is paced out or refused, ``DISCONNECTED`` when the store
    stops. ``CONNBROKEN`` also follows IB's own connectivity loss (1100/2110, socket up); 1102
    (data kept) returns to ``LIVE``, 1101 (data lost) resubscribes once. With ``rtbar=True`` and
    no real-time permission (420/354) the feed logs an ERROR and falls back to keepUpToDate bars.

    Params:
      - ``store`` (required): the shared :class:`IBStore`
      - ``backfill`` (default: ``3600``): seconds of history requested at start and at each
        resubscription
      - ``what`` (default: ``None``): IB ``whatToShow``; None picks TRADES, MIDPOINT (FX) or
        AGGTRADES (crypto)
      - ``use_rth`` (default: ``False``): regular trading hours only
      - ``rtbar`` (default: ``False``): build bars from 5-second real-time bars
      - ``qcheck`` (default: ``0.05``): seconds to pump the IB loop while waiting for a bar
      - ``pacing_wait`` (default: ``2.0``): first wait (doubling to 60 s) after a pacing error

    See: IB historical bars with keepUpToDate,
    https://interactivebrokers.github.io/tws-api/historical_bars.html
    """

    params = (
        ("store", None),
        ("backfill", 3600.0),
        ("what", None),
        ("use_rth", False),
        ("rtbar", False),
        ("qcheck", 0.05),
        ("pacing_wait", 2.0),
    )

    def __init__(self) -> None:
        if not isinstance(self.p.store, IBStore):
            raise ValueError(f"IBData needs store=IBStore(...), got {type(self.p.store).__name__}")
        if not self.p.backfill > 0:
            raise ValueError(f"backfill must be > 0 seconds, got {self.p.backfill!r}")
        if not self.p.qcheck >= 0:
            raise ValueError(f"qcheck must be >= 0 seconds, got {self.p.qcheck!r}")
        self._bar_seconds = parsing.bar_seconds(self.p.timeframe, self.p.compression)
        self._bar_size = parsing.bar_size(self.p.timeframe, self.p.compression)
        if self.p.rtbar and self._bar_seconds % _RT_SECONDS:
            raise ValueError(f"rtbar=True needs a bar size that is a multiple of 5 s, got {self._bar_size}")
        self.contract: Any = None
        self.stats = collections.Counter()
        config = self.p.store.config
        self._stale_periods, self._lag_periods = config.stale_periods, config.lag_periods
        self._coalesce = config.coalesce_seconds
        self._watch = StreamWatch(self._bar_seconds, config.stall_periods)
        self._details: Any = None

    # -- backtrader interface ------------------------------------------------------------
    def islive(self) -> bool:
        return True

    def haslivedata(self) -> bool:
        return bool(self._queue)

    def has_work(self) -> bool:
        """A bar is queued, a (re)subscription is due or LIVE is to be announced: the shared pump
        must not wait."""
        if self._queue or (self._state == _BACKFILL and self._backfill_left <= 0):
            return True
        return self._state == _SUBSCRIBE and time.monotonic() >= self._retry_at

    def start(self) -> None:
        super().start()
        self._laststatus = self.UNKNOWN
        self._queue: collections.deque[Bar] = collections.deque()
        self._state = _SUBSCRIBE
        self._last_time = float("-inf")
        self._stream: Any = None
        self._agg: list[float] | None = None
        self._req_errors: dict[int, int] = {}
        self._retry_at = 0.0
        self._pacing_delay = self.p.pacing_wait
        self._backfill_left = 0
        self._use_rt = self.p.rtbar
        self._subscribed_at: float | None = None
        self._lost_at: float | None = None
        self._newest_seen = float("-inf")
        self._lagging = False
        self._unrecorded: float | None = None
        self.p.store.add_feed(self)
        self.p.store.connect()  # no-op when the broker connected it already

    def stop(self) -> None:
        self._record_bar()
        self._unsubscribe()
        self.p.store.remove_feed(self)

    @property
    def symbol(self) -> str:
        """The name the journal knows this feed by."""
        return self._name or str(self.p.dataname)

    def _load(self) -> bool | None:
        store: IBStore = self.p.store
        self._record_bar()  # the bar delivered last: journaled after the strategy acted on it
        if self._state == _SUBSCRIBE and store.connected and time.monotonic() >= self._retry_at:
            try:
                self._subscribe()
            except ConnectionError:
                log.warning("%s: connection lost while subscribing; will retry", self._name or self.p.dataname)
        if self._state == _BACKFILL and self._backfill_left <= 0:
            self._state = _LIVE
            self.put_notification(self.LIVE)
        if not self._queue:
            idle = not any(feed.has_work() for feed in store.feeds if feed is not self)
            store.pump(self.p.qcheck if idle else 0.0)
            self._check_stall()
        if not self._queue:
            if store.closed:
                self.put_notification(self.DISCONNECTED)
                return False
            return None
        self._backfill_left -= 1
        bar = self._queue.popleft()
        if self._state == _LIVE and self._backfill_left < 0:
            self._check_age(bar)
        self._fill_lines(bar)
        self._unrecorded = bar[0]
        return True

    def _record_bar(self) -> None:
        """Journal the last delivered bar; done on the next ``_load``, so the write (tens of
        microseconds) never sits between a bar and the order it triggers."""
        journal = self.p.store.journal
        if self._unrecorded is not None and journal is not None:
            journal.record_bar(self.symbol, dt.datetime.fromtimestamp(self._unrecorded, dt.timezone.utc))
        self._unrecorded = None

    # -- watchdogs ---------------------------------------------------------------------------
    def _check_age(self, bar: Bar) -> None:
        """A live bar late on the bar clock (IB's time, or bars queued behind it) is not traded."""
        behind = (self._newest_seen - bar[0]) / self._bar_seconds
        age = max(bar_age_periods(bar[0], self._bar_seconds, self.p.store.now()), behind)
        name = self.symbol
        if age > self._lag_periods:
            self.stats["lagging_bars"] += 1
            if not self._lagging:
                log.warning("%s: the strategy lags the bar clock: bar %s reaches it %.1f s after it ended "
                            "(%d more bar(s) queued)", name, _stamp(bar[0]), age * self._bar_seconds,
                            len(self._queue))
            self._lagging = True
        elif self._lagging:
            log.info("%s: the strategy caught up with the bar clock", name)
            self._lagging = False
        if age > self._stale_periods:
            self.stats["stale_bars"] += 1
            log.warning("%s: bar %s is %.1f bar periods old when it reaches the strategy: not traded "
                        "(delivered as DELAYED)", name, _stamp(bar[0]), age)
            if self._laststatus != self.DELAYED:
                self.put_notification(self.DELAYED)
        elif self._laststatus == self.DELAYED:  # a fresh bar after late ones: tradable again
            self.put_notification(self.LIVE)

    def _check_stall(self) -> None:
        silent = self._watch.stalled()
        if silent is None:
            return
        store: IBStore = self.p.store
        if not self._market_open():
            self._watch.arm()
            return
        self.stats["stalls"] += 1
        log.warning("%s: no update from the live stream for %.1f s (%.2f bar periods) while the market is "
                    "open: resubscribing", self.symbol, silent, silent / self._bar_seconds)
        self._unsubscribe()
        self._state = _SUBSCRIBE
        self._retry_at = 0.0
        if store.connected:
            self.put_notification(self.NOTSUBSCRIBED)

    def time_zone(self) -> str | None:
        """The exchange's time zone (IB's ``timeZoneId``); '' when IB gave none, None while
        the contract details are not known yet (not connected)."""
        details = self._contract_details()
        if details is None:
            return None
        return getattr(details, "timeZoneId", "") if details else ""

    def _contract_details(self) -> Any:
        if self._details is None and self.contract is not None and self.p.store.connected:
            self._details = self.p.store.contract_details(self.contract) or False
        return self._details

    def _market_open(self) -> bool:
        details = self._contract_details()
        if not details:
            return True
        hours = details.liquidHours or details.tradingHours
        return market_open(hours, details.timeZoneId, self.p.store.now())

    def _fill_lines(self, bar: Bar) -> None:
        when, o, h, low, c, v = bar
        self.lines.datetime[0] = _EPOCH_ORDINAL + when / 86_400.0
        self.lines.open[0], self.lines.high[0], self.lines.low[0] = o, h, low
        self.lines.close[0], self.lines.volume[0] = c, v
        self.lines.openinterest[0] = 0.0
        self.stats["delivered"] += 1

    # -- subscription ----------------------------------------------------------------------
    def _subscribe(self) -> None:
        store: IBStore = self.p.store
        if self.contract is None:
            self.contract = store.qualify(self.p.dataname)
        what = self.p.what or parsing.WHAT_TO_SHOW.get(self.contract.secType, "TRADES")
        span = self._backfill_span()
        key = (self.contract.conId, span, self._bar_size, what, self.p.use_rth, not self._use_rt)
        wait = store.pacer.wait(key, self.contract.conId)
        if wait > 0:
            self.stats["paced"] += 1
            log.info("%s: historical request held %.1f s by IB's pacing rules", self.symbol, wait)
            self._retry_at = time.monotonic() + wait
            return
        self.put_notification(self.CONNECTED)
        self.put_notification(self.DELAYED)
        store.pacer.sent(key, self.contract.conId)
        bars = store.ib.reqHistoricalData(
            self.contract, endDateTime="", durationStr=span, barSizeSetting=self._bar_size, whatToShow=what,
            useRTH=self.p.use_rth, formatDate=2, keepUpToDate=not self._use_rt, timeout=store.config.timeout)
        code = self._req_errors.pop(getattr(bars, "reqId", -1), None)
        if code is not None or not bars:
            self._paced(code)
            return
        self._pacing_delay = self.p.pacing_wait
        self._backfill(bars)
        self._backfill_left = len(self._queue)  # what is queued now is history: DELAYED until consumed
        if self._use_rt:
            self._stream = store.ib.reqRealTimeBars(self.contract, _RT_SECONDS, what, self.p.use_rth)
            self._stream.updateEvent += self._on_rtbar
        else:
            self._stream = bars
            bars.updateEvent += self._on_update
        self._state = _BACKFILL
        self._subscribed_at = time.monotonic()
        self._watch.arm()
        self.stats["subscriptions"] += 1

    def _backfill_span(self) -> str:
        """``backfill`` seconds at start; after a reconnect only the span since the last bar."""
        if self._last_time == float("-inf"):
            return parsing.duration(self.p.backfill)
        self.p.store.read_clock()
        since = self.p.store.now() - self._last_time + 2 * self._bar_seconds
        return parsing.duration(max(since, self._bar_seconds))

    def _backfill(self, bars: Any) -> None:
        before = self._last_time
        for bar in bars[:-1]:  # the newest bar may still be forming
            self._enqueue(self._tuple(bar))
        first_new = next((epoch_seconds(b.date) for b in bars if epoch_seconds(b.date) > before), None)
        if before > float("-inf") and first_new is not None and first_new > before + self._bar_seconds:
            log.warning("%s: backfill starts %.0f s after the last delivered bar: bars missing; raise backfill",
                        self._name or self.p.dataname, first_new - before - self._bar_seconds)

    def _paced(self, code: int | None) -> None:
        self.stats["pacing_retries"] += 1
        log.warning("%s: historical request %s; retrying in %.0f s", self.symbol,
                    f"failed (error {code})" if code is not None else "unanswered or empty", self._pacing_delay)
        self.put_notification(self.NOTSUBSCRIBED)
        self._retry_at = time.monotonic() + self._pacing_delay
        self._pacing_delay = min(self._pacing_delay * 2.0, 60.0)

    def _unsubscribe(self) -> None:
        stream, self._stream = self._stream, None
        self._watch.disarm()
        if stream is None:
            return
        rt = isinstance(stream, self.p.store.lib.RealTimeBarList)
        stream.updateEvent -= self._on_rtbar if rt else self._on_update
        if self.p.store.connected:
            cancel = self.p.store.ib.cancelRealTimeBars if rt else self.p.store.ib.cancelHistoricalData
            cancel(stream)

    # -- stream handlers (run inside the IB loop: queue only) ------------------------------
    def _on_update(self, bars: Any, has_new_bar: bool) -> None:
        self._watch.seen()
        if has_new_bar and len(bars) >= 2:
            self._enqueue(self._tuple(bars[-2]))
            if len(bars) > 64:
                del bars[:-2]  # keep memory flat over a long session

    def _on_rtbar(self, bars: Any, has_new_bar: bool) -> None:
        self._watch.seen()
        if not bars:
            return
        rt = bars[-1]
        if len(bars) > 64:
            del bars[:-2]
        start = epoch_seconds(rt.time)
        bucket = start - start % self._bar_seconds
        agg = self._agg
        if agg is not None and agg[0] != bucket:
            self._flush_agg()
            agg = None
        if agg is None:
            self._agg = [bucket, rt.open_, rt.high, rt.low, rt.close, rt.volume, start]
        else:
            agg[2], agg[3] = max(agg[2], rt.high), min(agg[3], rt.low)
            agg[4], agg[5] = rt.close, agg[5] + rt.volume
        if start + _RT_SECONDS >= bucket + self._bar_seconds:
            self._flush_agg()

    def _flush_agg(self) -> None:
        agg, self._agg = self._agg, None
        if agg is not None and agg[6] == agg[0]:  # only buckets seen from their first 5 s bar
            self._enqueue(tuple(agg[:6]))

    def _enqueue(self, bar: Bar) -> None:
        if bar[0] <= self._last_time:
            self.stats["duplicates_dropped"] += 1
            return
        if not all(math.isfinite(price) for price in bar[1:5]):
            self.stats["invalid_bars"] += 1
            log.warning("%s: bar %s from IB has a missing price (open %s, high %s, low %s, close %s): "
                        "refused, the strategy never sees it", self.symbol, _stamp(bar[0]), *bar[1:5])
            return
        self._last_time = self._newest_seen = bar[0]
        self._queue.append(bar)
        self.p.store.wake()

    @staticmethod
    def _tuple(bar: Any) -> Bar:
        return (epoch_seconds(bar.date), bar.open, bar.high, bar.low, bar.close, max(bar.volume, 0.0))

    # -- store events ----------------------------------------------------------------------
    def on_connection_lost(self) -> None:
        self._lost_at = time.monotonic()
        self._stream = None  # dead with the socket
        self._watch.disarm()
        self._agg = None
        self._state = _SUBSCRIBE
        self.put_notification(self.CONNBROKEN)

    def on_reconnected(self) -> None:
        """Resubscribe on the next ``_load`` (never block inside the IB loop)."""
        if self._stream is not None:
            self._unsubscribe()
        self._state = _SUBSCRIBE

    def on_connectivity_lost(self) -> None:
        """IB lost its connectivity (1100/2110), the socket is up: keep the stream, trade nothing."""
        self._lost_at = time.monotonic()
        self._watch.disarm()
        if self._state != _SUBSCRIBE:
            self.put_notification(self.CONNBROKEN)

    def on_data_restored(self, data_lost: bool) -> None:
        """1102 (data kept): back to the state before; 1101 (data lost): resubscribe, unless the
        subscription was made after the loss (or, with no loss seen, within ``coalesce_seconds``)."""
        since = self._subscribed_at
        if since is None:
            fresh = False
        elif self._lost_at is not None:
            fresh = since > self._lost_at
        else:
            fresh = time.monotonic() - since < self._coalesce
        if data_lost and not fresh and self._state != _SUBSCRIBE:
            self.on_reconnected()
            return
        if self._stream is not None:
            self._watch.arm()
            if self._state == _LIVE:
                self.put_notification(self.LIVE)
            elif self._state == _BACKFILL:
                self.put_notification(self.DELAYED)

    def on_error(self, req_id: int, code: int, message: str) -> bool:
        stream_id = getattr(self._stream, "reqId", None)
        on_stream = stream_id is not None and req_id == stream_id
        if on_stream and self._use_rt and code in parsing.NO_PERMISSION_CODES:
            log.error("%s: IB refused real-time bars (error %d: %s): falling back to keepUpToDate "
                      "historical bars (no LIVE without bars)", self.symbol, code, message)
            self._use_rt = False
            self._stream = None
            self._watch.disarm()
            self._state = _SUBSCRIBE
            self.put_notification(self.NOTSUBSCRIBED)
            return True
        if code not in parsing.PACING_CODES:
            return False
        if on_stream:
            log.warning("%s: live stream error %d (%s): resubscribing", self.symbol, code, message)
            self._stream = None
            self._watch.disarm()
            self._state = _SUBSCRIBE
            self._retry_at = time.monotonic() + self._pacing_delay
            return True
        self._req_errors[req_id] = code
        return False


def _stamp(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
